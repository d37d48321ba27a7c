"""The delivery times and the 101 nudges on the statistics page: their CSVs are the database's
(computed here from the rows the test made), they outlive the rows they were counted from,
and nobody sees another zone's or another BIN's. And the audit page's filters, period and
pages, for the zone's police and prevention only."""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import delete, select, update

from storage.tables import Alert, AlertTarget, AuditEntry, Bin, Delivery, Group
from tests.desk.client import Browser
from tests.desk.test_figures import download, refused
from tests.desk.test_flows import send
from tests.desk.world import DeskWorld
from tests.unit.test_alerts_world import official

TIMINGS_HEADER = [
    "month",
    "bin_code",
    "bin",
    "first_messages",
    "first_median_s",
    "first_p95_s",
    "all_messages",
    "all_median_s",
    "all_p95_s",
]
NUDGES_HEADER = [
    "month",
    "bin_code",
    "bin",
    "event_nudge_101",
    "event_nudge_112",
    "event_called",
    "event_thanks",
]


@pytest.fixture
async def people(dw: DeskWorld) -> AsyncIterator[dict[str, Browser]]:
    found = {}
    for name in ("jan", "piet", "an", "bert"):
        found[name] = Browser(dw.base)
        await found[name].get(await dw.link(name))
    yield found
    for b in found.values():
        await b.close()


# Seconds from each message's send time to its delivery, per group; None: it failed.
OFFSETS: dict[str, list[float | None]] = {
    "noord-1": [1.0, 2.0, 4.0],
    "noord-2": [3.0, 6.0, None],
    "zuid-1": [0.5, 1.5, 2.5],
}


async def timed_messages(dw: DeskWorld, jan: Browser) -> str:
    """Three messages to Noord and Zuid, delivered after OFFSETS; the second one was held
    an hour (its send time is the release). Returns their month."""
    refs = [await send(dw, jan, "noord", "zuid") for _ in range(3)]
    async with dw.h.db.session() as s:
        alerts = {
            a.ref: a for a in (await s.execute(select(Alert).where(Alert.ref.in_(refs)))).scalars()
        }
        alerts[refs[1]].release_at = alerts[refs[1]].created_at + timedelta(hours=1)
        chats = dict((await s.execute(select(Group.id, Group.chat_id))).all())
        for i, ref in enumerate(refs):
            a = alerts[ref]
            for d in (
                await s.execute(select(Delivery).where(Delivery.alert_id == a.id))
            ).scalars():
                offset = OFFSETS[chats[d.group_id]][i]
                if offset is None:
                    d.status, d.sent_at, d.error = "failed", None, "forbidden"
                else:
                    d.sent_at = a.release_at + timedelta(seconds=offset)
        month = alerts[refs[0]].created_at.strftime("%Y-%m")
        await s.commit()
    dw.h.clock.advance(seconds=61)  # the page counts the open months at most once a minute
    return month


def section(page: str, table: str) -> str:
    """One table's section of the statistics page."""
    return page.split(f'id="{table}"', 1)[1].split("</section>", 1)[0]


def p(values: list[float], q: int) -> float:
    """The q-th percentile, inclusive method, in seconds to a tenth."""
    if len(values) == 1:
        return round(values[0], 1)
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1], 1)


async def expected_timings(dw: DeskWorld, month: str) -> dict[str, list[str]]:
    """The timings table computed from the rows: per BIN, per message, first and last."""
    async with dw.h.db.session() as s:
        q = (
            select(Bin.code, Bin.name, Alert.id, Alert.release_at, Delivery.sent_at)
            .join(AlertTarget, AlertTarget.bin_id == Bin.id)
            .join(Alert, Alert.id == AlertTarget.alert_id)
            .join(Delivery, Delivery.alert_id == Alert.id)
            .join(Group, Group.id == Delivery.group_id)
            .where(Group.bin_id == Bin.id, Delivery.followup_id.is_(None))
        )
        found = (await s.execute(q)).all()
    per: dict[tuple[str, str], dict[int, list[datetime | None]]] = defaultdict(
        lambda: defaultdict(list)
    )
    release: dict[int, datetime] = {}
    for code, name, alert_id, released, sent in found:
        per[code, name][alert_id].append(sent)
        release[alert_id] = released
    table = {}
    for (code, name), messages in per.items():
        first = [
            (min(t for t in times if t) - release[a]).total_seconds()
            for a, times in messages.items()
            if any(times)
        ]
        done = [
            (max(times) - release[a]).total_seconds()  # type: ignore[type-var,operator]
            for a, times in messages.items()
            if all(times)
        ]
        table[code] = [
            month,
            code,
            name,
            str(len(first)),
            str(p(first, 50)),
            str(p(first, 95)),
            str(len(done)),
            str(p(done, 50)) if done else "",
            str(p(done, 95)) if done else "",
        ]
    return table


