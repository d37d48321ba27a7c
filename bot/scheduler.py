"""APScheduler (3.x) jobs: periodic reminders, expiries, outbox sweeps.

Modules declare jobs with `@routes.periodic(...)` (bot/commands.py); `build_scheduler` puts
the core's jobs on one AsyncIOScheduler on binbot's event loop. Jobs must be idempotent (they
write rows that exist once per period), so a double fire is harmless.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.commands import Job, Registry

if TYPE_CHECKING:
    from bot.dispatch import Core

log = logging.getLogger(__name__)

routes = Registry()


async def run_job(core: Core, job: Job) -> None:
    """Run one job, logging (never raising) its failure."""
    try:
        await job.fn(core)
    except Exception:
        log.exception("job %s failed", job.name)


async def run_all(core: Core) -> None:
    """Run every job once, in declaration order (tests and the console use this)."""
    for job in core.registry.jobs:
        await run_job(core, job)


def build_scheduler(core: Core) -> AsyncIOScheduler:
    """One scheduler with every declared job; `coalesce` folds missed runs into one."""
    scheduler = AsyncIOScheduler(timezone="UTC")
    for job in core.registry.jobs:
        scheduler.add_job(
            run_job,
            "interval",
            seconds=job.seconds,
            args=(core, job),
            id=job.name,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=max(1, int(job.seconds)),
        )
    return scheduler


@routes.periodic("conversations.sweep", seconds=60)
async def sweep_conversations(core: Core) -> None:
    """Forget conversations nobody answered in time."""
    await core.conversations.sweep()
