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

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from storage.db import Database

log = logging.getLogger(__name__)

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
            result = await asyncio.wait_for(
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
            await asyncio.wait_for(conn.execute(text("SELECT 1")), self._timeout)
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
        result = await self._conn.execute(text("SELECT pg_backend_pid()"))
        return int(result.scalar_one())

    async def release(self) -> None:
        """Give the lock up and close its connection."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key}),
                    self._timeout,
                )
            await _close(conn)
        engine, self._engine = self._engine, None
        if engine is not None:
            # Bounded too: disposing waits for the pool's connections, the lock's included.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(engine.dispose(), CHECK_TIMEOUT)


async def _close(conn: AsyncConnection) -> None:
    # Bounded: a server that stopped answering must not hold up a standby or a shutdown.
    with contextlib.suppress(Exception):
        await asyncio.wait_for(conn.invalidate(), CHECK_TIMEOUT)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(conn.close(), CHECK_TIMEOUT)
