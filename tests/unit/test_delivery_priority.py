"""The outbox goes urgent first: a police message overtakes a prevention notice queued before
it, first in first out within a priority, and within one chat a follow-up never overtakes its
original; rows of a notice already in hand, waiting for the rate limit, give their slots to an
urgent message confirmed meanwhile. On SQLite and on PostgreSQL (skipped, with the reason, when
unreachable)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.delivery import DeliveryWorker
from bot.delivery_send import InFlight, Turns
from bot.model import Platform
from bot.ratelimit import RateLimiter
from bot.services import alerts
from config.settings import DeliverySettings
from storage.alerts import NOTICE, PENDING, SENT, URGENT
from storage.repo import DirectoryRepo
from storage.tables import Group
from tests.fakes import Harness
from tests.unit.test_alerts_world import deliveries

NOTICE_TEXT = "Prevention tip: lock the garden shed."
URGENT_TEXT = "Burglars seen in the Kerkstraat."


@pytest.fixture
async def hp(tmp_path: Path, db_url: str) -> AsyncIterator[Harness]:
    """The harness on SQLite and on PostgreSQL, with a zone without quiet hours, BINs Noord
    (groups n1..n4) and Zuid (z1, z2), and a police officer and a prevention worker."""
    harness = await Harness.create(tmp_path, url=db_url)
    await harness.admin(
        "zone add Beringen --language en --non-urgent '011 27 95 79' --quiet 00:00-00:00"
    )
    for code, chats in {"noord": ["n1", "n2", "n3", "n4"], "zuid": ["z1", "z2"]}.items():
        await harness.admin(f"bin add {code.capitalize()} --zone Beringen --code {code}")
        async with harness.db.session() as session:
            b = await DirectoryRepo(session).bin_by_code(code)
            assert b is not None
            for chat in chats:
                session.add(
                    Group(
                        bin_id=b.id,
                        platform="telegram",
                        chat_id=chat,
                        title=chat,
                        linked_at=harness.clock.now(),
                        active=True,
                    )
                )
    for name, role in (("jan", "police"), ("els", "prevention")):
        await harness.admin(f"invite {role} --zone Beringen")
        await harness.say(name, "/redeem " + harness.code)
    yield harness
    await harness.close()


async def queue(h: Harness, author: str, role: str, bin_code: str, text: str) -> int:
    """Store an official message to one BIN straight into the outbox; returns its id."""
    async with h.core.uow() as uow:
        ident = await uow.people.identity("telegram", author)
        b = await uow.directory.bin_by_code(bin_code)
        assert ident is not None and b is not None
        ar = uow.alerts
        draft = alerts.Draft(
            b.zone_id,
            role,
            [b.id],
            "burglary",
            text,
            await alerts.new_ref(ar, h.core.rng),
            ident.person_id,
            "telegram",
            author,
            "en",
        )
        alert, _ = await alerts.store(uow, draft, h.clock.now(), h.core.rng)
        await uow.commit()
        return int(alert.id)


async def update(h: Harness, alert_id: int, author: str, text: str) -> None:
    """Queue an update to an official message (a follow-up, replying in every group)."""
    async with h.core.uow() as uow:
        ident = await uow.people.identity("telegram", author)
        alert = await uow.alerts.alert(alert_id)
        assert ident is not None and alert is not None
        await alerts.follow_up(uow, alert, "update", text, ident.person_id, h.clock.now())
        await uow.commit()


def group_sends(h: Harness) -> list[tuple[str, str]]:
    """(chat, text) of every group message, in the order the platform took them."""
    return [
        (s.chat.chat_id, s.message.body.plain) for s in h.platform.sent if not s.chat.is_private
    ]


@pytest.mark.parametrize("batch", [1, 3, 16])
async def test_an_urgent_message_goes_before_a_notice_queued_earlier(
    hp: Harness, batch: int
) -> None:
    await queue(hp, "els", "prevention", "noord", NOTICE_TEXT)
    await queue(hp, "jan", "police", "zuid", URGENT_TEXT)
    rows = await deliveries(hp)
    assert [r.priority for r in rows] == [NOTICE] * 4 + [URGENT] * 2
    hp.platform.sent.clear()

    await DeliveryWorker(hp.core, DeliverySettings(concurrency=batch), parallel=False).drain()

    sent = group_sends(hp)
    assert [chat for chat, _ in sent] == ["z1", "z2", "n1", "n2", "n3", "n4"]
    assert all(URGENT_TEXT in text for _, text in sent[:2])
    assert all(NOTICE_TEXT in text for _, text in sent[2:])


@pytest.mark.parametrize("batch", [1, 16])
async def test_in_one_chat_urgent_may_overtake_a_notice_but_no_follow_up_its_original(
    hp: Harness, batch: int
) -> None:
    notice = await queue(hp, "els", "prevention", "noord", NOTICE_TEXT)
    urgent = await queue(hp, "jan", "police", "noord", URGENT_TEXT)
    await update(hp, notice, "els", "The shed tip applies to bicycles too.")
    await update(hp, urgent, "jan", "The burglars left towards the station.")
    hp.platform.sent.clear()

    await DeliveryWorker(hp.core, DeliverySettings(concurrency=batch)).drain()

    for chat in ("n1", "n2", "n3", "n4"):
        texts = [text for c, text in group_sends(hp) if c == chat]
        assert len(texts) == 4, texts
        assert URGENT_TEXT in texts[0]
        assert "towards the station" in texts[1]
        assert NOTICE_TEXT in texts[2]
        assert "bicycles too" in texts[3]
    assert {r.status for r in await deliveries(hp)} == {"sent"}


async def test_notice_rows_in_hand_give_their_slots_to_an_urgent_message(hp: Harness) -> None:
    """The regression this guards: a notice's rows claimed while the rate limit was full went
    out ahead of an urgent message confirmed a moment later, because the worker kept claiming
    notice rows beyond what the limit let out, and rows in hand took the slots as they freed
    whatever their priority."""
    tg = Platform.TELEGRAM
    limiter = RateLimiter.telegram(overall=8)
    t0 = hp.clock.now()
    # A fan-out has used the second's eight sends: two slots free at t0 + 0.1 s, six at 0.5 s.
    for i in range(8):
        assert limiter.wait(tg, f"x{i}", t0 - timedelta(seconds=0.9 if i < 2 else 0.5)) == 0
    worker = DeliveryWorker(hp.core, DeliverySettings(concurrency=16), limiter)
    await queue(hp, "els", "prevention", "noord", NOTICE_TEXT)
    notice, _ = await worker._claim(16)  # what the two slots freeing soon let out
    assert [i.row.priority for i in notice] == [NOTICE, NOTICE]
    worker._dispatch(notice)  # in hand, waiting for those slots
    more, _ = await worker._claim(16)
    assert more == []  # no more of the notice than the limit lets out
    hp.platform.sent.clear()

    await queue(hp, "jan", "police", "zuid", URGENT_TEXT)  # Confirm pressed
    urgent, _ = await worker._claim(16)  # for the slots the notice's rows hold
    assert [i.row.priority for i in urgent] == [URGENT, URGENT]
    worker._dispatch(urgent)
    hp.clock.advance(seconds=0.15)  # the two slots are free
    await asyncio.gather(*(i.done for i in notice + urgent))

    assert [chat for chat, _ in group_sends(hp)] == ["z1", "z2"]  # no notice send started
    status = {r.id: (r.status, r.attempts) for r in await deliveries(hp)}
    assert [status[i.row.id] for i in urgent] == [(SENT, 1)] * 2
    # The notice's rows went back to the outbox, their attempt not spent.
    assert [status[i.row.id] for i in notice] == [(PENDING, 0)] * 2


async def test_the_slots_go_most_urgent_first_unless_its_own_chat_must_wait() -> None:
    from datetime import UTC, datetime

    tg = Platform.TELEGRAM
    t0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    limiter = RateLimiter.telegram(overall=2)
    assert limiter.wait(tg, "x", t0 - timedelta(seconds=0.5)) == 0  # one slot left
    turns = Turns(limiter, tg)
    turns.enter((NOTICE, 1), "n1")
    turns.enter((URGENT, 2), "z1")
    # The urgent row is ahead: the notice waits until a second slot frees.
    assert turns.wait((NOTICE, 1), "n1", t0) == pytest.approx(0.5)
    # An urgent row whose own chat must wait (a 429) keeps no one waiting.
    limiter.block(tg, "z1", t0 + timedelta(seconds=5))
    assert turns.wait((NOTICE, 1), "n1", t0) == 0
    turns.leave((URGENT, 2))
    turns.leave((NOTICE, 1))


async def test_sends_under_way_are_let_go_most_urgent_first() -> None:
    flight = InFlight(per_second=30, most=1)
    order: list[str] = []
    await flight.acquire((NOTICE, 0))

    async def send(name: str, turn: tuple[int, int]) -> None:
        await flight.acquire(turn)
        order.append(name)
        flight.release(0.01)

    waiting = [
        asyncio.create_task(send("notice", (NOTICE, 1))),
        asyncio.create_task(send("urgent", (URGENT, 2))),
    ]
    await asyncio.sleep(0)
    flight.release(0.01)
    await asyncio.gather(*waiting)
    assert order == ["urgent", "notice"]


async def test_a_claim_takes_no_more_than_the_room_left_in_hand(hp: Harness) -> None:
    await queue(hp, "els", "prevention", "noord", NOTICE_TEXT)
    worker = DeliveryWorker(hp.core, DeliverySettings(concurrency=16))  # no rate limit
    items, asked = await worker._claim(3)  # 13 of the 16 places are taken
    assert (len(items), asked) == (3, 3)
