"""PostgreSQL session advisory locks, each held on a connection of its own.

A session lock lives exactly as long as the connection that took it: when the process holding
it dies, the server closes the connection and the lock is free for another process. That is
what elects the one scheduler among several `binbot run` processes. SQLite serves a single
process, which always holds every lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from storage.db import Database

log = logging.getLogger(__name__)
T = TypeVar("T")

CHECK_TIMEOUT = 5.0


def lock_key(name: str) -> int:
    """The 64-bit advisory lock key for a name (stable across processes and versions)."""
    digest = hashlib.sha256(f"binbot:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class AdvisoryLock:
    """One named lock; `try_acquire` never waits, `held` notices a lost connection."""

    def __init__(self, db: Database, name: str, *, timeout: float = CHECK_TIMEOUT) -> None:
        self.name = name
        self.key = lock_key(name)
        self._db = db
        self._timeout = timeout
        self._engine: AsyncEngine | None = None
        self._conn: AsyncConnection | None = None
        self._single = not db.is_postgres

    async def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; True when this process holds it now."""
        if self._single:
            return True
        if self._conn is not None:
            return await self.held()
        if self._engine is None:
            # NullPool: closing the connection really closes it, so the lock goes with it.
            self._engine = create_async_engine(
                self._db.url,
                poolclass=NullPool,
                isolation_level="AUTOCOMMIT",
                connect_args={"timeout": self._timeout},
            )
        conn = await asyncio.wait_for(self._engine.connect(), self._timeout)
        try:
            result = await _bounded(
                conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}),
                self._timeout,
            )
            got = bool(result.scalar())
        except BaseException:
            await _close(conn)
            raise
        if not got:
            await _close(conn)
            return False
        self._conn = conn
        return True

    async def held(self) -> bool:
        """Whether the lock's connection is still alive (and so the lock still ours)."""
        if self._single:
            return True
        conn = self._conn
        if conn is None:
            return False
        try:
            await _bounded(conn.execute(text("SELECT 1")), self._timeout)
        except Exception as exc:
            log.warning("lock %s: its connection is gone (%s)", self.name, type(exc).__name__)
            self._conn = None
            await _close(conn)
            return False
        return True

    async def backend_pid(self) -> int | None:
        """The server process id of the lock's connection (operators and tests kill it)."""
        if self._conn is None:
            return None
        result = await _bounded(self._conn.execute(text("SELECT pg_backend_pid()")), self._timeout)
        return int(result.scalar_one())

    async def release(self) -> None:
        """Give the lock up and close its connection."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await _bounded(
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key}),
                    self._timeout,
                )
            await _close(conn)
        engine, self._engine = self._engine, None
        if engine is not None:
            # Bounded too: disposing waits for the pool's connections, the lock's included.
            with contextlib.suppress(Exception):
                await _bounded(engine.dispose(), CHECK_TIMEOUT)


async def _close(conn: AsyncConnection) -> None:
    # Bounded: a server that stopped answering must not hold up a standby or a shutdown.
    with contextlib.suppress(Exception):
        await _bounded(conn.invalidate(), CHECK_TIMEOUT)
    with contextlib.suppress(Exception):
        await _bounded(conn.close(), CHECK_TIMEOUT)


# Work on a dead connection given up after its time: kept here until it ends on its own.
_ABANDONED: set[asyncio.Task[Any]] = set()


async def _bounded(work: Awaitable[T], within: float) -> T:
    """`work`, or TimeoutError after `within` seconds. Unlike asyncio.wait_for, a timeout
    does not wait for the cancelled work to finish: cancelling a query on a connection whose
    server process was killed can itself wait without end, and the lock's holder, a standby
    and a shutdown must not wait with it."""
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=within)
    except asyncio.CancelledError:
        _abandon(task)
        raise
    if not done:
        _abandon(task)
        raise TimeoutError
    return task.result()


def _abandon(task: asyncio.Task[Any]) -> None:
    task.cancel()
    _ABANDONED.add(task)
    task.add_done_callback(_ended)


def _ended(task: asyncio.Task[Any]) -> None:
    _ABANDONED.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: a dead connection's error is expected here