async def test_the_timings_csv_matches_the_deliveries_and_outlives_them(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    jan = people["jan"]
    month = await timed_messages(dw, jan)
    page = await jan.get("/desk/stats")
    assert jan.status == 200 and "Time from sending to delivery, in seconds" in page
    assert "First delivery, 95th percentile" in page and "slowest BIN" in page
    # The month's totals of the zone's BINs: messages added up, times the slowest BIN's.
    cells = re.findall(r'class="num">([\d.]+)</td>', section(page, "timings"))
    assert cells == ["6", "2.0", "3.8", "5", "4.5", "5.8"]
    rows = await download(jan, f"/desk/stats/timings.csv?year={month[:4]}")
    assert rows[0] == TIMINGS_HEADER
    want = await expected_timings(dw, month)
    assert {r[1]: r for r in rows[1:]} == want
    # By hand: Noord's first deliveries came after 1, 2 and 4 s (the held message counted
    # from its release); the third never reached noord-2, so "all" has two messages, 3 and 6 s.
    assert want["noord"][3:] == ["3", "2.0", "3.8", "2", "4.5", "5.8"]
    assert want["zuid"][3:] == ["3", "1.5", "2.4", "3", "1.5", "2.4"]

    # Forty days on the month is final; then its deliveries go (as the retention job would
    # delete them): the times stay.
    dw.h.clock.advance(days=40)
    await jan.get(await dw.link("jan"))  # the session did not last that long
    await download(jan, f"/desk/stats/timings.csv?year={month[:4]}")
    async with dw.h.db.session() as s:
        await s.execute(delete(Delivery))
        await s.commit()
    dw.h.clock.advance(seconds=61)
    rows = await download(jan, f"/desk/stats/timings.csv?year={month[:4]}")
    assert {r[1]: r for r in rows[1:]} == want


async def test_the_timings_of_the_open_month_follow_late_deliveries(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    jan = people["jan"]
    month = await timed_messages(dw, jan)
    async with dw.h.db.session() as s:  # noord-2's failed delivery went out after all
        await s.execute(
            update(Delivery)
            .where(Delivery.status == "failed")
            .values(status="sent", sent_at=dw.h.clock.now())
        )
        await s.commit()
    rows = await download(jan, f"/desk/stats/timings.csv?year={month[:4]}")
    want = await expected_timings(dw, month)
    assert {r[1]: r for r in rows[1:]} == want and want["noord"][6] == "3"


async def nudges(dw: DeskWorld) -> dict[str, list[int]]:
    """Nudges as a resident's posts draw them, and the presses; what the test saw, per BIN:
    [101 nudges, 112 nudges, "I called" accepted, thank-yous]."""
    h = dw.h
    async with h.db.session() as s:
        groups = dict((await s.execute(select(Group.chat_id, Group.id))).all())
    seen: dict[str, list[int]] = {"noord": [0, 0, 0, 0], "zuid": [0, 0, 0, 0]}
    for chat in groups:
        h.new(chat)  # what was posted before (official messages) is not counted here

    async def post(chat: str, text: str) -> None:
        await h.say("kim", text, chat=chat)
        for said in h.new(chat):
            kinds = ("Did you call the police first?", "🚨", "✅", "👍 Thank you")
            [column] = [i for i, start in enumerate(kinds) if start in said]
            seen[chat.split("-")[0]][column] += 1

    async def press(chat: str) -> None:
        await h.press_data("kim", f"called:{groups[chat]}", chat=chat)
        if any("✅" in said for said in h.new(chat)):
            seen[chat.split("-")[0]][2] += 1

    await post("noord-1", "Er staat een verdachte wagen in de straat")
    await press("noord-1")
    await press("noord-1")  # already said: not counted twice
    await post("noord-2", "Inbraak bij de buren vannacht!")
    await post("noord-1", "Nog een inbraak verderop")  # within the cooldown: no nudge
    h.clock.advance(minutes=31)
    await post("noord-1", "Er komt zwarte rook uit het dak van de buren!!")
    await press("noord-1")
    await post("zuid-1", "politie is al verwittigd, die wagen staat er nog")
    await post("zuid-1", "Wie heeft er zin in de barbecue?")
    h.clock.advance(seconds=61)
    return seen


async def test_the_nudges_csv_counts_what_happened_and_a_recount_keeps_it(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    jan = people["jan"]
    await send(dw, jan, "zuid")  # a month with a message is recounted by the page
    seen = await nudges(dw)
    assert seen == {"noord": [2, 1, 2, 0], "zuid": [0, 0, 0, 1]}
    month = dw.h.clock.now().strftime("%Y-%m")
    page = await jan.get("/desk/stats")
    assert "Reminders to call 101 first" in page and "Reminders (112)" in page
    # Several BINs: the page shows the month's totals, the CSV a row per BIN.
    cells = re.findall(r'<td data-label="([^"]+)" class="num">(\d+)</td>', section(page, "nudges"))
    assert [int(v) for _, v in cells] == [2, 1, 2, 1] and "all BINs" in section(page, "nudges")
    page = await jan.get(f"/desk/stats?bin={dw.bins['noord']}")
    cells = re.findall(r'class="num">(\d+)</td>', section(page, "nudges"))
    assert cells == ["2", "1", "2", "0"] and "all BINs</td>" not in section(page, "nudges")
    rows = await download(jan, "/desk/stats/nudges.csv")
    assert rows[0] == NUDGES_HEADER
    want = {(month, code): [str(n) for n in counts] for code, counts in seen.items()}
    assert {(r[0], r[1]): r[3:] for r in rows[1:]} == want
    # The page recounts the open month (a minute later), then the month becomes final: the
    # counts, which no detail row holds, stay.
    for later in ({"seconds": 61}, {"days": 40}, {"seconds": 61}):
        dw.h.clock.advance(**later)
        if "days" in later:
            await jan.get(await dw.link("jan"))
        rows = await download(jan, f"/desk/stats/nudges.csv?year={month[:4]}")
        assert {(r[0], r[1]): r[3:] for r in rows[1:]} == want, later
        rows = await download(jan, f"/desk/stats/messages.csv?year={month[:4]}")
        assert [(r[0], r[1], r[5]) for r in rows[1:]] == [(month, "zuid", "1")], later


async def test_new_tables_are_shown_per_zone_and_per_bin_only(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    month = await timed_messages(dw, people["jan"])
    await nudges(dw)
    an = people["an"]  # coordinator of Noord
    for table in ("timings", "nudges"):
        rows = await download(an, f"/desk/stats/{table}.csv?year={month[:4]}")
        assert {r[1] for r in rows[1:]} == {"noord"}, table
        await an.get(f"/desk/stats/{table}.csv?bin={dw.bins['zuid']}")
        assert an.status == 404 and "zuid" not in an.text.lower(), table
    for name in ("piet", "bert"):  # Hasselt's officer, Kern's coordinator
        b = people[name]
        for table in ("timings", "nudges"):
            rows = await download(b, f"/desk/stats/{table}.csv?year={month[:4]}")
            assert rows[1:] == [], (name, table)
            await b.get(f"/desk/stats/{table}.csv?bin={dw.bins['noord']}")
            assert b.status == 404 and "noord" not in b.text.lower(), (name, table)
    assert await refused(dw, "desk.stats") == ["not_visible"] * 6


async def test_a_bad_audit_filter_is_named_and_shows_nothing(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    jan = people["jan"]
    await send(dw, jan, "noord")
    for query, field in (
        ("actor=<script>", "Actor (pseudonym)"),
        ("since=2026-13-01", "From"),
        ("since=2026-05-02&until=2026-05-01", "Until"),
        ("action=DROP TABLE", "Action"),
    ):
        page = await jan.get(f"/desk/audit?{query}")
        assert jan.status == 400, query
        assert "These filters are not valid" in page and field in page, query
        assert "0 entries" in page and "alert.compose</td>" not in page, query
        await jan.get(f"/desk/audit.csv?{query}")
        assert jan.status == 400, query
    assert "<script>" not in (await jan.get("/desk/audit?actor=<script>"))


async def test_the_audit_period_is_inclusive_and_a_page_past_the_end_shows_the_last(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    jan = people["jan"]
    day = datetime(2025, 3, 10, 12, tzinfo=dw.h.clock.now().tzinfo)
    async with dw.h.db.session() as s:
        s.add_all(
            AuditEntry(
                at=day + timedelta(days=i), actor="p-x", action="test.day", outcome="ok", zone_id=1
            )
            for i in range(5)
        )
        await s.commit()
    page = await jan.get("/desk/audit?action=test.day&since=2025-03-11&until=2025-03-13")
    assert jan.status == 200 and "3 entries" in page
    rows = await download(jan, "/desk/audit.csv?action=test.day&since=2025-03-11&until=2025-03-13")
    assert sorted(r[0][:10] for r in rows[1:]) == ["2025-03-11", "2025-03-12", "2025-03-13"]
    page = await jan.get("/desk/audit?action=test.day&page=9")
    assert jan.status == 200 and "5 entries" in page and page.count(">test.day</td>") == 5


async def test_prevention_of_the_zone_reads_its_audit_log(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    ref = await send(dw, people["jan"], "noord")
    await official(dw.h, "els", role="prevention")
    els = Browser(dw.base)
    try:
        await els.get(await dw.link("els"))
        page = await els.get("/desk/audit?action=alert.compose")
        assert els.status == 200 and ref in page
        rows = await download(els, "/desk/audit.csv?action=alert.compose")
        assert [r[4] for r in rows[1:]] == ["Beringen"]
        page = await els.get("/desk/stats")
        assert els.status == 200 and "Noord" in page and "Kern" not in page
    finally:
        await els.close()
