"""A BIN's own quiet hours, reminder frequency and language, each falling back to its zone's:
honoured by notices and their follow-ups (per delivery), reminders, a newly linked group,
the poster, retention, `bin add` and `apply`; and migration 0015 on both databases.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, select, text

from bot.services import bin_settings, poster
from bot.services.rules import period_of, post_reminders
from storage.db import Database, alembic_config, head_revision
from storage.tables import Alert, Bin, Delivery, Group, Reminder, UTCDateTime, Zone
from tests.fakes import Harness
from tests.unit.test_admin_input import refused
from tests.unit.test_alerts_world import compose, make_world, official, posted
from tests.unit.test_apply_file import apply
from tests.unit.test_groups_support import coordinator, linked_group, ready, rows


async def own(h: Harness, code: str, **values: Any) -> None:
    """Give BIN `code` settings of its own, straight in the database."""
    async with h.db.session() as s:
        b = (await s.execute(select(Bin).where(Bin.code == code))).scalar_one()
        for key, value in values.items():
            setattr(b, key, value)
        await s.commit()


async def test_a_notice_reaches_each_bins_groups_when_that_bins_quiet_hours_end(
    h: Harness,
) -> None:
    world = await make_world(h)  # the zone's quiet hours: 22:00-07:00
    await own(h, "noord", quiet_start=23 * 60 + 30, quiet_end=6 * 60)  # Noord: 23:30-06:00
    await official(h, "eva", role="prevention")
    h.clock.set(datetime(2026, 1, 5, 22, 0, tzinfo=UTC))  # 23:00 in Brussels
    ref = await compose(
        h,
        "eva",
        targets=("Noord", "Zuid"),
        category="Prevention tip",
        text="Close your windows at night: two break-ins through open windows.",
    )
    await h.core.idle()
    # Noord is not in its quiet hours yet: its groups have it at once; Zuid's wait.
    assert len(posted(h, "noord-1", ref)) == 1 and len(posted(h, "noord-2", ref)) == 1
    assert posted(h, "zuid-1") == []
    async with h.db.session() as s:
        alert = (await s.execute(select(Alert).where(Alert.ref == ref))).scalar_one()
        assert alert.release_at == datetime(2026, 1, 5, 22, 0, tzinfo=UTC)  # the earliest
        zuid = (
            await s.execute(select(Delivery).where(Delivery.group_id == world.groups["zuid-1"]))
        ).scalar_one()
        assert zuid.next_attempt_at == datetime(2026, 1, 6, 6, 0, tzinfo=UTC)  # 07:00

    # An update at 23:45: Noord is quiet now until 06:00, Zuid still until 07:00.
    h.clock.set(datetime(2026, 1, 5, 22, 45, tzinfo=UTC))
    await h.say("eva", f"/update {ref} The windows of the Kerkstraat were left open.")
    await h.core.idle()
    assert posted(h, "noord-1", "Kerkstraat") == [] and posted(h, "zuid-1") == []
    h.clock.set(datetime(2026, 1, 6, 5, 0, tzinfo=UTC))  # 06:00
    await h.core.idle()
    assert len(posted(h, "noord-1", "Kerkstraat")) == 1 and posted(h, "zuid-1") == []
    h.clock.set(datetime(2026, 1, 6, 6, 0, tzinfo=UTC))  # 07:00
    await h.core.idle()
    notice, update = h.platform.in_chat("zuid-1")
    assert ref in notice.text and "Kerkstraat" in update.text
    assert update.message.reply_to == notice.ref.message_id


async def test_urgent_messages_ignore_every_bins_quiet_hours(h: Harness) -> None:
    await make_world(h)
    await own(h, "zuid", quiet_start=0, quiet_end=23 * 60 + 59)
    await official(h, "jan")
    h.clock.set(datetime(2026, 1, 5, 12, 0, tzinfo=UTC))
    ref = await compose(h, "jan", targets=("Noord", "Zuid"))
    await h.core.idle()
    assert len(posted(h, "zuid-1", ref)) == 1 and len(posted(h, "noord-1", ref)) == 1


async def test_reminders_follow_the_bins_own_period_and_quiet_hours(h: Harness) -> None:
    await ready(h)  # zone quiet hours 22:00-07:00, weekly reminders
    await own(h, "noord", reminder_days=14, quiet_start=6 * 60, quiet_end=12 * 60)
    h.clock.set(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))  # 10:00: quiet for Noord only
    assert await post_reminders(h.core) == 0
    h.clock.set(datetime(2026, 3, 2, 12, 0, tzinfo=UTC))  # 13:00
    assert await post_reminders(h.core) == 1
    latest = max(await rows(h, Reminder), key=lambda r: r.posted_at)
    assert latest.period.startswith("14d-")
    # A week later (when a weekly zone reminds) is the same fortnight: nothing; two weeks on,
    # the next one.
    h.clock.set(datetime(2026, 3, 9, 12, 0, tzinfo=UTC))
    assert await post_reminders(h.core) == 0
    h.clock.set(datetime(2026, 3, 16, 12, 0, tzinfo=UTC))
    assert await post_reminders(h.core) == 1
    # Without its own values, the BIN follows the zone again: weekly.
    await own(h, "noord", reminder_days=None, quiet_start=None, quiet_end=None)
    h.clock.set(datetime(2026, 3, 23, 9, 0, tzinfo=UTC))
    assert await post_reminders(h.core) == 1
    latest = max(await rows(h, Reminder), key=lambda r: r.posted_at)
    assert latest.period.startswith("7d-")
    async with h.db.session() as s:
        zone = await s.get(Zone, 1)
        assert zone is not None
    assert period_of(bin_settings.of(zone), h.clock.now()) == latest.period


async def test_a_newly_linked_group_and_the_poster_read_the_bins_language(h: Harness) -> None:
    await h.admin('zone add Beringen --non-urgent "011 27 95 79" --language nl')
    out = await h.admin("bin add Noord --zone Beringen --language fr --quiet 23:00-06:00")
    assert out == ["BIN Noord added to zone Beringen with code noord"]
    await coordinator(h, "an")
    await h.add_bot("buurt", "an")
    await h.say("an", "/link", chat="buurt")
    assert any("Règles du groupe – PLP Noord" in t for t in h.texts("buurt"))
    async with h.db.session() as s:
        group = (await s.execute(select(Group).where(Group.chat_id == "buurt"))).scalar_one()
        b = (await s.execute(select(Bin).where(Bin.code == "noord"))).scalar_one()
        zone = await s.get(Zone, b.zone_id)
    assert group.language is None  # it follows its BIN until it chooses (/language)
    assert (b.language, b.quiet_start, b.quiet_end, b.reminder_days) == ("fr", 23 * 60, 360, None)
    assert zone is not None
    assert poster.languages_of(zone, h.core.config, b) == ("fr",)
    assert poster.languages_of(zone, h.core.config) == ("nl",)


async def test_a_group_of_a_bin_without_its_own_language_reads_the_zones(h: Harness) -> None:
    await ready(h, language="nl")
    await linked_group(h, "buurt-2")
    assert any("Groepsregels – BIN Noord" in t for t in h.texts("buurt-2"))


async def test_bin_add_refuses_bad_settings_by_the_zone_rules(h: Harness) -> None:
    await h.admin("zone add Beringen")
    for option, word in (
        ("--quiet 25:00-07:00", "--quiet"),
        ("--reminder-days 0", "--reminder-days"),
        ("--language xx", "--language"),
    ):
        lines = await refused(h, ["bin", "add", "Noord", "--zone", "Beringen", *option.split()])
        assert any(word in line for line in lines), lines
    assert await rows(h, Bin) == []


async def test_apply_sets_and_keeps_a_bins_own_settings(h: Harness, tmp_path: Path) -> None:
    entry = """
