"""The outbox worker: every group gets an official message exactly once, whatever fails."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bot.delivery import DeliveryWorker, sweep
from bot.dispatch import Core
from bot.model import Capabilities, ChatRef, MessageRef, Outgoing, Platform
from bot.ports import BotRemoved, ChatMoved, PermanentError, RetryLater, TransientError
from bot.ratelimit import RateLimiter
from bot.services import alerts
from config.settings import DeliverySettings
from storage.tables import Delivery, Group
from tests.fakes import Harness, RecordingPlatform
from tests.unit.test_alerts_world import (
    World,
    add_bins,
    compose,
    deliveries,
    make_world,
    official,
    posted,
)

MATRIX = Capabilities(max_text_length=20000, buttons=False, reactions=True)


def once_each(h: Harness, chats: list[str]) -> bool:
    """Every chat shows exactly one official message."""
    return all(len(posted(h, c, "OFFICIAL")) == 1 for c in chats)


async def queue(h: Harness, bins: list[int], *, author: str = "jan", role: str = "police") -> str:
    """Store an official message straight into the outbox (no wizard), as `author`."""
    async with h.core.uow() as uow:
        ident = await uow.people.identity(h.platform.platform.value, author)
        assert ident is not None
        zone = (await uow.directory.zones())[0]
        ref = await alerts.new_ref(uow.alerts, h.core.rng)
        draft = alerts.Draft(
            zone.id,
            role,
            bins,
            "burglary",
            "Burglary in the Kerkstraat.",
            ref,
            ident.person_id,
            h.platform.platform.value,
            author,
            "en",
        )
        await alerts.store(uow, draft, h.clock.now(), h.core.rng)
        await uow.commit()
    return ref


async def test_a_failing_chat_is_retried_and_never_stalls_the_others(h: Harness) -> None:
    await make_world(h)
    await official(h, "jan")
    h.platform.fail(
        "noord-1", RetryLater(1), TransientError("http_502"), TransientError("timeout")
    )
    await compose(h, "jan", targets=("Noord", "Zuid"))
    assert posted(h, "noord-1") == []
    assert once_each(h, ["noord-2", "zuid-1"])  # the others went out at once
    receipt = h.platform.in_chat("jan")[-1]
    assert "Delivered: 2 of 3 groups (Telegram 2)" in receipt.text and "Pending: 1" in receipt.text

    for seconds in (1.5, 2, 4):  # 429, then two 5xx/timeouts with back-off
        h.clock.advance(seconds=seconds)
        await h.core.idle()
    assert once_each(h, ["noord-1", "noord-2", "zuid-1"])
    assert "Delivered: 3 of 3 groups (Telegram 3)" in receipt.text  # the receipt, edited
    assert "Pending: 0" in receipt.text


async def test_permanent_failures_are_recorded_with_their_reason(h: Harness) -> None:
    world = await make_world(h)
    await official(h, "jan")
    h.platform.fail("zuid-1", BotRemoved("forbidden"))
    h.platform.fail("noord-2", PermanentError("chat_not_found"))
    await compose(h, "jan", targets=("Noord", "Zuid"))
    receipt = h.last("jan")
    assert "Delivered: 1 of 3 groups (Telegram 1)" in receipt
    assert "Failed: 2 (bot removed from the group: 1, the group no longer exists: 1)" in receipt
    async with h.core.db.session() as session:
        zuid = await session.get(Group, world.groups["zuid-1"])
        assert zuid is not None and not zuid.active and zuid.inactive_reason == "bot_removed"
    await h.say("jan", "/alert")
    await h.press("jan", "Zuid")
    await h.press("jan", "Done")
    assert "None of these BINs has a linked group yet" in h.last("jan")


async def test_a_migrated_group_is_followed_to_its_new_id(h: Harness) -> None:
    world = await make_world(h)
    await official(h, "jan")
    h.platform.fail("noord-1", ChatMoved("-100123"))
    ref = await compose(h, "jan")
    assert posted(h, "noord-1") == [] and len(posted(h, "-100123", "OFFICIAL")) == 1
    async with h.core.db.session() as session:
        moved = await session.get(Group, world.groups["noord-1"])
        assert moved is not None and moved.chat_id == "-100123"
    h.clock.advance(minutes=5)
    await h.say("jan", f"/update {ref} Found.")
    original, reply = h.platform.in_chat("-100123")
    assert reply.message.reply_to == original.ref.message_id


async def test_a_chat_that_keeps_failing_is_given_up_with_a_reason(tmp_path: Path) -> None:
    h = await Harness.create(tmp_path)
    try:
        await make_world(h, settings=DeliverySettings(max_attempts=2))
        await official(h, "jan")
        h.platform.fail("zuid-1", *[TransientError("http_503")] * 5)
        await compose(h, "jan", targets=("Zuid",))
        h.clock.advance(seconds=5)
        await h.core.idle()
        receipt = h.last("jan")
        assert "Failed: 1 (still failing after repeated attempts: 1)" in receipt
        failed = [d for d in await deliveries(h) if d.status == "failed"]
        assert [d.error for d in failed] == ["gave_up:http_503"]
    finally:
        await h.close()


async def test_a_worker_stopped_mid_fan_out_sends_the_rest_once(h: Harness) -> None:
    chats = [f"noord-{i}" for i in range(1, 7)]
    world = await make_world(h, groups={"noord": chats}, settings=DeliverySettings(concurrency=2))
    await official(h, "jan")
    h.core.idle_hooks.remove(world.worker.drain)  # drive the first worker by hand
    await compose(h, "jan")
    assert await world.worker.run_once() == 2  # ...and it stops after one batch
    assert sum(len(posted(h, c, "OFFICIAL")) for c in chats) == 2

    restarted = DeliveryWorker(h.core, DeliverySettings(concurrency=2))
    await restarted.drain()
    await restarted.drain()
    assert once_each(h, chats)
    assert {d.status for d in await deliveries(h)} == {"sent"}


class Crash(BaseException):
    """The process dies (think `kill -9`): nothing after this line runs."""


class CrashingPlatform(RecordingPlatform):
    """Accepts a message in `crash_in`, then the process dies before it hears back."""

    def __init__(self) -> None:
        super().__init__(Platform.MATRIX, Capabilities(max_text_length=20000))
        self.crash_in: set[str] = set()

    async def send(
        self, chat: ChatRef, message: Outgoing, *, txn_id: str | None = None
    ) -> MessageRef:
        ref = await super().send(chat, message, txn_id=txn_id)
        if chat.chat_id in self.crash_in:
            self.crash_in.discard(chat.chat_id)
            raise Crash()
        return ref


async def test_a_crash_after_the_platform_accepted_is_covered_by_the_txn_id(
    tmp_path: Path,
) -> None:
    platform = CrashingPlatform()
    h = await Harness.create(tmp_path, platform=platform)
    try:
        world = await make_world(h)
        await official(h, "jan")
        h.core.idle_hooks.remove(world.worker.drain)
        await compose(h, "jan", targets=("Noord", "Zuid"))
        platform.crash_in.add("noord-2")
        with pytest.raises(BaseExceptionGroup):
            await world.worker.run_once()
        assert [d.status for d in await deliveries(h)].count("sending") >= 1

        restarted = DeliveryWorker(h.core)
        await restarted.drain()  # within the lease the stuck row is left alone
        h.clock.advance(seconds=DeliverySettings().lease + 1)
        await restarted.drain()
        assert once_each(h, ["noord-1", "noord-2", "zuid-1"])
        assert {d.status for d in await deliveries(h)} == {"sent"}
        txn_ids = [s.txn_id for s in platform.sent if s.txn_id]
        assert len(txn_ids) == len(set(txn_ids)) == 3
    finally:
        await h.close()


async def test_quiet_hours_hold_non_urgent_notices_and_release_them_silently(
    h: Harness,
) -> None:
    await make_world(h)
    await official(h, "eva", role="prevention")
    await official(h, "jan")
    h.clock.set(datetime(2026, 1, 5, 22, 0, tzinfo=UTC))  # 23:00 in Brussels
    await h.say("eva", "/alert")
    await h.press("eva", "Zuid")
    await h.press("eva", "Done")
    await h.press("eva", "Prevention tip")
    await h.say("eva", "Close your windows at night: two break-ins through open windows.")
    assert "this notice waits until Tue 6 Jan 07:00 and then arrives without sound" in "\n".join(
        h.new("eva")
    )
    await h.press("eva", "Confirm")
    assert "⏸ Held until Tue 6 Jan 07:00 (quiet hours)" in h.last("eva")
    assert posted(h, "zuid-1") == []

    ref = await compose(h, "jan", targets=("Zuid",))  # urgent: at once, day or night, ringing
    urgent = h.platform.in_chat("zuid-1")
    assert len(urgent) == 1 and ref in urgent[0].text and urgent[0].message.silent is False

    h.clock.advance(hours=7, minutes=59)
    await h.core.idle()
    assert len(h.platform.in_chat("zuid-1")) == 1
    h.clock.advance(minutes=1)
    await h.core.idle()
    notice = h.platform.in_chat("zuid-1")[-1]
    assert "OFFICIAL BIN NOTICE" in notice.text and notice.message.silent is True
    assert "Delivered: 1 of 1" in h.platform.in_chat("eva")[-1].text


async def test_a_follow_up_waits_for_its_original_in_that_chat(h: Harness) -> None:
    await make_world(h)
    await official(h, "jan")
    h.platform.fail("noord-1", RetryLater(60))
    ref = await compose(h, "jan", targets=("Noord", "Zuid"))
    h.clock.advance(seconds=10)
    await h.say("jan", f"/update {ref} The van is gone.")
    assert posted(h, "noord-1") == [] and len(posted(h, "zuid-1")) == 2
    h.clock.advance(seconds=60)
    await h.core.idle()
    original, reply = h.platform.in_chat("noord-1")
    assert "OFFICIAL" in original.text and reply.message.reply_to == original.ref.message_id


async def test_telegram_limits_per_chat_and_overall(tmp_path: Path) -> None:
    h = await Harness.create(tmp_path)
    try:
        chats = [f"g{i}" for i in range(35)]
        world = await make_world(
            h, groups={"noord": chats, "zuid": ["zuid-1"]}, limiter=RateLimiter.telegram()
        )
        await official(h, "jan")
        await queue(h, [world.bins["noord"]])
        await h.core.idle()
        assert sum(len(posted(h, c)) for c in chats) == 30  # 30 a second, overall
        h.clock.advance(seconds=1)
        await h.core.idle()
        assert once_each(h, chats)

        await queue(h, [world.bins["zuid"]])
        await queue(h, [world.bins["zuid"]])
        await h.core.idle()
        assert len(posted(h, "zuid-1")) == 1  # one a second in a chat
        h.clock.advance(seconds=1)
        await h.core.idle()
        assert len(posted(h, "zuid-1")) == 2
    finally:
        await h.close()


async def test_telegram_limit_of_twenty_a_minute_in_a_group(h: Harness) -> None:
    world = await make_world(h, groups={"zuid": ["zuid-1"]}, limiter=RateLimiter.telegram())
    await official(h, "jan")
    for _ in range(21):
        await queue(h, [world.bins["zuid"]])
    for _ in range(25):
        h.clock.advance(seconds=1)
        await h.core.idle()
    assert len(posted(h, "zuid-1")) == 20
    h.clock.advance(seconds=40)
    await h.core.idle()
    assert len(posted(h, "zuid-1")) == 21


async def test_without_edit_the_receipt_comes_once_with_the_final_figures(
    tmp_path: Path,
) -> None:
    plain = RecordingPlatform(Platform.TELEGRAM, Capabilities(max_text_length=4096, edit=False))
    h = await Harness.create(tmp_path, platform=plain)
    try:
        await make_world(h)
        await official(h, "jan")
        plain.fail("zuid-1", TransientError("timeout"))
        await compose(h, "jan", targets=("Noord", "Zuid"))
        assert "Pending: 3" in h.last("jan")  # as posted; no live progress without edit
        h.clock.advance(seconds=5)
        await h.core.idle()
        await h.core.idle()
        finals = [t for t in h.new("jan") if "Receipt" in t]
        assert len(finals) == 1 and "Delivered: 3 of 3" in finals[0]
    finally:
        await h.close()


async def test_the_sweep_requeues_a_row_stuck_in_sending(h: Harness) -> None:
    world = await make_world(h)
    await official(h, "jan")
    h.core.idle_hooks.remove(world.worker.drain)
    await compose(h, "jan", targets=("Zuid",))
    async with h.core.db.session() as session:
        await session.execute(
            update(Delivery).values(
                status="sending", claimed_by="dead#1", claimed_at=h.clock.now()
            )
        )
    await sweep(h.core)
    await world.worker.drain()
    assert posted(h, "zuid-1") == []  # its lease has not run out: it may still be sending
    h.clock.advance(minutes=6)
    await sweep(h.core)
    await world.worker.drain()
    assert once_each(h, ["zuid-1"])


async def two_workers(h: Harness, world: World) -> tuple[DeliveryWorker, RecordingPlatform]:
    """A second process: its own core and platform connection, the same database."""
    other = RecordingPlatform(Platform.MATRIX, MATRIX)
    core = Core(h.db, {Platform.MATRIX: other}, clock=h.clock, rng=random.Random(8))
    return DeliveryWorker(core, DeliverySettings(concurrency=16), name="other"), other


async def test_two_workers_racing_over_200_rows_send_each_once(
    tmp_path: Path, db_url: str
) -> None:
    mine = RecordingPlatform(Platform.MATRIX, MATRIX)
    h = await Harness.create(tmp_path, url=db_url, platform=mine)
    try:
        world = await make_world(h, groups={}, settings=DeliverySettings(concurrency=16))
        chats = [f"room-{i}" for i in range(200)]
        await add_bins(world, "Beringen", {"big": chats})
        await official(h, "jan")
        await queue(h, [world.bins["big"]])
        worker, other = await two_workers(h, world)
        await asyncio.gather(world.worker.drain(), worker.drain())
        got = [s.chat.chat_id for s in mine.sent + other.sent if s.txn_id]
        assert sorted(got) == sorted(chats)  # each room once, across both workers
        assert mine.sent and other.sent  # and both did take a share
        async with h.core.db.session() as session:
            rows = (await session.execute(select(Delivery))).scalars().all()
        assert {r.status for r in rows} == {"sent"} and len(rows) == 200
    finally:
        await h.close()


def test_quiet_hours_span_midnight() -> None:
    from storage.tables import Zone

    zone = Zone(timezone="Europe/Brussels", quiet_start=22 * 60, quiet_end=7 * 60)
    at = datetime(2026, 7, 1, 5, 30, tzinfo=UTC)  # 07:30 summer time: not quiet any more
    assert alerts.release_at(zone, "non_urgent", at) == at
    night = datetime(2026, 7, 1, 0, 30, tzinfo=UTC)  # 02:30
    assert alerts.release_at(zone, "non_urgent", night) == datetime(2026, 7, 1, 5, 0, tzinfo=UTC)
    evening = datetime(2026, 7, 1, 20, 30, tzinfo=UTC)  # 22:30
    assert alerts.release_at(zone, "non_urgent", evening) == night + timedelta(
        hours=28, minutes=30
    )
    assert alerts.release_at(zone, "urgent", evening) == evening
