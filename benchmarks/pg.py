"""A throw-away database on a PostgreSQL server, for the benchmarks that measure on one."""

from __future__ import annotations

import secrets
import sys


async def postgres_database(admin_url: str) -> tuple[str, str] | None:
    """A fresh database on the PostgreSQL at `admin_url`, or None when none is reachable."""
    try:
        import asyncpg

        conn = await asyncpg.connect(admin_url, timeout=5)
    except Exception as exc:
        print(f"PostgreSQL not reachable at {admin_url}: {type(exc).__name__}", file=sys.stderr)
        return None
    name = f"binbot_bench_{secrets.token_hex(4)}"
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}", name


async def drop_postgres(admin_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url, timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
