"""SQLite run on the event loop (storage/sqlite_inline.py): nothing waits for a lock inside
SQLite, so a locked database never stalls the loop, and transactions of one process that
overlap both finish."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from storage import sqlite_inline
from storage.db import Database, open_database
from storage.repo import StateRepo
from storage.tables import Zone


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'inline.db'}")
    yield database
    await database.dispose()


def zone(name: str) -> Zone:
    return Zone(name=name, created_at=datetime.now(UTC))


async def zones(db: Database) -> list[str]:
    async with db.session() as s:
        return list((await s.execute(select(Zone.name).order_by(Zone.name))).scalars())


async def kv(db: Database, key: str) -> str | None:
    async with db.session() as s:
        return await StateRepo(s).get(key)


class Ticker:
    """Counts how often the event loop got to run it while something else waited."""

    def __init__(self) -> None:
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self.ticks += 1
            await asyncio.sleep(0.01)

    def __enter__(self) -> Ticker:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


def hold_write_lock(path: Path, seconds: float, held: threading.Event) -> threading.Thread:
    """Another process, as far as SQLite can tell: a connection of its own, in a thread,
    holding the write lock for `seconds`."""

    def run() -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO kv (key, value) VALUES ('elsewhere', 'yes')")
            held.set()
            threading.Event().wait(seconds)
            conn.execute("COMMIT")
        finally:
            held.set()
            conn.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


async def test_statements_run_on_the_loop_without_a_thread_per_connection(db: Database) -> None:
    before = threading.active_count()
    async with db.session() as s:
        s.add(zone("Beringen"))
    assert await zones(db) == ["Beringen"]
    assert threading.active_count() == before
    async with db.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        assert isinstance(raw.driver_connection, sqlite_inline.Connection)


async def test_overlapping_write_transactions_of_one_process_both_commit(db: Database) -> None:
    first_wrote = asyncio.Event()

    async def first() -> None:
        async with db.session() as s:
            s.add(zone("Beringen"))
            await s.flush()  # holds SQLite's write lock from here to the commit
            first_wrote.set()
            await asyncio.sleep(0.2)

    async def second() -> None:
        await first_wrote.wait()
        async with db.session() as s:
            s.add(zone("Leopoldsburg"))  # would deadlock if SQLite waited inside the loop

    with Ticker() as ticker:
        await asyncio.wait_for(asyncio.gather(first(), second()), 10)
    assert await zones(db) == ["Beringen", "Leopoldsburg"]
    assert ticker.ticks >= 10  # the loop kept running while the second waited


async def test_a_lock_held_elsewhere_is_waited_for_without_stalling_the_loop(
    db: Database, tmp_path: Path
) -> None:
    held = threading.Event()
    thread = hold_write_lock(tmp_path / "inline.db", 0.5, held)
    await asyncio.get_running_loop().run_in_executor(None, held.wait)
    with Ticker() as ticker:
        async with db.session() as s:
            s.add(zone("Beringen"))
    thread.join()
    assert await zones(db) == ["Beringen"]
    assert await kv(db, "elsewhere") == "yes"
    assert ticker.ticks >= 20  # about 0.5 s of waiting, during which the loop ran on


async def test_a_lock_held_too_long_fails_clearly_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "slow.db"
    await (await open_database(f"sqlite+aiosqlite:///{path}")).dispose()
    db = Database(f"sqlite+aiosqlite:///{path}", sqlite_lock_timeout=0.2)
    held = threading.Event()
    thread = hold_write_lock(path, 1.0, held)
    await asyncio.get_running_loop().run_in_executor(None, held.wait)
    try:
        with pytest.raises(OperationalError, match="locked"):
            async with db.session() as s:
                s.add(zone("Beringen"))
    finally:
        thread.join()
    assert await zones(db) == []
    assert await kv(db, "elsewhere") == "yes"
    await db.dispose()
