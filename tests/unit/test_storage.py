"""Storage on SQLite and on PostgreSQL: migrations, the model, and the queries the core uses."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text

from bot.model import Role
from bot.services import directory, invites
from storage.db import Database, head_revision, open_database
from storage.repo import Repo
from storage.tables import AuditEntry, Base, Invite, Person

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
    async with db.session() as s:
        repo = Repo(s)
        person, _ = await repo.ensure_identity("telegram", "42", "Jan", NOW)
        person.redeem_blocked_until = NOW.astimezone(UTC) + timedelta(hours=1)
    async with db.session() as s:
        back = (await s.execute(select(Person))).scalar_one()
    assert back.redeem_blocked_until == NOW + timedelta(hours=1)
    assert back.redeem_blocked_until.tzinfo is not None


async def test_one_person_per_platform_account(db: Database) -> None:
    async with db.session() as s:
        p1, i1 = await Repo(s).ensure_identity("telegram", "42", "Jan", NOW)
    async with db.session() as s:
        p2, i2 = await Repo(s).ensure_identity("telegram", "42", "Jan Peeters", NOW)
        assert i2.display_name == "Jan Peeters"
    assert p1.id == p2.id and i1.id == i2.id
    async with db.session() as s:
        p3, _ = await Repo(s).ensure_identity("matrix", "@jan:example.org", "Jan", NOW)
    assert p3.id != p1.id


async def test_the_private_chat_is_recorded_when_first_seen_and_when_it_changes(
    db: Database,
) -> None:
    async with db.session() as s:
        _, ident = await Repo(s).ensure_identity("matrix", "@jan:x", "Jan", NOW, dm_chat_id="!a")
        assert ident.dm_chat_id == "!a"
    async with db.session() as s:
        _, ident = await Repo(s).ensure_identity("matrix", "@jan:x", "Jan", NOW)  # a group
        assert ident.dm_chat_id == "!a"
    async with db.session() as s:
        _, ident = await Repo(s).ensure_identity("matrix", "@jan:x", "Jan", NOW, dm_chat_id="!b")
    async with db.session() as s:
        assert [i.dm_chat_id for i in await Repo(s).identities_of(ident.person_id)] == ["!b"]


async def _setup_invite(db: Database) -> str:
    async with db.session() as s:
        repo = Repo(s)
        await directory.add_zone(repo, NOW, "Beringen")
        import random

        issued = await invites.issue(
            repo,
            random.Random(1),
            NOW,
            Role.POLICE,
            zone_id=(await repo.zone_by_name("beringen")).id,  # type: ignore[union-attr]
            bin_id=None,
            valid_for=timedelta(days=7),
        )
    return issued.code


async def test_only_a_hash_of_the_code_is_stored(db: Database) -> None:
    code = await _setup_invite(db)
    async with db.engine.connect() as conn:
        dump = " ".join(str(r) for r in (await conn.execute(text("SELECT * FROM invites"))).all())
    assert code not in dump and invites.normalise(code) not in dump


async def test_an_invite_is_redeemed_once_even_in_a_race(db: Database) -> None:
    code = await _setup_invite(db)
    people = []
    for uid in ("1", "2", "3", "4"):
        async with db.session() as s:
            people.append((await Repo(s).ensure_identity("telegram", uid, "x", NOW))[0].id)

    async def attempt(person_id: int) -> invites.Redeemed:
        for _ in range(20):
            try:
                async with db.session() as s:
                    person = await s.get(Person, person_id)
                    assert person is not None
                    return (await invites.redeem(Repo(s), person, code, NOW)).outcome
            except Exception as exc:  # SQLite "database is locked" under contention
                if "locked" not in str(exc):
                    raise
                await asyncio.sleep(0.05)
        raise AssertionError("could not get the database")

    outcomes = await asyncio.gather(*(attempt(p) for p in people))
    assert sorted(outcomes) == sorted([invites.Redeemed.OK] + [invites.Redeemed.REFUSED] * 3)
    async with db.session() as s:
        invite = (await s.execute(select(Invite))).scalar_one()
        grants = await Repo(s).grants(role="police")
    assert invite.used_at is not None and len(grants) == 1


async def test_audit_log_keeps_order_and_detail(db: Database) -> None:
    async with db.session() as s:
        repo = Repo(s)
        await repo.audit(NOW, "admin", "zone.add", zone_id=1)
        await repo.audit(
            NOW + timedelta(seconds=1), "p-abc", "command.alert", outcome="refused", reason="role"
        )
    async with db.session() as s:
        rows = (await s.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars().all()
        since = await Repo(s).audit_entries(since=NOW + timedelta(milliseconds=500))
    assert [(r.action, r.outcome) for r in rows] == [
        ("zone.add", "ok"),
        ("command.alert", "refused"),
    ]
    assert rows[1].detail == {"reason": "role"}
    assert [r.action for r in since] == ["command.alert"]


async def test_key_value_state(db: Database) -> None:
    async with db.session() as s:
        await Repo(s).kv_put("matrix:next_batch", "s1")
    async with db.session() as s:
        await Repo(s).kv_put("matrix:next_batch", "s2")
    async with db.session() as s:
        assert await Repo(s).kv_get("matrix:next_batch") == "s2"
        assert await Repo(s).kv_get("nothing") is None


async def test_processes_starting_together_migrate_once(pg_url: str) -> None:
    """Three processes' worth of engines upgrade an empty PostgreSQL database at once."""
    dbs = [Database(pg_url) for _ in range(3)]
    await asyncio.gather(*(d.upgrade() for d in dbs))
    assert {await d.current_revision() for d in dbs} == {head_revision()}
    for d in dbs:
        await d.dispose()
