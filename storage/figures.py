"""Monthly figures per BIN: counted from the detailed rows before these reach the end of their
retention period, and kept in `monthly_figures` after the rows are gone.

A month's figures are recounted by every retention run until the month is final (GRACE after
it ended, when late deliveries and decisions are in); from then on they are never touched,
and the retention rules delete no detail of a month that is not final yet, so a year's
figures stay right after its rows are gone. Months are calendar months in UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, or_, select
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
        return rows

    async def replace_month(self, start: datetime, rows: Sequence[Row], *, final: bool) -> None:
        """Store a month's figures in place of what was counted before; `final` closes it."""
        month = month_name(start)
        await self.session.execute(delete(MonthlyFigure).where(MonthlyFigure.month == month))
        if rows:
            values = [
                {"month": month, "bin_id": b, "figure": f, "detail": d, "value": v}
                for b, f, d, v in rows
            ]
            await self.session.execute(insert(MonthlyFigure), values)
        if final:
            await StateRepo(self.session).put(FINAL_KEY, month)
        await self.session.flush()

    async def figures(
        self, bin_ids: Sequence[int], since: str | None = None
    ) -> list[tuple[str, int, str, str, int]]:
        """(month, BIN id, figure, detail, value) of some BINs, oldest month first."""
        q = select(
            MonthlyFigure.month,
            MonthlyFigure.bin_id,
            MonthlyFigure.figure,
            MonthlyFigure.detail,
            MonthlyFigure.value,
        ).where(MonthlyFigure.bin_id.in_(list(bin_ids)))
        if since is not None:
            q = q.where(MonthlyFigure.month >= since)
        q = q.order_by(MonthlyFigure.month, MonthlyFigure.bin_id, MonthlyFigure.figure)
        return [(m, b, f, d, v) for m, b, f, d, v in await self._rows(q)]
