"""The desk's audit log: the entries of the viewer's zones (those naming the zone or one of
its BINs), for their police and prevention. Actors are shown as the pseudonyms the log holds,
never as names; the details are what the log holds (no personal data by its own rule)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.services import alert_render as render
from bot.services.desk import Viewer, may_see_audit
from storage.audit_log import AuditFilter

if TYPE_CHECKING:
    from bot.dispatch import Core
    from storage.tables import AuditEntry, Bin, Zone

PAGE = 50
CSV_MAX = 50_000  # one export; a narrower filter gives the rest
CSV_COLUMNS = ("at_utc", "actor", "action", "outcome", "zone", "bin", "detail")


@dataclass(frozen=True)
class AuditRow:
    """One entry as the page and the CSV show it."""

    at_utc: str
    when: str
    actor: str
    action: str
    outcome: str
    zone: str
    bin: str
    detail: str

    def csv(self) -> tuple[str, ...]:
        return (
            self.at_utc,
            self.actor,
            self.action,
            self.outcome,
            self.zone,
            self.bin,
            self.detail,
        )


@dataclass
class AuditView:
    rows: list[AuditRow]
    total: int
    page: int
    pages: int
    actions: list[str]
    outcomes: list[str]


def _row(
    e: AuditEntry, zones: dict[int, Zone], bins: dict[int, Bin], lang: str | None
) -> AuditRow:
    """One entry; its local time in words only for the page (`lang`), not for the CSV, which
    has the UTC time alone (formatting thousands of local times would take most of it)."""
    b = bins.get(e.bin_id) if e.bin_id is not None else None
    zone = zones.get(e.zone_id if e.zone_id is not None else b.zone_id if b else -1)
    detail = json.dumps(e.detail, ensure_ascii=False, sort_keys=True) if e.detail else ""
    when = ""
    if lang is not None:
        when = render.when(e.at, zone, lang) if zone else e.at.strftime("%Y-%m-%d %H:%M")
    return AuditRow(
        e.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        when,
        e.actor,
        e.action,
        e.outcome,
        zone.name if zone is not None else "",
        b.name if b is not None else "",
        detail,
    )


async def audit_view(
    core: Core,
    who: Viewer,
    f: AuditFilter | None,
    page: int,
    *,
    limit: int = PAGE,
    local_times: bool = True,
) -> AuditView | None:
    """One page of the viewer's zones' audit entries matching `f` (None: a filter that is not
    valid, which matches nothing); None for someone who is not police or prevention of any
    zone (the caller audits). A page past the last one shows the last one."""
    async with core.uow() as uow:
        zones = {z.id: z for z in await uow.directory.zones() if may_see_audit(who, z.id)}
        if not zones:
            return None
        bins = {b.id: b for zid in zones for b in await uow.directory.bins(zid)}
        found: list[AuditEntry] = []
        total = 0
        if f is not None:
            scope = sorted(zones), sorted(bins)
            found, total = await uow.audit_log.page(*scope, f, (page - 1) * limit, limit)
            pages = max(1, -(-total // limit))
            if page > pages:
                page = pages
                found, total = await uow.audit_log.page(*scope, f, (page - 1) * limit, limit)
        actions, outcomes = await uow.audit_log.choices(sorted(zones), sorted(bins))
    return AuditView(
        [_row(e, zones, bins, who.lang if local_times else None) for e in found],
        total,
        page if f is not None else 1,
        max(1, -(-total // limit)),
        actions,
        outcomes,
    )


async def audit_csv(
    core: Core, who: Viewer, f: AuditFilter | None
) -> list[tuple[str, ...]] | None:
    """Every matching entry (up to CSV_MAX) as CSV rows, the header first."""
    found = await audit_view(core, who, f, 1, limit=CSV_MAX, local_times=False)
    if found is None:
        return None
    return [CSV_COLUMNS, *(r.csv() for r in found.rows)]
