"""Asking to join again and again: a cooldown after a decline or a withdrawal, one open
request per person and BIN (also when two are made at the same moment), and coordinators
blocking someone from asking (lifted with /readmit), all audited."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.app import core_config
from bot.core_config import CoreConfig
from config.settings import Settings
from storage.db import Database
from storage.tables import JoinRequest, Membership
from tests.fakes import Harness
from tests.unit.test_groups_support import (
    audit,
    coordinator,
    member,
    ready,
    rows,
    zone_and_bin,
)


def requests_seen(h: Harness, name: str) -> int:
    return sum("Nieuwe aanvraag" in t for t in h.texts(name))


async def test_join_answer_leave_again_and_again_reaches_the_coordinators_once(
    h: Harness,
) -> None:
    await ready(h)
    await h.say("jan", "/join noord")
    await h.say("jan", "Kerkstraat")
    await h.say("jan", "/leave noord")
    assert "is ingetrokken" in h.last("jan")
    for _ in range(3):
        await h.say("jan", "/join noord")
        assert h.last("jan") == (
            "Je vorige aanvraag voor BIN Noord werd kort geleden geweigerd of ingetrokken. "
            "Je kunt opnieuw vragen vanaf 2026-01-12."
        )
    await h.ask_join("jan", "buurt")  # the platform's own request is turned down too
    assert ("decline", "buurt", "jan") in h.platform.actions
    assert "Je kunt opnieuw vragen vanaf 2026-01-12." in h.last("jan")
    assert requests_seen(h, "an") == 1
    refused = [e for e in await audit(h, "join.request") if e.outcome == "refused"]
    assert [(e.detail or {}).get("reason") for e in refused] == ["cooldown"] * 4
    assert len(await rows(h, JoinRequest)) == 1

    h.clock.advance(days=7)
    await h.say("jan", "/join noord")
    assert "Vraag 1/1" in h.last("jan")


async def test_a_declined_person_waits_the_cooldown(h: Harness) -> None:
    await ready(h)
    await h.say("jan", "/join noord")
    await h.say("jan", "Kerkstraat")
    await h.say("an", "/decline 1")
    await h.say("jan", "/join noord")
    assert "Je kunt opnieuw vragen vanaf 2026-01-12." in h.last("jan")
    h.clock.advance(days=6, hours=23)
    await h.say("jan", "/join noord")
    assert "Je kunt opnieuw vragen vanaf" in h.last("jan")
    h.clock.advance(hours=2)
    await h.say("jan", "/join noord")
    assert "Vraag 1/1" in h.last("jan")


async def test_cancelling_the_intake_bothered_nobody_and_starts_no_cooldown(h: Harness) -> None:
    await ready(h)
    await h.say("jan", "/join noord")
    await h.say("jan", "/cancel")
    await h.say("jan", "/join noord")
    assert "Vraag 1/1" in h.last("jan")
    assert requests_seen(h, "an") == 0


async def test_a_cooldown_of_zero_days_lets_people_ask_again_at_once(tmp_path: Path) -> None:
    h = await Harness.create(tmp_path, config=CoreConfig(join_cooldown_days=0))
    try:
        await ready(h)
        await h.say("jan", "/join noord")
        await h.say("jan", "Kerkstraat")
        await h.say("an", "/decline 1")
        await h.say("jan", "/join noord")
        assert "Vraag 1/1" in h.last("jan")
    finally:
        await h.close()


def test_the_cooldown_is_a_setting_the_core_gets() -> None:
    assert Settings().join_cooldown_days == 7
    assert core_config(Settings(join_cooldown_days=2.5)).join_cooldown_days == 2.5


async def racing_requests(db: Database, person_id: int, bin_id: int) -> list[int | None]:
    """Two units of work record a request for the same person and BIN at the same moment."""
    at = datetime(2026, 1, 5, 9, tzinfo=UTC)

    async def one() -> int | None:
        async with db.unit_of_work() as uow:
            req = await uow.groups.add_open_request(
                bin_id, person_id, None, "telegram", "pending", at, at + timedelta(days=7)
            )
            await asyncio.sleep(0.05)  # both inserts are in before either commits
            await uow.commit()
            return req.id if req is not None else None

    return list(await asyncio.gather(one(), one()))


async def test_one_open_request_per_person_and_bin_even_when_two_race(
    db_url: str, tmp_path: Path
) -> None:
    h = await Harness.create(tmp_path, url=db_url)
    try:
        await zone_and_bin(h)
        await h.say("jan", "/start")
        async with h.db.unit_of_work() as uow:
            ident = await uow.people.identity("telegram", "jan")
            assert ident is not None
            person_id = ident.person_id
        won = await racing_requests(h.db, person_id, 1)
        assert sum(w is not None for w in won) == 1  # the other found the first one there
        assert len(await rows(h, JoinRequest)) == 1
        # Once that one is closed, a new one may be recorded.
        async with h.db.unit_of_work() as uow:
            assert await uow.groups.close_request(
                next(w for w in won if w), "expired", h.clock.now()
            )
            await uow.commit()
        assert sum(x is not None for x in await racing_requests(h.db, person_id, 1)) == 1
    finally:
        await h.close()


async def test_a_coordinator_blocks_a_requester_until_readmitted(h: Harness) -> None:
    await ready(h)
    await coordinator(h, "bert")
    await h.ask_join("jan", "buurt")
    await h.say("jan", "Kerkstraat")
    h.new("jan")
    await h.say("an", "/block 1")
    assert h.last("an") == (
        "Jan kan niet meer vragen om lid te worden van BIN Noord. Heffen: /readmit 1."
    )
    assert "niet goedgekeurd" in h.last("jan")  # the open request is declined with it
    assert ("decline", "buurt", "jan") in h.platform.actions
    assert "An heeft Jan (aanvraag #1, BIN Noord) geblokkeerd" in h.last("bert")
    [req] = await rows(h, JoinRequest)
    assert req.status == "declined"
    [entry] = await audit(h, "join.block")
    assert entry.outcome == "ok" and entry.bin_id == 1

    await h.say("jan", "/join noord")
    assert "De coördinatoren van BIN Noord aanvaarden geen aanvraag van jou." in h.last("jan")
    await h.ask_join("jan", "buurt")
    assert h.platform.actions.count(("decline", "buurt", "jan")) == 2
    await h.say("an", "/members")
    assert "Geblokkeerd (1)" in h.last("an") and "#1 Jan, geblokkeerd op" in h.last("an")
    await h.say("an", "/block 1")
    assert "kan al niet vragen" in h.last("an")

    await h.say("an", "/readmit 1")
    assert "Jan mag opnieuw vragen om lid te worden van BIN Noord;" in h.last("an")
    assert "heeft opgeheven wat je verhinderde" in h.last("jan")
    assert await rows(h, Membership) == []  # never a member: nothing is left of the block
    assert [e.outcome for e in await audit(h, "member.readmit")] == ["ok"]
    h.clock.advance(days=8)  # past the cooldown of the decline that came with the block
    await h.say("jan", "/join noord")
    assert "Vraag 1/1" in h.last("jan")


async def test_block_is_refused_for_members_other_bins_and_bad_input(h: Harness) -> None:
    await ready(h)
    await member(h, "jan")
    await h.say("an", "/block 1")
    assert h.last("an") == "Jan is lid van BIN Noord: verwijder de persoon met /remove 1."
    await zone_and_bin(h, bin_name="Zuid", code="zuid", new_zone=False)
    await coordinator(h, "zoe", "zuid")
    await h.say("zoe", "/block 1")
    assert h.last("zoe") == "Ik ken geen openstaande aanvraag #1 waarover jij kunt beslissen."
    [refused] = await audit(h, "join.block")
    assert refused.outcome == "refused" and (refused.detail or {}).get("reason") == (
        "not_coordinator"
    )
    await h.say("jan", "/block 1")
    assert h.last("jan").startswith("/block is voorbehouden aan: ")
    for bad in ("", "jan"):
        await h.say("an", f"/block {bad}".strip())
        assert (
            h.last("an") == "Stuur /block gevolgd door het nummer van een aanvraag, bv. /block 12."
        )
    await h.say("an", "/block -1")  # a number, but none the bot ever gives
    assert h.last("an").startswith("-1 is geen nummer dat ik kan gebruiken")
    [m] = await rows(h, Membership)
    assert m.status == "active"


OLD_ROWS = (
    "INSERT INTO zones (id, name, urgent_number, emergency_number, language, timezone,"
    " quiet_start, quiet_end, reminder_days, created_at)"
    " VALUES (1, 'Z', '101', '112', 'nl', 'Europe/Brussels', 0, 0, 7, '2026-01-01 00:00:00')",
    "INSERT INTO bins (id, zone_id, name, code, created_at)"
    " VALUES (1, 1, 'Noord', 'noord', '2026-01-01 00:00:00')",
    "INSERT INTO persons (id, pseudonym, failed_redeems, created_at)"
    " VALUES (1, 'p-1', 0, '2026-01-01 00:00:00')",
    *(
        "INSERT INTO join_requests (id, bin_id, person_id, platform, status, created_at,"
        f" expires_at) VALUES ({i}, 1, 1, 'telegram', '{status}', '2026-01-01 00:00:00',"
        " '2026-01-08 00:00:00')"
        for i, status in ((1, "pending"), (2, "intake"), (3, "declined"), (4, "pending"))
    ),
)


async def test_the_migration_closes_duplicate_open_requests_but_the_newest(
    tmp_path: Path,
) -> None:
    """Open duplicates left from before 0006 are closed, so that its unique index is built."""
    from alembic import command
    from sqlalchemy import text

    from storage.db import alembic_config

    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda c: command.upgrade(alembic_config(c), "0005"))
        for sql in OLD_ROWS:
            await conn.execute(text(sql))
    await db.upgrade()
    async with db.session() as s:
        got = (await s.execute(text("SELECT id, status FROM join_requests ORDER BY id"))).all()
    await db.dispose()
    assert [tuple(r) for r in got] == [
        (1, "expired"),
        (2, "expired"),
        (3, "declined"),
        (4, "pending"),
    ]
