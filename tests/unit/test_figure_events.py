"""Events counted as they happen (nudges, "I called 101", thank-yous) and the delivery times
of the monthly figures, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from storage.db import open_database
from storage.figures import EVENTS, TIMINGS, FigureRepo, month_start, percentile, timing_rows
from storage.repo import DirectoryRepo
from storage.tables import Alert, AlertTarget, Bin, Delivery, FollowUp, Group, Zone

NOW = datetime(2026, 3, 14, 12, tzinfo=UTC)


async def test_events_add_up_across_sessions_and_a_recount_keeps_them(db_url: str) -> None:
    db = await open_database(db_url)
    try:
        async with db.session() as s:
            repo = DirectoryRepo(s)
            zone = await repo.add(Zone(name="Beringen", created_at=NOW))
            b = await repo.add(Bin(zone_id=zone.id, name="Noord", code="noord", created_at=NOW))

        async def count(kind: str, when: datetime) -> None:
            async with db.session() as s:
                await FigureRepo(s).count_event(when, b.id, kind)
                await s.commit()

        # Several processes counting the same figure at once lose nothing.
        await asyncio.gather(*(count("nudge_101", NOW) for _ in range(5)))
        await count("called", NOW)
        await count("nudge_101", NOW + timedelta(days=30))  # April
        async with db.session() as s:
            repo_f = FigureRepo(s)
            with pytest.raises(ValueError, match="not an event"):
                await repo_f.count_event(NOW, b.id, "who_called")
            await repo_f.replace_month(month_start(NOW), [(b.id, "seen", "", 3)], final=True)
            await s.commit()
        async with db.session() as s:
            found = await FigureRepo(s).figures([b.id])
        assert sorted(found) == [
            ("2026-03", b.id, EVENTS, "called", 1),
            ("2026-03", b.id, EVENTS, "nudge_101", 5),
            ("2026-03", b.id, "seen", "", 3),
            ("2026-04", b.id, EVENTS, "nudge_101", 1),
        ]
    finally:
        await db.dispose()


async def test_a_months_times_count_each_message_once_and_not_its_follow_ups(
    db_url: str,
) -> None:
    db = await open_database(db_url)
    try:
        async with db.session() as s:
            repo = DirectoryRepo(s)
            zone = await repo.add(Zone(name="Beringen", created_at=NOW))
            b = await repo.add(Bin(zone_id=zone.id, name="Noord", code="noord", created_at=NOW))
            other = await repo.add(Bin(zone_id=zone.id, name="Zuid", code="zuid", created_at=NOW))
            groups = [
                await repo.add(Group(bin_id=bid, platform="telegram", chat_id=c, linked_at=NOW))
                for bid, c in ((b.id, "-1"), (b.id, "-2"), (other.id, "-3"))
            ]
            for i, seconds in enumerate(((2, 5, 1), (4, 7, 1), (8, None, 1))):
                a = await repo.add(
                    Alert(
                        ref=f"A-{i}",
                        zone_id=zone.id,
                        author_role="police",
                        urgency="urgent",
                        category="burglary",
                        text="x",
                        created_at=NOW,
                        release_at=NOW,
                        valid_until=NOW + timedelta(days=1),
                    )
                )
                s.add_all([AlertTarget(alert_id=a.id, bin_id=b.id)])
                s.add(AlertTarget(alert_id=a.id, bin_id=other.id))
                for g, sec in zip(groups, seconds, strict=True):
                    s.add(
                        Delivery(
                            alert_id=a.id,
                            group_id=g.id,
                            platform="telegram",
                            chat_id=g.chat_id,
                            status="sent" if sec is not None else "failed",
                            next_attempt_at=NOW,
                            created_at=NOW,
                            sent_at=NOW + timedelta(seconds=sec) if sec is not None else None,
                        )
                    )
                # A follow-up an hour later: not part of the message's delivery time.
                f = await repo.add(FollowUp(alert_id=a.id, kind="update", created_at=NOW))
                s.add(
                    Delivery(
                        alert_id=a.id,
                        followup_id=f.id,
                        group_id=groups[0].id,
                        platform="telegram",
                        chat_id="-1",
                        status="sent",
                        next_attempt_at=NOW,
                        created_at=NOW,
                        sent_at=NOW + timedelta(hours=1),
                    )
                )
            await s.commit()
        async with db.session() as s:
            rows = await FigureRepo(s).count_month(month_start(NOW))
        times = {(bid, d): v for bid, f, d, v in rows if f == TIMINGS}
        # Noord: first deliveries after 2, 4 and 8 s; all delivered only for the first two
        # (5 and 7 s); Zuid: every message after 1 s.
        assert times == {
            (b.id, "first_messages"): 3,
            (b.id, "first_median"): 4000,
            (b.id, "first_p95"): 7600,
            (b.id, "all_messages"): 2,
            (b.id, "all_median"): 6000,
            (b.id, "all_p95"): 6900,
            (other.id, "first_messages"): 3,
            (other.id, "first_median"): 1000,
            (other.id, "first_p95"): 1000,
            (other.id, "all_messages"): 3,
            (other.id, "all_median"): 1000,
            (other.id, "all_p95"): 1000,
        }
    finally:
        await db.dispose()


def test_percentiles_and_times_that_cannot_be_measured() -> None:
    assert percentile([7], 95) == 7
    assert percentile([1000, 2000, 3000, 4000], 50) == 2500
    assert percentile(list(range(1, 101)), 95) == 95
    release = NOW
    found = [
        (1, release, 2, 0, None, None),  # nothing went out: not timed
        (1, release, 1, 1, release - timedelta(seconds=3), release - timedelta(seconds=3)),
        (2, release, 1, 1, release + timedelta(days=40), release + timedelta(days=40)),
    ]
    rows = {(b, d): v for b, _, d, v in timing_rows(found)}
    assert rows[1, "first_messages"] == 1 and rows[1, "first_median"] == 0  # a clock step
    assert rows[2, "all_p95"] == 2**31 - 1  # the most the figure holds
