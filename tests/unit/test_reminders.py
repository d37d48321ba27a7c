"""The periodic 101 reminder: once per period per group, never in quiet hours, never twice."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.dispatch import Core
from bot.services.rules import in_quiet_hours, period_of, post_reminders
from storage.tables import Reminder, Zone
from tests.fakes import Harness
from tests.unit.test_groups_support import coordinator, linked_group, ready, rows


async def test_weekly_reminder_once_per_week_also_across_a_restart(h: Harness) -> None:
    await ready(h)
    # The rules were just pinned: no reminder in the week of linking.
    assert await post_reminders(h.core) == 0
    h.clock.advance(days=7)
    assert await post_reminders(h.core) == 1
    [reminder] = h.new("buurt")
    assert reminder.startswith("🔔 Herinnering van je BIN")
    assert "Eerst de politie bellen: 101" in reminder and "011 27 95 79" in reminder
    assert h.platform.in_chat("buurt")[-1].message.silent
    assert await post_reminders(h.core) == 0

    restarted = Core(h.db, {h.platform.platform: h.platform}, clock=h.clock)
    assert await post_reminders(restarted) == 0
    h.clock.advance(days=3)
    assert await post_reminders(restarted) == 0
    assert h.new("buurt") == []
    h.clock.advance(days=4)
    assert await post_reminders(restarted) == 1
    assert len(await rows(h, Reminder)) == 3


async def test_no_reminder_during_quiet_hours(h: Harness) -> None:
    await ready(h)
    h.clock.set(datetime(2026, 1, 12, 22, 30, tzinfo=UTC))  # 23:30 in Brussels
    assert await post_reminders(h.core) == 0
    h.clock.set(datetime(2026, 1, 13, 5, 30, tzinfo=UTC))  # 06:30 in Brussels
    assert await post_reminders(h.core) == 0
    h.clock.set(datetime(2026, 1, 13, 6, 0, tzinfo=UTC))  # 07:00 in Brussels
    assert await post_reminders(h.core) == 1


async def test_every_linked_group_and_only_those(h: Harness) -> None:
    await ready(h)
    await linked_group(h, "straat")
    await linked_group(h, "plein")
    await h.say("an", "/unlink", chat="plein")
    await h.remove_bot("straat")
    h.clock.advance(days=7)
    assert await post_reminders(h.core) == 1
    assert len(h.new("buurt")) == 1 and h.new("plein")[1:] == []


async def test_the_zone_chooses_the_period(h: Harness) -> None:
    await h.admin("zone add Beringen --reminder-days 3")
    await h.admin("bin add Noord --zone Beringen --code noord")
    await coordinator(h, "an")
    await linked_group(h)
    h.clock.advance(days=3)
    assert await post_reminders(h.core) == 1
    h.clock.advance(days=2)
    posted = await post_reminders(h.core)
    h.clock.advance(days=1)
    posted += await post_reminders(h.core)
    assert posted == 1


async def test_bot_gone_while_reminding_turns_the_link_inactive(h: Harness) -> None:
    await ready(h)
    h.platform.removed.add("buurt")
    h.clock.advance(days=7)
    assert await post_reminders(h.core) == 0
    assert "verwijderd uit de groep buurt" in h.new("an")[-1]


def test_quiet_hours_and_periods() -> None:
    zone = Zone(
        name="z",
        timezone="Europe/Brussels",
        quiet_start=22 * 60,
        quiet_end=7 * 60,
        reminder_days=7,
    )
    assert in_quiet_hours(zone, datetime(2026, 7, 1, 20, 30, tzinfo=UTC))  # 22:30 CEST
    assert not in_quiet_hours(zone, datetime(2026, 7, 1, 19, 30, tzinfo=UTC))
    zone.quiet_start = zone.quiet_end = 0
    assert not in_quiet_hours(zone, datetime(2026, 7, 1, 2, 0, tzinfo=UTC))
    monday = datetime(2026, 1, 5, 12, tzinfo=UTC)
    sunday = datetime(2026, 1, 11, 22, 59, tzinfo=UTC)
    assert period_of(zone, monday) == period_of(zone, sunday)
    assert period_of(zone, monday) != period_of(zone, datetime(2026, 1, 11, 23, 0, tzinfo=UTC))


async def test_claims_are_atomic_on_both_databases(db_url: str) -> None:
    """Reminder periods and nudge cooldowns are claimed in one statement, on SQLite and
    PostgreSQL alike, so two processes never both post."""
    from datetime import timedelta

    from storage.db import open_database
    from storage.groups import GroupRepo
    from storage.repo import DirectoryRepo
    from storage.tables import Bin, Group

    now = datetime(2026, 1, 5, 12, tzinfo=UTC)
    db = await open_database(db_url)
    try:
        async with db.session() as s:
            repo = DirectoryRepo(s)
            zone = await repo.add(Zone(name="Beringen", created_at=now))
            b = await repo.add(Bin(zone_id=zone.id, name="Noord", code="noord", created_at=now))
            group = await repo.add(
                Group(bin_id=b.id, platform="telegram", chat_id="-1", linked_at=now)
            )
        for expected in (True, False):
            async with db.session() as s:
                assert await GroupRepo(s).claim_reminder(group.id, "7d-1", now) is expected
        quiet = timedelta(minutes=30)
        for at, expected in (
            (now, True),
            (now + timedelta(minutes=29), False),
            (now + timedelta(minutes=31), True),
        ):
            async with db.session() as s:
                assert await GroupRepo(s).claim_nudge(group.id, at, at - quiet) is expected
    finally:
        await db.dispose()
