"""Seen without a trace: the count stays right across expiry and the retention run, and
nothing in the database ties a person to a message they saw."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

from bot.services import retention
from storage.seen import seen_mark
from storage.tables import Alert, Seen
from tests.fakes import Harness
from tests.unit.test_alerts_world import compose, make_world, member, official
from tests.unit.test_groups_support import rows


async def _alert(h: Harness, ref: str) -> Alert:
    [alert] = await rows(h, Alert, Alert.ref == ref)
    return alert


async def test_seen_counts_survive_expiry_and_the_purge(h: Harness) -> None:
    await make_world(h)
    await official(h, "jan")
    ref = await compose(h, "jan", targets=("Noord", "Zuid"))
    await h.press("piet", "Seen", chat="noord-1")
    await h.press("piet", "Seen", chat="noord-2")  # the same person: counted once
    await h.press("mia", "Seen", chat="zuid-1")
    alert = await _alert(h, ref)
    assert alert.seen_count == 2 and alert.seen_key is not None
    assert len(await rows(h, Seen)) == 2

    h.clock.advance(hours=25)  # an urgent message is current for 24 hours
    await retention.sweep_seen(h.core)
    alert = await _alert(h, ref)
    assert await rows(h, Seen) == [] and alert.seen_key is None
    await h.say("jan", f"/status {ref}")
    assert "Seen: 2 (who, I never say)" in h.last("jan")

    await h.press("piet", "Seen", chat="noord-1")  # too late: the marks are gone
    await retention.run(h.core)
    assert (await _alert(h, ref)).seen_count == 2
    await h.say("jan", f"/status {ref}")
    assert "Seen: 2 (who, I never say)" in h.last("jan")


async def test_a_withdrawn_message_loses_its_marks_at_once(h: Harness) -> None:
    await make_world(h)
    await official(h, "jan")
    ref = await compose(h, "jan")
    await h.press("piet", "Seen", chat="noord-1")
    await h.say("jan", f"/withdraw {ref}")
    await retention.sweep_seen(h.core)
    assert await rows(h, Seen) == []
    assert (await _alert(h, ref)).seen_count == 1


async def test_nothing_in_the_database_ties_a_person_to_what_they_saw(
    h: Harness, tmp_path: Path
) -> None:
    await make_world(h)
    await official(h, "jan")
    await member(h, "piet", "noord")
    ref = await compose(h, "jan")
    await h.press("piet", "Seen", chat="noord-1")
    alert = await _alert(h, ref)
    async with h.core.uow() as uow:
        piet = await uow.people.identity("telegram", "piet")
        assert piet is not None
        person = await uow.people.person(piet.person_id)
        assert person is not None
        counts = await uow.groups.counts_for(person)
    assert counts.seen == 1  # the person themself can still find their own mark
    [mark] = await rows(h, Seen)
    assert alert.seen_key is not None
    assert mark.mark == seen_mark(alert.seen_key, piet.person_id)  # only under the key
    unkeyed = hashlib.sha256(str(piet.person_id).encode()).hexdigest()[:32]
    assert mark.mark != unkeyed

    h.clock.advance(hours=25)
    await retention.run(h.core)
    await h.db.dispose()
    with sqlite3.connect(tmp_path / "test.db") as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            columns = [c[1] for c in conn.execute(f'PRAGMA table_info("{table}")')]
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                values = dict(zip(columns, row, strict=True))
                names_alert = alert.id in (values.get("alert_id"), values.get("id")) and (
                    table in ("alerts", "seen", "deliveries", "followups", "alert_targets")
                )
                if not names_alert:
                    continue
                # A row about the message names no one but its author (Jan, person 2).
                assert piet.person_id not in (
                    values.get("person_id"),
                    values.get("author_id"),
                    values.get("decided_by"),
                ), (table, values)
                assert "piet" not in str(values).lower(), (table, values)
        assert conn.execute("SELECT count(*) FROM seen").fetchone() == (0,)
        assert conn.execute(
            "SELECT seen_key, seen_count FROM alerts WHERE id = ?", (alert.id,)
        ).fetchone() == (None, 1)
        audit = " ".join(str(r) for r in conn.execute("SELECT actor, detail FROM audit_log"))
        pseudonym = conn.execute(
            "SELECT pseudonym FROM persons WHERE id = ?", (piet.person_id,)
        ).fetchone()[0]
        assert pseudonym not in audit  # pressing Seen is never audited under the presser


async def test_the_migration_counts_old_presses_and_keeps_no_person(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from alembic import command
    from sqlalchemy import text

    from storage.db import Database, alembic_config

    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    now = datetime.now(UTC).replace(tzinfo=None)
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda c: command.upgrade(alembic_config(c), "0006"))
        await conn.execute(
            text(
                "INSERT INTO zones (id, name, urgent_number, emergency_number,"
                " language, timezone, quiet_start, quiet_end, reminder_days,"
                " created_at) VALUES (1, 'Z', '101', '112', 'nl',"
                " 'Europe/Brussels', 0, 0, 7, :t)"
            ),
            {"t": now},
        )
        for pid in (1, 2, 3):
            await conn.execute(
                text(
                    "INSERT INTO persons (id, pseudonym, failed_redeems, created_at)"
                    " VALUES (:i, :p, 0, :t)"
                ),
                {"i": pid, "p": f"p-{pid}", "t": now},
            )
        for aid, until in ((1, now + timedelta(hours=5)), (2, now - timedelta(days=3))):
            await conn.execute(
                text(
                    "INSERT INTO alerts (id, ref, zone_id, author_role, urgency, category,"
                    " text, state, created_at, release_at, valid_until)"
                    " VALUES (:i, :r, 1, 'police', 'urgent', 'x', 't', :s, :t, :t, :u)"
                ),
                {
                    "i": aid,
                    "r": f"A-000{aid}",
                    "s": "active" if aid == 1 else "expired",
                    "t": now,
                    "u": until,
                },
            )
        for aid, pid in ((1, 1), (1, 2), (2, 1), (2, 2), (2, 3)):
            await conn.execute(
                text("INSERT INTO seen (alert_id, person_id, at) VALUES (:a, :p, :t)"),
                {"a": aid, "p": pid, "t": now},
            )
    await db.upgrade()
    async with db.engine.connect() as conn:
        counts = (
            await conn.execute(
                text("SELECT id, seen_count, seen_key IS NOT NULL FROM alerts ORDER BY id")
            )
        ).all()
        marks = (await conn.execute(text("SELECT alert_id, mark FROM seen"))).all()
        key = (await conn.execute(text("SELECT seen_key FROM alerts WHERE id = 1"))).scalar()
    await db.dispose()
    assert [tuple(r) for r in counts] == [(1, 2, 1), (2, 3, 0)]
    assert sorted(m for _, m in marks) == sorted(seen_mark(key, p) for p in (1, 2))
    assert {a for a, _ in marks} == {1}  # the expired message's presses are gone


async def test_seen_and_a_retention_run_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    h = await Harness.create(tmp_path, url=pg_url)
    try:
        await make_world(h)
        await official(h, "jan")
        ref = await compose(h, "jan")
        await h.press("piet", "Seen", chat="noord-1")
        await h.press("piet", "Seen", chat="noord-2")
        await h.press("mia", "Seen", chat="noord-1")
        assert (await _alert(h, ref)).seen_count == 2
        h.clock.advance(days=100)
        report = await retention.run(h.core)
        assert report.deleted["seen"] == 2 and report.deleted["deliveries"] == 2
        assert (await _alert(h, ref)).seen_count == 2
        assert await rows(h, Seen) == []
        again = await retention.run(h.core)
        assert again.total == 0
    finally:
        await h.close()
