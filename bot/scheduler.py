"""APScheduler (3.x) jobs: periodic reminders, expiries, outbox sweeps.

Modules declare jobs with `@periodic(...)`; `build_scheduler` puts them on one
AsyncIOScheduler on binbot's event loop. Jobs must be idempotent (they write rows that exist
once per period), so a double fire is harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler

if TYPE_CHECKING:
    from bot.dispatch import Core

log = logging.getLogger(__name__)

JobFn = Callable[["Core"], Awaitable[object]]


@dataclass(frozen=True)
class Job:
    name: str
    seconds: float
    fn: JobFn


JOBS: list[Job] = []


def periodic(name: str, *, seconds: float) -> Callable[[JobFn], JobFn]:
    """Declare a job that runs every `seconds`."""

    def deco(fn: JobFn) -> JobFn:
        JOBS.append(Job(name, seconds, fn))
        return fn

    return deco


async def run_job(core: Core, job: Job) -> None:
    """Run one job, logging (never raising) its failure."""
    try:
        await job.fn(core)
    except Exception:
        log.exception("job %s failed", job.name)


async def run_all(core: Core) -> None:
    """Run every job once, in declaration order (tests and the console use this)."""
    for job in JOBS:
        await run_job(core, job)


def build_scheduler(core: Core) -> AsyncIOScheduler:
    """One scheduler with every declared job; `coalesce` folds missed runs into one."""
    scheduler = AsyncIOScheduler(timezone="UTC")
    for job in JOBS:
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


@periodic("conversations.sweep", seconds=60)
async def sweep_conversations(core: Core) -> None:
    """Forget conversations nobody answered in time."""
    await core.conversations.sweep()
