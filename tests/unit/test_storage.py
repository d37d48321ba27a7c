"""Storage on SQLite and on PostgreSQL: migrations, the model, and the queries the core uses."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text

from bot.model import Role
from bot.services import directory, invites
from bot.services.validation import ZoneSpec
from storage.db import Database, head_revision, open_database
from storage.tables import Base, Identity, Person

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
async def db(db_url: str):  # type: ignore[no-untyped-def]
    database = await open_database(db_url)
    yield database
    await database.dispose()


async def test_empty_database_migrates_to_head(db_url: str) -> None:
    database = Database(db_url)
    assert await database.current_revision() is None
    await database.upgrade()
    await database.upgrade()  # idempotent
    assert await database.current_revision() == head_revision()
    await database.dispose()


async def test_migrations_match_the_models(db: Database) -> None:
    """The migrated schema is exactly what storage/tables.py declares."""

    def diff(conn):  # type: ignore[no-untyped-def]
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        return compare_metadata(ctx, Base.metadata)

    async with db.engine.connect() as conn:
        changes = await conn.run_sync(diff)
    assert changes == []


async def test_times_come_back_aware_utc(db: Database) -> None:
    async with db.unit_of_work() as uow:
        person, _ = await uow.people.ensure_identity("telegram", "42", "Jan", NOW)
        person.redeem_blocked_until = NOW.astimezone(UTC) + timedelta(hours=1)
        await uow.commit()
    async with db.session() as s:
        back = (await s.execute(select(Person))).scalar_one()
    assert back.redeem_blocked_until == NOW + timedelta(hours=1)
    assert back.redeem_blocked_until.tzinfo is not None


async def identity(
    db: Database, platform: str, user_id: str, name: str, dm_chat_id: str | None = None
) -> tuple[Person, Identity]:
    async with db.unit_of_work() as uow:
        found = await uow.people.ensure_identity(
            platform, user_id, name, NOW, dm_chat_id=dm_chat_id
        )
        await uow.commit()
    return found


async def test_one_person_per_platform_account(db: Database) -> None:
    p1, i1 = await identity(db, "telegram", "42", "Jan")
    p2, i2 = await identity(db, "telegram", "42", "Jan Peeters")
    assert i2.display_name == "Jan Peeters"
    assert p1.id == p2.id and i1.id == i2.id
    p3, _ = await identity(db, "matrix", "@jan:example.org", "Jan")
    assert p3.id != p1.id


async def test_the_private_chat_is_recorded_when_first_seen_and_when_it_changes(
    db: Database,
) -> None:
    _, ident = await identity(db, "matrix", "@jan:x", "Jan", dm_chat_id="!a")
    assert ident.dm_chat_id == "!a"
    _, ident = await identity(db, "matrix", "@jan:x", "Jan")  # a group
    assert ident.dm_chat_id == "!a"
    _, ident = await identity(db, "matrix", "@jan:x", "Jan", dm_chat_id="!b")
    async with db.unit_of_work() as uow:
        assert [i.dm_chat_id for i in await uow.people.identities_of(ident.person_id)] == ["!b"]


async def _setup_invite(db: Database) -> str:
    async with db.unit_of_work() as uow:
        zone = await directory.add_zone(uow, NOW, ZoneSpec(name="Beringen"))
        issued = await invites.issue(
            uow,
            random.Random(1),
            NOW,
            Role.POLICE,
            zone_id=zone.id,
            bin_id=None,
            valid_for=timedelta(days=7),
        )
        await uow.commit()
    return issued.code


async def test_only_a_hash_of_the_code_is_stored(db: Database) -> None:
    code = await _setup_invite(db)
    async with db.engine.connect() as conn:
        dump = " ".join(str(r) for r in (await conn.execute(text("SELECT * FROM invites"))).all())
    assert code not in dump and invites.normalise(code) not in dump


async def test_an_invite_is_redeemed_once_even_in_a_race(db: Database) -> None:
    code = await _setup_invite(db)
    people = [(await identity(db, "telegram", uid, "x"))[0].id for uid in ("1", "2", "3", "4")]

    async def attempt(person_id: int) -> invites.Redeemed:
        for _ in range(20):
            try:
                async with db.unit_of_work() as uow:
                    result = await invites.redeem(uow, person_id, code, NOW)
                    await uow.commit()
                return result.outcome
            except Exception as exc:  # SQLite "database is locked" under contention
                if "locked" not in str(exc):
                    raise
                await asyncio.sleep(0.05)
        raise AssertionError("could not get the database")

    outcomes = await asyncio.gather(*(attempt(p) for p in people))
    assert sorted(outcomes) == sorted([invites.Redeemed.OK] + [invites.Redeemed.REFUSED] * 3)
    async with db.unit_of_work() as uow:
        [invite] = await uow.invites.invites()
        grants = await uow.people.grants(role="police")
    assert invite.used_at is not None and len(grants) == 1


async def test_audit_log_keeps_order_and_detail(db: Database) -> None:
    async with db.unit_of_work() as uow:
        await uow.audit.record(NOW, "admin", "zone.add", zone_id=1)
        await uow.audit.record(
            NOW + timedelta(seconds=1), "p-abc", "command.alert", outcome="refused", reason="role"
        )
        await uow.commit()
    async with db.unit_of_work() as uow:
        rows = await uow.audit.entries()
        since = await uow.audit.entries(since=NOW + timedelta(milliseconds=500))
    assert [(r.action, r.outcome) for r in rows] == [
        ("zone.add", "ok"),
        ("command.alert", "refused"),
    ]
    assert rows[1].detail == {"reason": "role"}
    assert [r.action for r in since] == ["command.alert"]


async def test_nothing_is_written_without_a_commit(db: Database) -> None:
    async with db.unit_of_work() as uow:
        await uow.audit.record(NOW, "admin", "zone.add")
        await uow.rollback()
    async with db.unit_of_work() as uow:
        assert await uow.audit.entries() == []


async def test_key_value_state(db: Database) -> None:
    for value in ("s1", "s2"):
        async with db.unit_of_work() as uow:
            await uow.state.put("matrix:next_batch", value)
            await uow.commit()
    async with db.unit_of_work() as uow:
        assert await uow.state.get("matrix:next_batch") == "s2"
        assert await uow.state.get("nothing") is None


async def test_a_value_stored_once_is_the_first_one_kept(db: Database) -> None:
    """Two processes making a secret at the same moment both end up with the same one."""
    async with db.unit_of_work() as first, db.unit_of_work() as second:
        assert await first.state.put_once("secret", "a") == "a"
        await first.commit()
        assert await second.state.put_once("secret", "b") == "a"
        await second.commit()
    async with db.unit_of_work() as uow:
        assert await uow.state.get("secret") == "a"


async def test_processes_starting_together_migrate_once(pg_url: str) -> None:
    """Three processes' worth of engines upgrade an empty PostgreSQL database at once."""
    dbs = [Database(pg_url) for _ in range(3)]
    await asyncio.gather(*(d.upgrade() for d in dbs))
    assert {await d.current_revision() for d in dbs} == {head_revision()}
    for d in dbs:
        await d.dispose()
