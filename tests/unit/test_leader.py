"""Scheduler leadership: one process holds a PostgreSQL advisory lock; another takes over when
its connection dies. On SQLite the one process always leads."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncpg

from bot.commands import Job, JobFn, Registry
from bot.dispatch import Core
from bot.leader import Leadership, lead_scheduler
from storage.db import Database
from storage.locks import AdvisoryLock, lock_key

RETRY = 0.2


def leadership(db: Database, log: list[str], name: str) -> Leadership:
    return Leadership(
        AdvisoryLock(db, "scheduler"),
        on_elected=lambda: log.append(f"{name} elected"),
        on_deposed=lambda: log.append(f"{name} deposed"),
        retry=RETRY,
    )


async def until(condition: object, within: float = 5.0) -> float:
    """Wait until `condition()` is true; returns the seconds it took."""
    start = time.monotonic()
    while not condition():  # type: ignore[operator]
        if time.monotonic() - start > within:
            raise AssertionError(f"not within {within}s")
        await asyncio.sleep(0.02)
    return time.monotonic() - start


def test_the_lock_key_is_stable_and_per_name() -> None:
    assert lock_key("scheduler") == lock_key("scheduler")
    assert lock_key("scheduler") != lock_key("other")
    assert -(2**63) <= lock_key("scheduler") < 2**63


async def test_on_sqlite_the_only_process_leads_at_once(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    log: list[str] = []
    lead = leadership(db, log, "a")
    await lead.start()
    assert lead.is_leader and log == ["a elected"]
    await lead.stop()
    assert not lead.is_leader and log == ["a elected", "a deposed"]
    await db.dispose()


async def test_two_processes_contend_and_exactly_one_leads(pg_url: str) -> None:
    db_a, db_b = Database(pg_url), Database(pg_url)
    log: list[str] = []
    a, b = leadership(db_a, log, "a"), leadership(db_b, log, "b")
    try:
        await a.start()
        await b.start()
        await asyncio.sleep(RETRY * 3)  # b keeps trying, and keeps failing
        assert (a.is_leader, b.is_leader) == (True, False)
        assert log == ["a elected"]
    finally:
        await a.stop()
        await b.stop()
        await db_a.dispose()
        await db_b.dispose()


async def test_when_the_leaders_connection_is_killed_the_other_takes_over(
    pg_url: str, pg_server: str
) -> None:
    db_a, db_b = Database(pg_url), Database(pg_url)
    log: list[str] = []
    a, b = leadership(db_a, log, "a"), leadership(db_b, log, "b")
    try:
        await a.start()
        await b.start()
        pid = await a.lock.backend_pid()  # type: ignore[attr-defined]
        assert pid is not None
        admin = await asyncpg.connect(pg_server)
        try:  # what a crash, an OOM kill or a network cut look like to the server
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
        # Within seconds: the next try after the server freed the lock (retry 0.2 s here),
        # with room for a loaded test machine.
        await until(lambda: b.is_leader and not a.is_leader, within=10.0)
        assert log[0] == "a elected" and sorted(log[1:]) == ["a deposed", "b elected"]
        await asyncio.sleep(RETRY * 3)  # a, alive again, stays standby
        assert (a.is_leader, b.is_leader) == (False, True)
    finally:
        await a.stop()
        await b.stop()
        await db_a.dispose()
        await db_b.dispose()


async def test_a_leader_that_stops_hands_over(pg_url: str) -> None:
    db = Database(pg_url)
    log: list[str] = []
    a, b = leadership(db, log, "a"), leadership(db, log, "b")
    try:
        await a.start()
        await b.start()
        await a.stop()
        await until(lambda: b.is_leader)
        assert log == ["a elected", "a deposed", "b elected"]
    finally:
        await b.stop()
        await db.dispose()


async def test_the_database_going_away_deposes_the_leader(pg_url: str, pg_server: str) -> None:
    db = Database(pg_url)
    log: list[str] = []
    a = leadership(db, log, "a")
    lock: AdvisoryLock = a.lock  # type: ignore[assignment]
    try:
        await a.start()
        pid = await lock.backend_pid()
        admin = await asyncpg.connect(pg_server)
        try:
            await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
        # Deposed as soon as it notices, then elected again: nobody else holds the lock.
        await until(lambda: log == ["a elected", "a deposed", "a elected"])
        assert a.is_leader
    finally:
        await a.stop()
        await db.dispose()


def core_with_jobs(db: Database, *jobs: Job) -> Core:
    """A core whose registry has only `jobs`."""
    return Core(db, registry=Registry(jobs=list(jobs)))


async def test_the_leader_runs_the_scheduled_jobs_and_stops_them_when_it_steps_down(
    tmp_path: Path,
) -> None:
    ticks: list[float] = []

    async def tick(core: Core) -> None:
        ticks.append(time.monotonic())

    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    lead = lead_scheduler(
        core_with_jobs(db, Job("tick", 0.05, tick)), AdvisoryLock(db, "scheduler"), retry=RETRY
    )
    await lead.start()
    await until(lambda: len(ticks) >= 3)
    await lead.stop()
    stopped_at = len(ticks)
    await asyncio.sleep(0.3)
    assert len(ticks) == stopped_at
    await db.dispose()


async def test_a_standby_runs_no_jobs(pg_url: str) -> None:
    ticks: list[str] = []

    def job(name: str) -> JobFn:
        async def tick(core: Core) -> None:
            ticks.append(name)

        return tick

    db = Database(pg_url)
    a = lead_scheduler(
        core_with_jobs(db, Job("tick", 0.05, job("a"))), AdvisoryLock(db, "scheduler"), retry=RETRY
    )
    await a.start()
    b = lead_scheduler(
        core_with_jobs(db, Job("tick", 0.05, job("b"))), AdvisoryLock(db, "scheduler"), retry=RETRY
    )
    await b.start()
    try:
        await asyncio.sleep(0.5)
        assert "a" in ticks and "b" not in ticks
        await a.stop()
        ticks.clear()
        await until(lambda: "b" in ticks)
        assert "a" not in ticks
    finally:
        await a.stop()
        await b.stop()
        await db.dispose()
