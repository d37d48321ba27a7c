"""What the bot lacks per group, stored on SQLite and PostgreSQL: added, dropped, replaced,
and never lost when two writers record at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from storage.db import Database, open_database

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = await open_database(db_url)
    async with database.unit_of_work() as uow:
        zone = await uow.directory.add_zone(
            NOW,
            "Beringen",
            urgent_number="101",
            emergency_number="112",
            non_urgent_number=None,
            language="nl",
            reminder_days=7,
        )
        b = await uow.directory.add_bin(NOW, zone.id, "Noord", "noord")
        for chat in ("a", "b"):
            await uow.groups.link_group("telegram", chat, b.id, chat, None, NOW)  # type: ignore[arg-type]
        await uow.commit()
    yield database
    await database.dispose()


async def missing(db: Database, group_id: int) -> tuple[str, ...]:
    async with db.unit_of_work() as uow:
        return await uow.rights.missing(group_id)


async def test_rights_are_added_dropped_and_replaced(db: Database) -> None:
    async with db.unit_of_work() as uow:
        assert await uow.rights.lost(1, ["pin"], NOW) == ("pin",)
        assert await uow.rights.lost(1, ["invite", "pin"], NOW) == ("invite", "pin")
        assert await uow.rights.lost(1, ["pin"], NOW) is None  # nothing new
        assert await uow.rights.regained(1, ["send"]) is None  # was not missing
        assert await uow.rights.regained(1, ["pin"]) == ("invite",)
        assert await uow.rights.found(1, ["restrict"], NOW) == ("restrict",)
        assert await uow.rights.found(1, [], NOW) == ()
        await uow.commit()
    assert await missing(db, 1) == ()


async def test_only_known_problems_unchecked_for_an_hour_are_due(db: Database) -> None:
    async with db.unit_of_work() as uow:
        await uow.rights.lost(1, ["pin"], NOW)
        await uow.commit()
    async with db.unit_of_work() as uow:
        assert await uow.rights.due(["telegram"], NOW - timedelta(hours=1), 10) == []
        [due] = await uow.rights.due(["telegram"], NOW + timedelta(minutes=1), 10)
        assert due.id == 1  # group 2 lacks nothing: never asked about
        assert await uow.rights.due(["matrix"], NOW + timedelta(minutes=1), 10) == []
        assert [g.id for g in await uow.rights.lacking([due.bin_id])] == [1]


async def test_two_writers_at_once_lose_neither_right(db: Database) -> None:
    async def lose(right: str) -> None:
        async with db.unit_of_work() as uow:
            await uow.rights.lost(2, [right], NOW)
            await uow.commit()

    await asyncio.gather(lose("pin"), lose("invite"))
    assert await missing(db, 2) == ("invite", "pin")
