"""The desk's statistics: a year's monthly figures per BIN, read from `monthly_figures` (the
same counts the retention job keeps after the detail is gone), as tables and bar charts.

Only aggregates: counts per month and BIN, and the month's delivery times per BIN (median
and 95th percentile over its messages, kept as such). Nothing here reads who saw, who said
what, or who called. The open months are counted afresh when the page is asked, through the
code the retention job uses, so this month's figures are today's: at most once a minute
(REFRESH), as a recount reads every row of the open months (about a second with 100,000
members on SQLite).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.services import retention
from bot.services.desk import Viewer, may_see_figures
from storage.figures import EVENT_KINDS, EVENTS, TIMINGS

if TYPE_CHECKING:
    from bot.dispatch import Core
    from storage.tables import Bin

Value = str | int | float

# Each table: its id (also the CSV's name) and its columns; the first three are always the
# month, the BIN's code and its name.
KEYS = ("month", "bin_code", "bin")
TABLES: dict[str, tuple[str, ...]] = {
    "messages": (*KEYS, "urgency", "category", "messages"),
    "deliveries": (*KEYS, "platform", "delivered", "failed"),
    "seen": (*KEYS, "seen"),
    "members": (*KEYS, "members", "joined", "left"),
    "requests": (*KEYS, "approved", "declined", "expired"),
    # From the send time (confirmed, or the end of quiet hours for a held message) to the
    # first delivery in the BIN's groups and to the last one, in seconds; "" when no message
    # of that BIN and month was delivered (to all of its groups).
    "timings": (
        *KEYS,
        "first_messages",
        "first_median_s",
        "first_p95_s",
        "all_messages",
        "all_median_s",
        "all_p95_s",
    ),
    "nudges": (*KEYS, *(f"event_{k}" for k in EVENT_KINDS)),
}
# What each table's chart shows per month (one bar per column and month): the sum over the
# BINs shown, or for times (which do not add up) the slowest of them.
CHARTED: dict[str, tuple[str, ...]] = {
    "messages": ("messages",),
    "deliveries": ("delivered", "failed"),
    "seen": ("seen",),
    "members": ("members",),
    "requests": ("approved", "declined", "expired"),
    "timings": ("first_p95_s", "all_p95_s"),
    "nudges": ("event_nudge_101", "event_nudge_112", "event_called"),
}
SLOWEST = frozenset({"timings"})
# The figures (storage/figures.py) each table is made of: a CSV reads only its own.
FIGURES: dict[str, tuple[str, ...]] = {
    "messages": ("alerts",),
    "deliveries": ("deliveries",),
    "seen": ("seen",),
    "members": ("members", "joined", "left"),
    "requests": ("requests",),
    "timings": (TIMINGS,),
    "nudges": (EVENTS,),
}
# Columns that name what a row counts (kept apart in the totals), after the month and BIN.
DETAIL = frozenset({"urgency", "category", "platform"})
CHART_WIDTH, CHART_HEIGHT, CHART_TOP = 600, 140, 14
REFRESH = timedelta(minutes=1)
COUNTED_KEY = "desk.figures_counted"  # kv: when the page last counted the open months


@dataclass(frozen=True)
class Bar:
    """One bar of a chart, placed in SVG user units."""

    x: float
    y: float
    width: float
    height: float
    value: int | float
    series: int
    month: str


@dataclass
class Table:
    """One table of figures: raw rows (the CSV's), in the page's order."""

    name: str
    columns: tuple[str, ...]
    rows: list[tuple[Value, ...]] = field(default_factory=list)
    totals: list[tuple[Value, ...]] = field(default_factory=list)  # summed over the BINs
    bars: list[Bar] = field(default_factory=list)
    months: list[tuple[float, str]] = field(default_factory=list)  # x of each month's label
    slowest: bool = False  # the chart shows the slowest BIN per month, not the sum

    def page_rows(self, per_bin: bool) -> list[tuple[Value, ...]]:
        return self.rows if per_bin else self.totals


@dataclass
class Stats:
    """The statistics page: the year, the BINs it may show, and the tables. The page shows
    a row per BIN when one BIN is shown (`per_bin`), else the months' totals over the BINs (a
    zone's year would be thousands of rows); the CSVs always have a row per BIN."""

    year: int
    years: list[int]
    bins: list[tuple[int, str]]
    bin_id: int | None
    tables: list[Table]
    per_bin: bool = True


def _months(year: int, now_month: str) -> list[str]:
    return [m for m in (f"{year}-{n:02d}" for n in range(1, 13)) if m <= now_month]


def _tables(
    figures: list[tuple[str, int, str, str, int]], bins: dict[int, Bin]
) -> dict[str, Table]:
    """The monthly figures (month, BIN, figure, detail, value) as the page's tables."""
    wide: dict[tuple[str, tuple[Value, ...]], dict[str, int | float]] = defaultdict(dict)
    names = {i: (b.code, b.name) for i, b in bins.items()}  # read once, not once a figure
    for month, bin_id, figure, detail, value in figures:
        key: tuple[Value, ...] = (month, *names[bin_id])
        if figure == "alerts":
            urgency, _, category = detail.partition("/")
            wide["messages", (*key, urgency, category)]["messages"] = value
        elif figure == "deliveries":
            platform, _, status = detail.partition("/")
            column = {"sent": "delivered", "failed": "failed"}.get(status)
            if column is not None:
                wide["deliveries", (*key, platform)][column] = value
        elif figure in ("seen", "members", "joined"):
            wide["seen" if figure == "seen" else "members", key][figure] = value
        elif figure == "left":
            cell = wide["members", key]
            cell["left"] = cell.get("left", 0) + value
        elif figure == "requests" and detail in ("approved", "declined", "expired"):
            wide["requests", key][detail] = value
        elif figure == TIMINGS:
            if detail.endswith("_messages"):
                wide["timings", key][detail] = value
            else:  # kept in milliseconds, shown in seconds
                wide["timings", key][f"{detail}_s"] = round(value / 1000, 1)
        elif figure == EVENTS and detail in EVENT_KINDS:
            wide["nudges", key][f"event_{detail}"] = value
    tables = {name: Table(name, cols, slowest=name in SLOWEST) for name, cols in TABLES.items()}
    for (name, key), cells in sorted(wide.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        table = tables[name]
        width = len(table.columns) - len(key)
        missing: Value = "" if name == "timings" else 0
        table.rows.append((*key, *(cells.get(c, missing) for c in table.columns[-width:])))
    return tables


def _totals(table: Table) -> None:
    """The table's rows added up per month (and detail) over the BINs: counts summed, times
    the slowest BIN's (as the chart), the BIN's code and name left empty."""
    kept = [i for i, c in enumerate(table.columns) if c in DETAIL]
    numbers = [i for i, c in enumerate(table.columns) if c not in DETAIL and c not in KEYS]
    found: dict[tuple[Value, ...], list[Value]] = {}
    for row in table.rows:
        key = (row[0], *(row[i] for i in kept))
        cells = found.setdefault(key, ["" if table.slowest else 0] * len(numbers))
        for n, i in enumerate(numbers):
            value, before = row[i], cells[n]
            if isinstance(value, str):
                continue  # no time measured
            if isinstance(before, str):
                cells[n] = value
            elif table.slowest and table.columns[i].endswith("_s"):
                cells[n] = max(before, value)
            else:
                cells[n] = before + value
    for key, cells in sorted(found.items()):
        table.totals.append((key[0], "", "", *key[1:], *cells))


def _chart(table: Table, months: list[str]) -> None:
    """Bars of the table's charted columns per month (summed, or the slowest BIN's), scaled
    to the tallest."""
    charted = CHARTED[table.name]
    sums: dict[tuple[str, str], int | float] = {(m, c): 0 for m in months for c in charted}
    for row in table.rows:
        for c in charted:
            value = row[table.columns.index(c)]
            if isinstance(value, str) or (str(row[0]), c) not in sums:
                continue  # no time measured
            cell = str(row[0]), c
            sums[cell] = max(sums[cell], value) if table.slowest else sums[cell] + value
    tallest = max(sums.values(), default=0) or 1
    slot = CHART_WIDTH / 12
    width = (slot - 8) / len(charted)
    for i, m in enumerate(months):
        table.months.append((i * slot + slot / 2, m[5:]))
        for s, c in enumerate(charted):
            value = sums[m, c]
            height = round(value / tallest * (CHART_HEIGHT - CHART_TOP), 1)
            x = round(i * slot + 4 + s * width, 1)
            y = round(CHART_HEIGHT - height, 1)
            table.bars.append(Bar(x, y, round(width, 1), height, value, s, m))


async def stats(
    core: Core, who: Viewer, year: int, bin_id: int | None, only: str | None = None
) -> Stats | None:
    """A year's figures of the BINs this person may see (or of one of them), all tables or
    `only` one; None when `bin_id` is not theirs to see (the caller audits)."""
    now = core.clock.now()
    await refresh(core, now)
    async with core.uow() as uow:
        # Only the viewer's zones and BINs are read (a deployment may hold thousands).
        mine = [b for z in sorted(who.zones) for b in await uow.directory.bins(z)]
        mine += [b for i in sorted(who.coordinated) if (b := await uow.directory.bin(i))]
        visible = {b.id: b for b in mine if may_see_figures(who, b)}
        if bin_id is not None and bin_id not in visible:
            return None
        shown = [bin_id] if bin_id is not None else sorted(visible)
        names = FIGURES[only] if only is not None else None
        figures = [
            f
            for f in await uow.figures.figures(shown, since=f"{year}-01", names=names)
            if f[0] <= f"{year}-12"
        ]
        first = await uow.figures.first_month() if only is None else None  # the years
    months = _months(year, now.strftime("%Y-%m"))
    tables = _tables(figures, visible)
    per_bin = bin_id is not None or len(visible) <= 1
    if only is not None:
        tables = {only: tables[only]}
    else:  # a CSV needs neither chart nor totals
        for table in tables.values():
            _chart(table, months)
            if not per_bin:
                _totals(table)
    oldest = first.year if first is not None else now.year
    return Stats(
        year,
        list(range(now.year, min(oldest, now.year) - 1, -1)),
        [(b.id, b.name) for b in sorted(visible.values(), key=lambda b: b.name)],
        bin_id,
        list(tables.values()),
        per_bin,
    )


async def refresh(core: Core, now: datetime) -> None:
    """Count the open months into the figures unless that was done less than REFRESH ago."""
    async with core.uow() as uow:
        last = await uow.state.get(COUNTED_KEY)
    if last is not None and now - datetime.fromisoformat(last) < REFRESH:
        return
    await retention.count_figures(core, now, pause=False)
    async with core.uow() as uow:
        await uow.state.put(COUNTED_KEY, now.isoformat())
        await uow.commit()


def csv_rows(found: Stats, name: str) -> list[tuple[Value, ...]] | None:
    """One table as CSV rows, the header first; None for a table that does not exist."""
    for table in found.tables:
        if table.name == name:
            return [table.columns, *table.rows]
    return None
