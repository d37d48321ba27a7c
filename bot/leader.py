"""Leadership: exactly one process runs the scheduler, the one holding a database lock.

Every process that may lead tries the lock every few seconds. The holder keeps checking that its
lock connection is alive; when the holder dies its connection closes, the database frees the
lock and the next try of another process wins it. Between a holder losing its connection and
noticing it, two processes may run jobs for a few seconds; jobs are idempotent for that reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from bot.dispatch import Core

log = logging.getLogger(__name__)

Hook = Callable[[], Awaitable[None] | None]
STOP_WAIT = 10.0  # seconds stopping waits for a lock check under way


class Lock(Protocol):
    """A lock that dies with its holder (storage.locks.AdvisoryLock)."""

    async def try_acquire(self) -> bool:
        """Take the lock without waiting; True when held now."""

    async def held(self) -> bool:
        """Whether the lock is still held by this process."""

    async def release(self) -> None:
        """Give the lock up."""


class Leadership:
    """Calls `on_elected` when this process wins the lock and `on_deposed` when it loses it."""

    def __init__(
        self,
        lock: Lock,
        *,
        on_elected: Hook,
        on_deposed: Hook,
        retry: float = 5.0,
        name: str = "scheduler",
    ) -> None:
        self.lock = lock
        self.retry = retry
        self.name = name
        self._on_elected = on_elected
        self._on_deposed = on_deposed
        self._leader = False
        self._task: asyncio.Task[None] | None = None

    @property
    def is_leader(self) -> bool:
        """Whether this process leads right now."""
        return self._leader

    async def start(self) -> None:
        """Try once at once (so a lone process leads from the start), then keep trying."""
        await self._step()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="leadership")

    async def stop(self) -> None:
        """Stop trying; a leader steps down and releases the lock for another process."""
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            # Bounded: stopping must not hang on a lock check stuck on a dead connection.
            done, _ = await asyncio.wait({task}, timeout=STOP_WAIT)
            if not done:
                log.warning("%s leadership: the last check did not end in time", self.name)
            elif not task.cancelled() and task.exception() is not None:
                log.warning("%s leadership: the last check failed", self.name)
        if self._leader:
            await self._set(False)
        with contextlib.suppress(Exception):
            await self.lock.release()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.retry)
            await self._step()

    async def _step(self) -> None:
        try:
            now = await (self.lock.held() if self._leader else self.lock.try_acquire())
        except Exception as exc:  # the database is away: nobody can be sure to lead
            log.warning("%s leadership: database unreachable (%s)", self.name, type(exc).__name__)
            now = False
            if self._leader:
                with contextlib.suppress(Exception):
                    await self.lock.release()
        if now != self._leader:
            await self._set(now)

    async def _set(self, leader: bool) -> None:
        self._leader = leader
        log.info("%s leadership %s", self.name, "won" if leader else "lost")
        hook = self._on_elected if leader else self._on_deposed
        try:
            result: Any = hook()
            if result is not None:
                await result
        except Exception:
            log.exception("%s leadership: switching %s failed", self.name, leader)


def lead_scheduler(core: Core, lock: Lock, *, retry: float = 5.0) -> Leadership:
    """Leadership whose holder runs the scheduler's jobs, from a fresh scheduler each term."""
    from bot.scheduler import build_scheduler

    running: list[AsyncIOScheduler] = []

    def elected() -> None:
        scheduler = build_scheduler(core)
        scheduler.start()
        running.append(scheduler)

    def deposed() -> None:
        while running:
            scheduler = running.pop()
            if scheduler.running:
                scheduler.shutdown(wait=False)

    return Leadership(lock, on_elected=elected, on_deposed=deposed, retry=retry)
