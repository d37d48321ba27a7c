"""The outbox worker in the background: rows in hand, one write per sent row, receipts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot import delivery
from bot.model import ChatRef, MessageRef, Outgoing
from config.settings import DeliverySettings
from storage import sent as sent_store
from storage.alerts import AlertRepo
from storage.sent import record_sent
from storage.tables import AuditEntry, Delivery
from tests.fakes import Harness, RecordingPlatform
from tests.unit.test_alerts_world import add_bins, compose, deliveries, make_world, official
from tests.unit.test_delivery import queue


class SlowPlatform(RecordingPlatform):
    """Takes `delay` seconds per group message; a chat in `held` waits for `release`."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__()
        self.delay = delay
        self.held: set[str] = set()
        self.release = asyncio.Event()
        self.entered = asyncio.Event()

    async def send(
        self, chat: ChatRef, message: Outgoing, *, txn_id: str | None = None
    ) -> MessageRef:
        if not chat.is_private:
            if chat.chat_id in self.held:
                self.held.discard(chat.chat_id)
                self.entered.set()
                await self.release.wait()
            if self.delay:
                await asyncio.sleep(self.delay)
        return await super().send(chat, message, txn_id=txn_id)


async def settled(h: Harness, within: float = 30) -> None:
    """Wait (in real time) until no delivery is pending or sending."""
    async with asyncio.timeout(within):
        while any(d.status in ("pending", "sending") for d in await deliveries(h)):  # noqa: ASYNC110 (the database is what is watched)
            await asyncio.sleep(0.01)


async def test_in_the_background_each_group_gets_it_once_and_the_receipt_ends_final(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "RECEIPT_EVERY", 0.05)
    platform = SlowPlatform(delay=0.01)
    h = await Harness.create(tmp_path, url=db_url, platform=platform)
    try:
        chats = [f"big-{i}" for i in range(60)]
        world = await make_world(h, groups={}, settings=DeliverySettings(concurrency=8))
        await add_bins(world, "Beringen", {"big": chats})
        await official(h, "jan")
        h.core.idle_hooks.remove(world.worker.drain)  # only the background loop sends
        refreshes: list[int] = []
        refresh = world.worker.refresh_receipt

        async def counted(alert_id: int) -> None:
            refreshes.append(alert_id)
            await refresh(alert_id)

        monkeypatch.setattr(world.worker, "refresh_receipt", counted)
        loop = asyncio.get_running_loop()
        began = loop.time()
        await world.worker.start()
        try:
            await compose(h, "jan", targets=("Big",))
            await settled(h)
        finally:
            await world.worker.stop()
        took = loop.time() - began
        got = sorted(s.chat.chat_id for s in platform.sent if s.txn_id)
        assert got == sorted(chats)
        assert {d.status for d in await deliveries(h)} == {"sent"}
        async with h.core.db.session() as session:
            audit = (
                await session.execute(
                    select(AuditEntry).where(AuditEntry.action == "delivery.sent")
                )
            ).scalars()
            assert sorted(a.detail["group"] for a in audit if a.detail) == sorted(
                world.groups[c] for c in chats
            )
        # Refreshed now and then while sending (at most every RECEIPT_EVERY, besides the one
        # as the receipt is posted), not once per row, and last with the final figures.
        assert 2 <= len(refreshes) <= took / 0.05 + 2 and len(refreshes) < 60, (took, refreshes)
        receipt = next(
            s
            for s in platform.sent
            if s.chat.chat_id == "jan" and "Receipt" in (s.message.body.plain)
        )
        final = (receipt.edits[-1] if receipt.edits else receipt.message).body.plain
        assert "Delivered: 60 of 60" in final and "Pending: 0" in final
    finally:
        await h.close()


async def second_behind_first(
    tmp_path: Path, meanwhile: Callable[[Harness, str], Awaitable[None]]
) -> tuple[list[str], str, str, Harness]:
    """Two messages to BIN Noord; noord-1's first is held at the platform while the worker
    claims on, including noord-1's second, which waits behind it. `meanwhile(h, second)`
    runs then, before the first is let go. Returns what noord-1 got, both refs and the
    harness (closed)."""
    platform = SlowPlatform()
    h = await Harness.create(tmp_path, platform=platform)
    try:
        world = await make_world(h, settings=DeliverySettings(concurrency=2))
        await official(h, "jan")
        h.core.idle_hooks.remove(world.worker.drain)
        platform.held.add("noord-1")
        first = await queue(h, [world.bins["noord"]])
        second = await queue(h, [world.bins["noord"]])
        await world.worker.start()
        try:
            await asyncio.wait_for(platform.entered.wait(), 10)
            async with asyncio.timeout(10):
                while [d.status for d in await deliveries(h)].count("sending") < 2:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            await meanwhile(h, second)
            platform.release.set()
            await settled(h)
        finally:
            await world.worker.stop()
        in_noord = [s.message.body.plain for s in platform.sent if s.chat.chat_id == "noord-1"]
        return in_noord, first, second, h
    finally:
        await h.close()


