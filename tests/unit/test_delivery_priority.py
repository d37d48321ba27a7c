"""The outbox goes urgent first: a police message overtakes a prevention notice queued before
it, first in first out within a priority, and within one chat a follow-up never overtakes its
original. On SQLite and on PostgreSQL (skipped, with the reason, when unreachable)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.delivery import DeliveryWorker
from bot.services import alerts
from config.settings import DeliverySettings
from storage.alerts import NOTICE, URGENT
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
