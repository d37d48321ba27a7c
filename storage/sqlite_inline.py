"""SQLite on the event loop: the standard library's sqlite3, behind SQLAlchemy's asyncio layer.

aiosqlite hands every call (execute, fetch, commit, close) to a thread of its own and waits for
the answer. SQLite answers a read from its page cache in some 15 µs, while each hand-over
wakes a thread and the event loop again: 0.3-0.9 ms on a small virtual machine, and several
per statement. binbot's work on SQLite is short statements, so the hand-over is nearly all of
the time. Here sqlite3 runs on the event loop instead, through the same SQLAlchemy dialect
(`sqlite+aiosqlite`, given this module's connection with `async_creator`), so nothing else
in storage/ changes.

Blocking the loop is kept short by never waiting for a lock inside SQLite: connections have no
busy timeout, and a statement or commit that finds the database locked (another process, or
another transaction of this process, which could never finish while the loop waits) is tried
again after an asynchronous back-off, up to `timeout` seconds, as sqlite3's own timeout
would. A write transaction's fsync at commit does block the loop, as long as the disk takes.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
FIRST_BACKOFF = 0.001
MAX_BACKOFF = 0.05


def _busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in BUSY_CODES
    return "locked" in str(exc).lower()


async def _patiently(patience: float, fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)`, tried again while SQLite reports the database locked, for `patience` s."""
    deadline = time.monotonic() + patience
    delay = FIRST_BACKOFF
    while True:
        try:
            return fn(*args)
        except sqlite3.OperationalError as exc:
            if not _busy(exc) or time.monotonic() + delay > deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(MAX_BACKOFF, delay * 2)


class Cursor:
    """The part of aiosqlite's cursor that SQLAlchemy's adapter uses."""

    def __init__(self, cursor: sqlite3.Cursor, timeout: float) -> None:
        self._cursor = cursor
        self._timeout = timeout

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Cursor:
        await _patiently(self._timeout, self._cursor.execute, sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Any) -> Cursor:
        await _patiently(self._timeout, self._cursor.executemany, sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    async def nextset(self) -> None:
        return None

    async def setinputsizes(self, *sizes: Any) -> None:
        return None

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class _Opening:
    """What `cursor()` returns: awaitable, and an async context manager, as in aiosqlite."""

    def __init__(self, cursor: Cursor) -> None:
        self._cursor = cursor

    def __await__(self) -> Any:
        return self.__aenter__().__await__()

    async def __aenter__(self) -> Cursor:
        return self._cursor

    async def __aexit__(self, *exc: object) -> None:
        await self._cursor.close()


class Connection:
    """The part of aiosqlite's connection that SQLAlchemy's adapter uses, run inline."""

    def __init__(self, conn: sqlite3.Connection, timeout: float) -> None:
        self._connection: sqlite3.Connection | None = conn
        self._timeout = timeout

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._connection is None:
            raise ValueError("no active connection")
        return self._connection

    def cursor(self) -> _Opening:
        return _Opening(Cursor(self._conn.cursor(), self._timeout))

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Cursor:
        cursor = Cursor(self._conn.cursor(), self._timeout)
        return await cursor.execute(sql, parameters)

    async def commit(self) -> None:
        await _patiently(self._timeout, self._conn.commit)

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def stop(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: Any) -> None:
        self._conn.isolation_level = value


def creator(path: str, *, timeout: float = 30.0) -> Callable[[], Any]:
    """An `async_creator` for `create_async_engine`: connections to the SQLite file `path`."""

    async def connect() -> Connection:
        # timeout=0: SQLite never waits for a lock itself; `_patiently` waits without
        # blocking the loop. check_same_thread=False: the pool may close a connection from
        # the garbage collector's thread; calls are never concurrent, the loop serialises them.
        conn = sqlite3.connect(path, timeout=0, check_same_thread=False)
        return Connection(conn, timeout)

    return connect
