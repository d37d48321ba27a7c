"""Monthly figures per BIN: counted from the detailed rows before these reach the end of their
retention period, and kept in `monthly_figures` after the rows are gone.

A month's figures are recounted by every retention run until the month is final (GRACE after
it ended, when late deliveries and decisions are in); from then on they are never touched,
and the retention rules delete no detail of a month that is not final yet, so a year's
figures stay right after its rows are gone. Months are calendar months in UTC.

Delivery times are counted per message and BIN (from the message's send time to its first
and to its last delivery in the BIN's groups), and only the month's median and 95th
percentile over the BIN's messages are kept, in milliseconds.

Some things leave no row to count later: a 101 nudge, an "I called 101" press, a thank-you.
They are counted when they happen (`count_event`), under the figure EVENTS, which a recount
leaves alone: the same table, the same period and the same reader as the other figures, and
like them a count per BIN and month only, never who or what was said.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.repo import StateRepo
from storage.tables import (
    Alert,
    AlertTarget,
    Delivery,
    Group,
    JoinRequest,
    Membership,
    MonthlyFigure,
)

GRACE = timedelta(days=7)
FINAL_KEY = "retention.figures_final"  # kv: the newest month whose figures are final
OPEN_STATUSES = ("intake", "pending")
TIMINGS = "timings"  # details: first/all + _median/_p95 (ms), and the messages timed
EVENTS = "events"  # counted as they happen, never recounted: details are EVENT_KINDS
EVENT_KINDS = ("nudge_101", "nudge_112", "called", "thanks")
MAX_MS = 2**31 - 1  # the figure's column is a 32-bit integer (about 24 days)


def month_start(when: datetime) -> datetime:
    """Midnight UTC of the first day of `when`'s month."""
    when = when.astimezone(UTC)
    return when.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month(start: datetime) -> datetime:
    """The first day of the month after the one starting at `start`."""
    return (start + timedelta(days=32)).replace(day=1)


def month_name(start: datetime) -> str:
    return start.strftime("%Y-%m")


def first_open_month(now: datetime) -> datetime:
    """The start of the oldest month whose figures are not final at `now`: no detail from it
    on may be deleted yet."""
    return month_start(now - GRACE)


Row = tuple[int, str, str, int]  # bin id, figure, detail, value


def percentile(values: Sequence[int], p: int) -> int:
    """The p-th percentile of `values` (inclusive method: between the nearest ranks), in the
    values' unit, rounded to a whole one."""
    if len(values) == 1:
        return values[0]
    return round(statistics.quantiles(values, n=100, method="inclusive")[p - 1])


def timing_rows(found: Sequence[tuple[int, datetime, int, int, Any, Any]]) -> list[Row]:
    """Per BIN: median and 95th percentile over its messages of the time from a message's
    send time to its first delivery (messages with one at least), and to its last one (only
    messages whose every delivery in the BIN's groups went out), and how many were timed.

    `found` holds, per message and BIN: the BIN, the send time, the deliveries, how many went
    out, and the first and last sent time."""
    first: dict[int, list[int]] = defaultdict(list)
    every: dict[int, list[int]] = defaultdict(list)
    for bin_id, release, total, sent, earliest, latest in found:
        if not sent:
            continue
        first[bin_id].append(_ms(earliest - release))
        if sent == total:
            every[bin_id].append(_ms(latest - release))
    rows: list[Row] = []
    for bin_id, values in first.items():
        rows.append((bin_id, TIMINGS, "first_messages", len(values)))
        rows.append((bin_id, TIMINGS, "first_median", percentile(values, 50)))
        rows.append((bin_id, TIMINGS, "first_p95", percentile(values, 95)))
        if done := every.get(bin_id):
            rows.append((bin_id, TIMINGS, "all_messages", len(done)))
            rows.append((bin_id, TIMINGS, "all_median", percentile(done, 50)))
            rows.append((bin_id, TIMINGS, "all_p95", percentile(done, 95)))
    return rows


def _ms(delta: timedelta) -> int:
    """A duration in whole milliseconds, within what the figure can hold (a delivery is never
    before its message's send time; a clock step back counts as none)."""
    return min(MAX_MS, max(0, round(delta.total_seconds() * 1000)))