async def test_a_chat_keeps_its_order_when_its_next_row_is_claimed_while_one_is_sending(
    tmp_path: Path,
) -> None:
    async def nothing(h: Harness, ref: str) -> None:
        return None

    in_noord, first, second, _ = await second_behind_first(tmp_path, nothing)
    assert len(in_noord) == 2
    assert first in in_noord[0] and second in in_noord[1]


async def test_a_message_withdrawn_while_its_row_is_in_hand_is_not_sent(
    tmp_path: Path,
) -> None:
    states: list[str] = []

    async def withdraw(h: Harness, ref: str) -> None:
        await h.say("jan", f"/withdraw {ref}")
        async with h.core.db.session() as session:
            alert = await AlertRepo(session).alert_by_ref(ref)
            assert alert is not None
        states.extend(d.status for d in await deliveries(h) if d.alert_id == alert.id)

    in_noord, first, _, _ = await second_behind_first(tmp_path, withdraw)
    assert len(in_noord) == 1 and first in in_noord[0]
    assert "sending" in states  # it was in hand when withdrawn, and was not sent after


async def test_row_updates_use_at_most_the_configured_connections(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = await Harness.create(tmp_path, url=db_url, platform=SlowPlatform(delay=0.005))
    try:
        chats = [f"big-{i}" for i in range(20)]
        world = await make_world(
            h, groups={}, settings=DeliverySettings(concurrency=20, connections=2)
        )
        await add_bins(world, "Beringen", {"big": chats})
        await official(h, "jan")
        at_once, most = 0, 0
        real_record, real_execute = sent_store.record_sent, AsyncConnection.execute

        async def watched(*args: Any, **kwargs: Any) -> Any:
            nonlocal at_once, most
            at_once += 1
            most = max(most, at_once)
            try:
                await asyncio.sleep(0.005)
                if args and isinstance(args[0], AsyncConnection):
                    return await real_execute(*args, **kwargs)
                return await real_record(*args, **kwargs)
            finally:
                at_once -= 1

        if db_url.startswith("sqlite"):
            monkeypatch.setattr(sent_store, "record_sent", watched)
        else:  # the writers' statements, each on a connection of its own
            monkeypatch.setattr(AsyncConnection, "execute", watched)
        await queue(h, [world.bins["big"]])
        await h.core.idle()
        assert {d.status for d in await deliveries(h)} == {"sent"}
        assert most == 2
        if not db_url.startswith("sqlite"):
            assert not world.worker._rows._writer._writers  # connections back in the pool
    finally:
        await h.close()


async def test_record_sent_marks_the_claimed_row_and_audits_it(
    tmp_path: Path, db_url: str
) -> None:
    h = await Harness.create(tmp_path, url=db_url)
    try:
        world = await make_world(h)
        await official(h, "jan")
        h.core.idle_hooks.remove(world.worker.drain)
        await queue(h, [world.bins["noord"]])
        now = h.clock.now()
        async with h.core.db.session() as session:
            ar = AlertRepo(session)
            rows = await ar.claim(now, "me#1", 10, now - timedelta(minutes=5), ["telegram"])
            ctx = await ar.context(rows)
        assert [r.status for r in rows] == ["sending", "sending"]
        assert rows == sorted(rows, key=lambda r: r.id) and rows[0].attempts == 1
        assert set(ctx.alerts) == {rows[0].alert_id} and set(ctx.groups) == {
            world.groups["noord-1"],
            world.groups["noord-2"],
        }
        first, second = rows
        detail = {"delivery": first.id, "kind": "message"}
        ok = await record_sent(
            h.db, first.id, "me#1", "m1", "noord-1", now, zone_id=1, bin_id=2, detail=detail
        )
        lost = await record_sent(
            h.db, second.id, "other#1", "m2", "noord-2", now, zone_id=1, bin_id=2, detail={}
        )
        assert ok and not lost
        async with h.core.db.session() as session:
            by_id = {d.id: d for d in (await session.execute(select(Delivery))).scalars()}
            entries = list(
                (
                    await session.execute(
                        select(AuditEntry).where(AuditEntry.action == "delivery.sent")
                    )
                ).scalars()
            )
        assert by_id[first.id].status == "sent" and by_id[first.id].platform_message_id == "m1"
        assert by_id[second.id].status == "sending"  # not this token's claim
        assert [e.detail for e in entries] == [detail, None]
        assert entries[0].actor == "delivery" and entries[0].bin_id == 2
    finally:
        await h.close()
