"""Two real `binbot run` processes on one PostgreSQL: one leads the scheduler; SIGKILL it and the
other takes over within seconds. Each process is the real composition root (`serve`), with its
health endpoint on a free loopback port."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.app import LEADER_RETRY
from storage.db import Database

ROOT = Path(__file__).resolve().parents[2]
SERVE = (
    "import asyncio; from bot.app import serve; from bot.cli import setup_logging; "
    "from config.settings import load_settings; s = load_settings(); setup_logging(s); "
    "asyncio.run(serve(s))"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Process:
    """One `serve` process and its health endpoint."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process, port: int, log: Path) -> None:
        self.name, self.proc, self.port, self.log = name, proc, port, log

    def events(self) -> list[dict[str, Any]]:
        """The process's log: one JSON object per line (BINBOT_LOG_JSON=true)."""
        lines = self.log.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines]

    async def health(self) -> dict[str, Any] | None:
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http,
                http.get(f"http://127.0.0.1:{self.port}/healthz") as resp,
            ):
                report: dict[str, Any] = await resp.json()
                return report
        except (aiohttp.ClientError, TimeoutError):
            return None


async def start(name: str, url: str, tmp_path: Path) -> Process:
    port = free_port()
    env = os.environ | {
        "BINBOT_DATABASE_URL": url,
        "BINBOT_HTTP__PORT": str(port),
        "BINBOT_PROCESS_NAME": name,
        "BINBOT_DATA_DIR": str(tmp_path / name),
        "BINBOT_LOG_JSON": "true",
    }
    path = tmp_path / f"{name}.log"
    with path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", SERVE, cwd=ROOT, env=env, stdout=log, stderr=log
        )
    return Process(name, proc, port, path)


async def until(check: Any, within: float) -> float:
    begin = time.monotonic()
    while not await check():
        if time.monotonic() - begin > within:
            raise AssertionError(f"not within {within}s")
        await asyncio.sleep(0.1)
    return time.monotonic() - begin


@pytest.fixture
async def migrated(pg_url: str) -> AsyncIterator[str]:
    """The test database at head (production runs `binbot db upgrade` once, before the fleet)."""
    db = Database(pg_url)
    await db.upgrade()
    await db.dispose()
    yield pg_url


async def test_sigkill_the_scheduler_leader_and_the_other_process_takes_over(
    migrated: str, tmp_path: Path
) -> None:
    a = await start("a", migrated, tmp_path)
    b = await start("b", migrated, tmp_path)
    procs = [a, b]
    try:
        roles: dict[str, str] = {}

        async def both_up() -> bool:
            for p in procs:
                report = await p.health()
                if report is None or report["status"] != "ok":
                    return False
                roles[p.name] = report["scheduler"]
            # Each process tries the lock as it starts; under load both may answer before
            # either has tried: wait until one leads.
            return "leader" in roles.values()

        await until(both_up, 30)
        assert sorted(roles.values()) == ["leader", "standby"], roles
        leader, standby = (a, b) if roles["a"] == "leader" else (b, a)

        leader.proc.send_signal(signal.SIGKILL)
        await leader.proc.wait()

        async def took_over() -> bool:
            report = await standby.health()
            return report is not None and report["scheduler"] == "leader"

        took = await until(took_over, LEADER_RETRY * 3)
        assert took <= LEADER_RETRY + 2

        # The survivor stops cleanly on SIGTERM, as systemd asks it to.
        standby.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(standby.proc.wait(), 20) == 0
        said = [e["event"] for e in standby.events()]
        assert said.index("scheduler leadership won") < said.index("binbot stopped")
        assert "scheduler leadership won" in [e["event"] for e in leader.events()]
    finally:
        for p in procs:
            if p.proc.returncode is None:
                p.proc.kill()
                await p.proc.wait()