class FigureRepo:
    """Counting months into `monthly_figures`, over one session/transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _rows(self, q: Any) -> list[Any]:
        return list((await self.session.execute(q)).all())

    async def final_month(self) -> str | None:
        """The newest month whose figures are final ("YYYY-MM"), if any."""
        return await StateRepo(self.session).get(FINAL_KEY)

    async def first_month(self) -> datetime | None:
        """The start of the oldest month any counted row belongs to."""
        firsts = [
            select(func.min(Alert.created_at)),
            select(func.min(Membership.joined_at)),
            select(func.min(JoinRequest.created_at)),
            select(func.min(Delivery.created_at)),
        ]
        found = [v for q in firsts if (v := (await self.session.execute(q)).scalar())]
        return month_start(min(found)) if found else None

    async def count_month(self, start: datetime) -> list[Row]:
        """Every figure of every BIN for the month starting at `start`."""
        end = next_month(start)
        rows: list[Row] = []
        alerts = (
            select(AlertTarget.bin_id, Alert.urgency, Alert.category, func.count())
            .join(Alert, Alert.id == AlertTarget.alert_id)
            .where(Alert.created_at >= start, Alert.created_at < end)
            .group_by(AlertTarget.bin_id, Alert.urgency, Alert.category)
        )
        rows += [(b, "alerts", f"{u}/{c}", n) for b, u, c, n in await self._rows(alerts)]
        seen = (
            select(AlertTarget.bin_id, func.sum(Alert.seen_count))
            .join(Alert, Alert.id == AlertTarget.alert_id)
            .where(Alert.created_at >= start, Alert.created_at < end)
            .group_by(AlertTarget.bin_id)
        )
        rows += [(b, "seen", "", int(n or 0)) for b, n in await self._rows(seen)]
        sent = (
            select(Group.bin_id, Delivery.platform, Delivery.status, func.count())
            .join(Group, Group.id == Delivery.group_id)
            .where(Delivery.created_at >= start, Delivery.created_at < end)
            .group_by(Group.bin_id, Delivery.platform, Delivery.status)
        )
        rows += [(b, "deliveries", f"{p}/{s}", n) for b, p, s, n in await self._rows(sent)]
        members = (
            select(Membership.bin_id, func.count())
            .where(
                Membership.joined_at < end,
                or_(Membership.status == "active", Membership.ended_at >= end),
            )
            .group_by(Membership.bin_id)
        )
        rows += [(b, "members", "", n) for b, n in await self._rows(members)]
        joined = (
            select(Membership.bin_id, func.count())
            .where(Membership.joined_at >= start, Membership.joined_at < end)
            .group_by(Membership.bin_id)
        )
        rows += [(b, "joined", "", n) for b, n in await self._rows(joined)]
        left = (
            select(Membership.bin_id, Membership.status, func.count())
            .where(
                Membership.status != "active",
                Membership.ended_at >= start,
                Membership.ended_at < end,
            )
            .group_by(Membership.bin_id, Membership.status)
        )
        rows += [(b, "left", s, n) for b, s, n in await self._rows(left)]
        decided = (
            select(JoinRequest.bin_id, JoinRequest.status, func.count())
            .where(
                JoinRequest.status.not_in(OPEN_STATUSES),
                JoinRequest.decided_at >= start,
                JoinRequest.decided_at < end,
            )
            .group_by(JoinRequest.bin_id, JoinRequest.status)
        )
        rows += [(b, "requests", s, n) for b, s, n in await self._rows(decided)]
        # The message's own deliveries (not its follow-ups') to the groups of each BIN it
        # went to, one row per message and BIN; the percentiles are taken in Python.
        timed = (
            select(
                AlertTarget.bin_id,
                Alert.release_at,
                func.count(),
                func.count(Delivery.sent_at),
                func.min(Delivery.sent_at),
                func.max(Delivery.sent_at),
            )
            .join(Alert, Alert.id == AlertTarget.alert_id)
            .join(Delivery, Delivery.alert_id == Alert.id)
            .join(Group, and_(Group.id == Delivery.group_id, Group.bin_id == AlertTarget.bin_id))
            .where(
                Alert.created_at >= start,
                Alert.created_at < end,
                Delivery.followup_id.is_(None),
            )
            .group_by(AlertTarget.bin_id, Alert.id, Alert.release_at)
        )
        rows += timing_rows(await self._rows(timed))
        return rows

    async def replace_month(self, start: datetime, rows: Sequence[Row], *, final: bool) -> None:
        """Store a month's figures in place of what was counted before; `final` closes it.
        The events counted as they happened (EVENTS) stay: no row is left to recount them."""
        month = month_name(start)
        recounted = MonthlyFigure.figure != EVENTS
        await self.session.execute(
            delete(MonthlyFigure).where(MonthlyFigure.month == month, recounted)
        )
        if rows:
            values = [
                {"month": month, "bin_id": b, "figure": f, "detail": d, "value": v}
                for b, f, d, v in rows
            ]
            await self.session.execute(insert(MonthlyFigure), values)
        if final:
            await StateRepo(self.session).put(FINAL_KEY, month)
        await self.session.flush()

    async def count_event(self, when: datetime, bin_id: int, kind: str) -> None:
        """Add one to this month's count of `kind` (EVENT_KINDS) in the BIN: a single upsert,
        so that processes counting at once lose nothing."""
        if kind not in EVENT_KINDS:
            raise ValueError(f"not an event that is counted: {kind}")
        values = {
            "month": month_name(month_start(when)),
            "bin_id": bin_id,
            "figure": EVENTS,
            "detail": kind,
            "value": 1,
        }
        if self.session.get_bind().dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt: Any = pg_insert(MonthlyFigure)
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            stmt = sqlite_insert(MonthlyFigure)
        stmt = stmt.values(**values)
        await self.session.execute(
            stmt.on_conflict_do_update(
                index_elements=["month", "bin_id", "figure", "detail"],
                set_={"value": MonthlyFigure.value + 1},
            )
        )

    async def figures(
        self,
        bin_ids: Sequence[int],
        since: str | None = None,
        names: Sequence[str] | None = None,
    ) -> list[tuple[str, int, str, str, int]]:
        """(month, BIN id, figure, detail, value) of some BINs (and only the figures `names`,
        if given), oldest month first."""
        q = select(
            MonthlyFigure.month,
            MonthlyFigure.bin_id,
            MonthlyFigure.figure,
            MonthlyFigure.detail,
            MonthlyFigure.value,
        ).where(MonthlyFigure.bin_id.in_(list(bin_ids)))
        if since is not None:
            q = q.where(MonthlyFigure.month >= since)
        if names is not None:
            q = q.where(MonthlyFigure.figure.in_(list(names)))
        q = q.order_by(MonthlyFigure.month, MonthlyFigure.bin_id, MonthlyFigure.figure)
        return [(m, b, f, d, v) for m, b, f, d, v in await self._rows(q)]
