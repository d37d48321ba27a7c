"""`Database.changes`: which committed changes of this process concern whom, so that what the
core keeps in memory (contexts, zones, BINs, groups) is known to be stale."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import update

from storage.db import Database, open_database
from storage.repo import AuditRepo, DirectoryRepo, PeopleRepo, StateRepo
from storage.tables import Bin, Identity, Membership, Person, Zone

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'changes.db'}")
    yield database
    await database.dispose()


async def person(db: Database, name: str) -> int:
    async with db.session() as s:
        p, _ = await PeopleRepo(s).ensure_identity("telegram", name, name, NOW)
        return p.id


async def test_a_persons_own_rows_concern_only_them(db: Database) -> None:
    jan, mia = await person(db, "jan"), await person(db, "mia")
    noted = db.changes.generation
    async with db.session() as s:
        s.add(Zone(name="Beringen", created_at=NOW))
    assert db.changes.stale(noted) and db.changes.stale(noted, jan)  # the directory changed
    noted = db.changes.generation
    async with db.session() as s:
        ident = (await PeopleRepo(s).identities_of(jan))[0]
        ident.display_name = "Jan P."
    assert db.changes.stale(noted, jan)
    assert not db.changes.stale(noted, mia)
    assert not db.changes.stale(noted)


async def test_a_new_membership_concerns_its_member(db: Database) -> None:
    jan, mia = await person(db, "jan"), await person(db, "mia")
    async with db.session() as s:
        zone = await DirectoryRepo(s).add(Zone(name="Beringen", created_at=NOW))
        bin_ = await DirectoryRepo(s).add(
            Bin(zone_id=zone.id, name="Noord", code="noord", created_at=NOW)
        )
    noted = db.changes.generation
    async with db.session() as s:
        s.add(Membership(bin_id=bin_.id, person_id=jan, joined_at=NOW))
    assert db.changes.generation == noted + 1
    assert db.changes.stale(noted, jan) and not db.changes.stale(noted, mia)


async def test_bulk_statements_may_concern_anyone(db: Database) -> None:
    jan = await person(db, "jan")
    noted = db.changes.generation
    async with db.session() as s:
        await s.execute(update(Person).where(Person.id == jan).values(language="fr"))
    assert db.changes.stale(noted) and db.changes.stale(noted, 12345)


async def test_rolled_back_and_unrelated_writes_change_nothing(db: Database) -> None:
    jan = await person(db, "jan")
    noted = db.changes.generation
    with pytest.raises(RuntimeError):
        async with db.session() as s:
            s.add(Identity(person_id=jan, platform="matrix", user_id="@jan:x", created_at=NOW))
            await s.flush()
            raise RuntimeError("changed my mind")
    async with db.session() as s:
        await AuditRepo(s).record(NOW, "admin", "zone.add")
        await StateRepo(s).put("telegram:offset", "17")
    assert db.changes.generation == noted
    assert not db.changes.stale(noted, jan)
