"""Fixtures shared by every test tier: the core harness, and PostgreSQL when reachable."""

from __future__ import annotations

import asyncio
import os
import secrets
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.fakes import Harness

# The server CI and developers have on 127.0.0.1 (trust auth); override to point elsewhere.
PG_ADMIN_URL = os.environ.get(
    "BINBOT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    """The core with a recording Telegram-like platform on a fresh SQLite file."""
    harness = await Harness.create(tmp_path)
    yield harness
    await harness.close()


async def _pg(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _pg_unreachable() -> str | None:
    try:
        import asyncpg  # noqa: F401
    except ImportError:
        return "asyncpg is not installed (pip install -e '.[test]')"
    try:
        asyncio.run(_pg("SELECT 1"))
    except Exception as exc:  # any reason to be unreachable is a reason to skip
        return f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {type(exc).__name__}: {exc}"
    return None


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A throw-away database on the local PostgreSQL for this test session (skips if none)."""
    reason = _pg_unreachable()
    if reason:
        pytest.skip(reason)
    name = f"binbot_test_{os.getpid()}_{secrets.token_hex(3)}"
    asyncio.run(_pg(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def pg_url(pg_server: str) -> AsyncIterator[str]:
    """An async URL to an empty (no tables) PostgreSQL database."""
    import asyncpg

    conn = await asyncpg.connect(pg_server, timeout=10)
    try:
        # A connection an earlier test left open (a pool not disposed, a killed process's
        # session not yet reaped) may hold a lock the reset would wait for without end.
        left = await conn.fetch(
            "SELECT pid, state FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        for row in left:
            await conn.execute("SELECT pg_terminate_backend($1)", row["pid"])
        if left:
            states = ", ".join(sorted(str(r["state"]) for r in left))
            warnings.warn(f"closed {len(left)} connection(s) left open ({states})", stacklevel=1)
        await conn.execute("SET lock_timeout = '30s'")
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()
    yield pg_server.replace("postgresql://", "postgresql+asyncpg://", 1)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each storage test runs on SQLite and on PostgreSQL (skipped, with the reason, if absent)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    return str(request.getfixturevalue("pg_url"))
