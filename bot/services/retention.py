"""The retention job: every day, count the months into the figures, then delete what has
reached the end of its period (bot/register.py says what and why; storage/retention.py how).

It runs in the one process that runs the scheduler. Every step is idempotent and works in
short transactions, each committed, so a run cut short by a restart loses nothing and the
next one goes on; a second run the same day finds nothing left to do. Each run is audited
with its counts per table. Seen marks of messages that stopped being current also go every
few minutes, so that no mark outlives its message by more than that.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.commands import Registry
from bot.services import photos
from storage.figures import GRACE, next_month
from storage.retention import STEPS

if TYPE_CHECKING:
    from bot.dispatch import Core

log = logging.getLogger(__name__)

routes = Registry()

LAST_RUN = "retention.last_run"  # kv: the UTC day of the last completed run
ACTOR = "system"
MAX_PAUSE = 0.25  # seconds


@dataclass
class Report:
    """What one run did (or, dry, would do): rows deleted per table, values cleared, months
    counted into the figures, and how long it took."""

    dry_run: bool = False
    deleted: dict[str, int] = field(default_factory=dict)
    cleared: dict[str, int] = field(default_factory=dict)
    months: int = 0
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


async def _yield(core: Core, began: float) -> None:
    """Leave the event loop to others between transactions. SQLite runs on the loop: pause
    as long as the last transaction took, so the run takes at most half of the loop and
    deliveries and updates go between; PostgreSQL works while the loop waits anyway."""
    pause = min(MAX_PAUSE, time.monotonic() - began) if core.db.is_sqlite else 0.0
    await asyncio.sleep(pause)


async def count_figures(core: Core, now: datetime, *, pause: bool = True) -> int:
    """Count every month that is not final yet into the figures (final ones are kept as they
    are); returns how many months were counted. The desk's statistics page calls it with
    `pause` False, so that the open month it shows is counted as the retention job counts it,
    without the job's pauses (usually one or two months are open)."""
    async with core.uow() as uow:
        final = await uow.figures.final_month()
        first = await uow.figures.first_month()
    start = first
    if final is not None:
        start = next_month(datetime.strptime(final, "%Y-%m").replace(tzinfo=UTC))
    months = 0
    while start is not None and start <= now:
        began = time.monotonic()
        async with core.uow() as uow:
            rows = await uow.figures.count_month(start)
            done = next_month(start) + GRACE <= now
            await uow.figures.replace_month(start, rows, final=done)
            await uow.commit()
        months += 1
        start = next_month(start)
        if pause:
            await _yield(core, began)
    return months


async def purge(core: Core, now: datetime, *, dry_run: bool = False, only: str = "") -> Report:
    """Delete (or, dry, count) every row whose time has come, table by table, one window of
    the table's key per transaction. `only` limits it to one step (the Seen sweep)."""
    report = Report(dry_run=dry_run)
    if dry_run:
        return await _rehearse(core, now, only)
    async with core.uow() as uow:
        when = await uow.retention.when(now, core.config.retention)
        report.cleared["seen_keys"] = await uow.retention.forget_keys(when)
        if not only:
            report.cleared["receipts"] = await uow.retention.clear_receipts(when)
            report.cleared["answers"] = await uow.retention.clear_answers()
        await uow.commit()
    for step in STEPS:
        if only and step.name != only:
            continue
        async with core.uow() as uow:
            span = await uow.retention.key_range(step.name)
        total = 0
        low, high = span or (0, -1)
        for start in range(low, high + 1, step.window):
            began = time.monotonic()
            async with core.uow() as uow:
                n = await uow.retention.purge_window(step.name, when, start, start + step.window)
                if n:
                    await uow.commit()
            total += n
            await _yield(core, began)
        report.deleted[step.name] = total
    if not only:
        # Photo files no row names any more (a failed or interrupted deletion).
        report.deleted["media_files"] = await photos.sweep_strays(core, now)
    return report


async def _rehearse(core: Core, now: datetime, only: str) -> Report:
    """A dry run: the whole purge in one transaction that is rolled back, so the counts are
    exactly what a run would delete (people whose last membership or request goes in an
    earlier step included), and nothing changes."""
    report = Report(dry_run=True)
    async with core.uow() as uow:
        when = await uow.retention.when(now, core.config.retention)
        await uow.retention.forget_keys(when)
        for step in STEPS:
            if only and step.name != only:
                continue
            span = await uow.retention.key_range(step.name)
            low, high = span or (0, -1)
            n = await uow.retention.purge_window(step.name, when, low, high + 1) if span else 0
            report.deleted[step.name] = n
        await uow.rollback()
    if not only:
        report.deleted["media_files"] = await photos.sweep_strays(core, now, dry_run=True)
    return report


async def run(core: Core, *, dry_run: bool = False) -> Report:
    """One retention run: figures first, then the deletions, then the audit entry."""
    began = time.monotonic()
    now = core.clock.now()
    months = 0 if dry_run else await count_figures(core, now)
    report = await purge(core, now, dry_run=dry_run)
    report.months = months
    report.seconds = round(time.monotonic() - began, 3)
    if not dry_run:
        async with core.uow() as uow:
            await uow.audit.record(
                now,
                ACTOR,
                "retention.run",
                deleted=dict(report.deleted),
                cleared=dict(report.cleared),
                months=months,
            )
            await uow.commit()
        log.info("retention run: %d rows deleted in %.1f s", report.total, report.seconds)
    return report


@routes.periodic("retention.daily", seconds=3600)
async def daily(core: Core) -> None:
    """Run the retention rules once a day (checked hourly, so a restart never skips a day)."""
    today = core.clock.now().date().isoformat()
    async with core.uow() as uow:
        if await uow.state.get(LAST_RUN) == today:
            return
    await run(core)
    async with core.uow() as uow:
        await uow.state.put(LAST_RUN, today)
        await uow.commit()


@routes.periodic("retention.seen", seconds=300)
async def sweep_seen(core: Core) -> None:
    """Delete the Seen marks and keys of messages that are no longer current."""
    await purge(core, core.clock.now(), only="seen")
