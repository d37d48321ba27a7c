"""Migration 0014: who granted a role is filled from the invites still kept."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import bindparam, text

from storage.db import Database, alembic_config, head_revision
from storage.tables import UTCDateTime

ROWS = (
    "INSERT INTO zones (id, name, name_key, urgent_number, emergency_number, language, timezone,"
    " quiet_start, quiet_end, reminder_days, created_at)"
    " VALUES (1, 'Z', 'z', '101', '112', 'nl', 'Europe/Brussels', 0, 0, 7, :now)",
    "INSERT INTO bins (id, zone_id, name, name_key, code, created_at)"
    " VALUES (1, 1, 'Noord', 'noord', 'noord', :now)",
    *(
        "INSERT INTO persons (id, pseudonym, failed_redeems, created_at)"
        f" VALUES ({i}, 'p-{i}', 0, :now)"
        for i in (1, 2, 3)
    ),
    "INSERT INTO invites (id, code_hash, role, zone_id, created_by, created_at, expires_at,"
    " used_at, used_by) VALUES (1, 'h1', 'police', 1, 'admin', :now, :now, :now, 1)",
    "INSERT INTO invites (id, code_hash, role, bin_id, created_by, created_at, expires_at,"
    " used_at, used_by) VALUES (2, 'h2', 'coordinator', 1, 'p-1', :now, :now, :now, 2)",
    "INSERT INTO role_grants (id, person_id, role, zone_id, invite_id, granted_at)"
    " VALUES (1, 1, 'police', 1, 1, :now)",
    "INSERT INTO role_grants (id, person_id, role, bin_id, invite_id, granted_at)"
    " VALUES (2, 2, 'coordinator', 1, 2, :now)",
    # its invite was deleted by the retention job already: who issued it is not known
    "INSERT INTO role_grants (id, person_id, role, bin_id, granted_at)"
    " VALUES (3, 3, 'coordinator', 1, :now)",
)


async def test_who_granted_a_role_is_filled_from_its_invite(db_url: str) -> None:
    db = Database(db_url)

    def to_0013(conn):  # type: ignore[no-untyped-def]
        from alembic import command

        command.upgrade(alembic_config(conn), "0013")

    now = datetime(2026, 1, 5, 12, tzinfo=UTC)
    async with db.engine.begin() as conn:
        await conn.run_sync(to_0013)
        for sql in ROWS:
            await conn.execute(
                text(sql).bindparams(bindparam("now", type_=UTCDateTime())), {"now": now}
            )
    await db.upgrade()
    assert await db.current_revision() == head_revision()
    async with db.session() as s:
        got = (await s.execute(text("SELECT id, granted_by FROM role_grants ORDER BY id"))).all()
    await db.dispose()
    assert [tuple(r) for r in got] == [(1, "admin"), (2, "p-1"), (3, None)]
