"""Reading the audit log for the desk: one zone's entries (those naming the zone or one of
its BINs), filtered by action, actor, outcome and period, newest first, a page at a time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.tables import AuditEntry


@dataclass(frozen=True)
class AuditFilter:
    """What the audit page is narrowed to; None means any. `until` is exclusive."""

    action: str | None = None
    actor: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class AuditLogRepo:
    """The audit log, as the zone's police and prevention read it."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @staticmethod
    def _scope(q: Any, zone_ids: Sequence[int], bin_ids: Sequence[int]) -> Any:
        return q.where(
            or_(AuditEntry.zone_id.in_(list(zone_ids)), AuditEntry.bin_id.in_(list(bin_ids)))
        )

    async def page(
        self,
        zone_ids: Sequence[int],
        bin_ids: Sequence[int],
        f: AuditFilter,
        offset: int,
        limit: int,
    ) -> tuple[list[AuditEntry], int]:
        """One page of the zones' entries matching `f`, newest first, and how many match."""
        q = self._scope(select(AuditEntry), zone_ids, bin_ids)
        if f.action is not None:
            q = q.where(AuditEntry.action == f.action)
        if f.actor is not None:
            q = q.where(AuditEntry.actor == f.actor)
        if f.outcome is not None:
            q = q.where(AuditEntry.outcome == f.outcome)
        if f.since is not None:
            q = q.where(AuditEntry.at >= f.since)
        if f.until is not None:
            q = q.where(AuditEntry.at < f.until)
        total = await self.session.execute(select(func.count()).select_from(q.subquery()))
        rows = await self.session.execute(
            q.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).offset(offset).limit(limit)
        )
        return list(rows.scalars().all()), int(total.scalar_one())

    async def choices(
        self, zone_ids: Sequence[int], bin_ids: Sequence[int]
    ) -> tuple[list[str], list[str]]:
        """The actions and outcomes found in the zones' entries, for the filter's lists."""
        found = []
        for column in (AuditEntry.action, AuditEntry.outcome):
            q = self._scope(select(column).distinct(), zone_ids, bin_ids).order_by(column)
            found.append([str(v) for v in (await self.session.execute(q)).scalars().all()])
        return found[0], found[1]