[[zone]]
name = "Beringen"
[[zone.bin]]
name = "Noord"
quiet_hours = ["23:00", "06:00"]
reminder_days = 14
language = "fr"
[[zone.bin]]
name = "Zuid"
"""
    await apply(h, tmp_path, entry)
    found = {b.name: b for b in await rows(h, Bin)}
    noord, zuid = found["Noord"], found["Zuid"]
    assert (noord.quiet_start, noord.quiet_end, noord.reminder_days, noord.language) == (
        23 * 60,
        6 * 60,
        14,
        "fr",
    )
    assert (zuid.quiet_start, zuid.quiet_end, zuid.reminder_days, zuid.language) == (
        None,
        None,
        None,
        None,
    )
    out = await apply(h, tmp_path, entry.replace("reminder_days = 14", "reminder_days = 21"))
    assert any("bin Noord" in line for line in out), out
    [noord] = await rows(h, Bin, Bin.name == "Noord")
    assert noord.reminder_days == 21 and noord.language == "fr"


async def test_retention_keeps_reminders_for_the_longest_period_of_a_bin_too(h: Harness) -> None:
    await ready(h)
    await own(h, "noord", reminder_days=60)
    async with h.core.uow() as uow:
        w = await uow.retention.when(h.clock.now(), h.core.config.retention)
    assert w.longest_reminder_days == 60


BEFORE = (
    "INSERT INTO zones (id, name, name_key, urgent_number, emergency_number, language, timezone,"
    " quiet_start, quiet_end, reminder_days, created_at)"
    " VALUES (1, 'Z', 'z', '101', '112', 'nl', 'Europe/Brussels', 1320, 420, 7, :now)",
    "INSERT INTO bins (id, zone_id, name, name_key, code, created_at)"
    " VALUES (1, 1, 'Noord', 'noord', 'noord', :now)",
)


async def test_migration_0015_gives_existing_bins_the_zones_settings(db_url: str) -> None:
    db = Database(db_url)

    def to(revision: str, down: bool = False):  # type: ignore[no-untyped-def]
        def run(conn):  # type: ignore[no-untyped-def]
            from alembic import command

            if down:
                command.downgrade(alembic_config(conn), revision)
            else:
                command.upgrade(alembic_config(conn), revision)

        return run

    now = datetime(2026, 1, 5, 12, tzinfo=UTC)
    async with db.engine.begin() as conn:
        await conn.run_sync(to("0014"))
        for sql in BEFORE:
            await conn.execute(
                text(sql).bindparams(bindparam("now", type_=UTCDateTime())), {"now": now}
            )
    await db.upgrade()
    assert await db.current_revision() == head_revision()
    async with db.session() as s:
        got = (
            await s.execute(
                text("SELECT quiet_start, quiet_end, reminder_days, language FROM bins")
            )
        ).all()
        assert [tuple(r) for r in got] == [(None, None, None, None)]
        await s.execute(text("UPDATE bins SET language = 'fr', reminder_days = 14"))
        await s.commit()
    async with db.engine.begin() as conn:
        await conn.run_sync(to("0014", down=True))
    async with db.session() as s:
        names = (await s.execute(text("SELECT name FROM bins"))).scalars().all()
    await db.dispose()
    assert names == ["Noord"]
