"""The operator's endpoint: /healthz and /metrics over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.http.health import HealthServer
from bot import metrics
from bot.app import serve
from bot.dispatch import Core
from bot.health import Health
from config.settings import load_settings
from storage.db import Database
from storage.tables import Alert, Delivery, Group
from tests.fakes import Harness
from tests.unit.test_groups_support import ready, rows


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def get(port: int, path: str) -> tuple[int, str, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}{path}") as resp,
    ):
        return resp.status, resp.headers.get("Content-Type", ""), await resp.text()


async def healthz(port: int) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/healthz") as resp,
    ):
        return resp.status, await resp.json()


def sample(text: str, name: str, **labels: str) -> float:
    """One sample's value from the Prometheus text format (0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        m = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
        if m and m[1] == name:
            got = ",".join(sorted((m[2] or "").split(","))) if m[2] else ""
            if got == want:
                return float(m[3])
    return 0.0


@pytest.fixture
async def served(h: Harness) -> AsyncIterator[tuple[Harness, Health, int]]:
    """The harness's core behind a health server on a free loopback port."""
    health = Health(h.core, process="test-1")
    health.started(h.platform.platform)
    server = HealthServer(health, listen="127.0.0.1", port=0)
    await server.start()
    try:
        yield h, health, server.port
    finally:
        await server.stop()


async def test_healthz_is_200_with_the_database_at_head_and_the_platform_running(
    served: tuple[Harness, Health, int],
) -> None:
    _, _, port = served
    status, report = await healthz(port)
    assert status == 200
    assert report["status"] == "ok" and report["process"] == "test-1"
    db = report["database"]
    assert db["reachable"] and db["at_head"] and db["revision"] == db["head"]
    assert report["platforms"] == {"telegram": {"running": True}}
    assert report["scheduler"] == "off"


async def test_healthz_is_503_while_a_platform_is_not_running(
    served: tuple[Harness, Health, int],
) -> None:
    h, health, port = served
    health.stopped(h.platform.platform)
    status, report = await healthz(port)
    assert status == 503 and report["status"] == "fail"
    assert report["platforms"] == {"telegram": {"running": False}}


async def test_healthz_is_503_when_the_schema_is_behind(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")  # never migrated
    server = HealthServer(Health(Core(db), process="p"), port=0)
    await server.start()
    try:
        status, report = await healthz(server.port)
    finally:
        await server.stop()
        await db.dispose()
    assert status == 503
    assert report["database"]["reachable"] is True
    assert report["database"]["at_head"] is False and report["database"]["revision"] is None


async def test_healthz_is_503_quickly_when_the_database_is_unreachable() -> None:
    db = Database(f"postgresql+asyncpg://binbot@127.0.0.1:{free_port()}/binbot")
    server = HealthServer(Health(Core(db), process="p", timeout=2.0), port=0)
    await server.start()
    try:
        status, report = await asyncio.wait_for(healthz(server.port), 10)
    finally:
        await server.stop()
        await db.dispose()
    assert status == 503
    assert report["database"]["reachable"] is False and "error" in report["database"]


async def test_metrics_count_updates_per_platform_and_kind(
    served: tuple[Harness, Health, int],
) -> None:
    h, _, port = served
    status, ctype, before = await get(port, "/metrics")
    assert status == 200 and ctype.startswith("text/plain")
    await h.say("jan", "/help")
    await h.say("jan", "/numbers")
    await h.say("jan", "hallo", chat="buurt")
    _, _, after = await get(port, "/metrics")

    def grew(kind: str) -> float:
        labels = {"platform": "telegram", "kind": kind}
        return sample(after, "binbot_updates_total", **labels) - sample(
            before, "binbot_updates_total", **labels
        )

    assert grew("command") == 2 and grew("message") == 1


async def test_metrics_read_deliveries_and_join_requests_from_the_database(
    served: tuple[Harness, Health, int],
) -> None:
    h, _, port = served
    _, _, text = await get(port, "/metrics")
    assert sample(text, "binbot_join_requests_pending") == 0
    assert sample(text, "binbot_database_up") == 1

    await ready(h)
    await h.ask_join("jan", "buurt")
    await h.say("jan", "Kerkstraat 12")
    [group] = await rows(h, Group)
    now = h.clock.now()
    async with h.db.session() as s:
        alert = Alert(
            ref="A-TEST",
            zone_id=1,
            author_role="police",
            urgency="urgent",
            category="other",
            text="x",
            created_at=now,
            release_at=now,
            valid_until=now + timedelta(days=1),
        )
        s.add(alert)
        await s.flush()
        for status in ("pending", "pending", "sent", "failed"):
            s.add(
                Delivery(
                    alert_id=alert.id,
                    followup_id=None,
                    group_id=group.id,
                    platform="telegram",
                    chat_id=f"c-{status}-{id(status)}",
                    status=status,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
    _, _, text = await get(port, "/metrics")
    assert sample(text, "binbot_join_requests_pending") == 1
    assert sample(text, "binbot_deliveries", platform="telegram", status="pending") == 2
    assert sample(text, "binbot_deliveries", platform="telegram", status="sent") == 1
    assert sample(text, "binbot_deliveries", platform="telegram", status="failed") == 1


async def test_metrics_show_send_latency_and_rate_limits(
    served: tuple[Harness, Health, int],
) -> None:
    _, _, port = served
    _, _, before = await get(port, "/metrics")
    metrics.observe_send("matrix", 0.2)
    metrics.observe_send("matrix", 3.0)
    metrics.count_429("matrix")
    _, _, after = await get(port, "/metrics")
    count = "binbot_delivery_seconds_count"
    assert sample(after, count, platform="matrix") - sample(before, count, platform="matrix") == 2
    le = {"platform": "matrix", "le": "0.25"}
    assert (
        sample(after, "binbot_delivery_seconds_bucket", **le)
        - sample(before, "binbot_delivery_seconds_bucket", **le)
        == 1
    )
    assert (
        sample(after, "binbot_rate_limited_total", platform="matrix")
        - sample(before, "binbot_rate_limited_total", platform="matrix")
        == 1
    )


async def test_metrics_say_the_database_is_down_when_it_is(tmp_path: Path) -> None:
    db = Database(f"postgresql+asyncpg://binbot@127.0.0.1:{free_port()}/binbot")
    server = HealthServer(Health(Core(db), process="p"), port=0)
    await server.start()
    try:
        status, _, text = await get(server.port, "/metrics")
    finally:
        await server.stop()
        await db.dispose()
    assert status == 200 and sample(text, "binbot_database_up") == 0


async def test_serve_answers_healthz_and_leads_the_scheduler(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("BINBOT_DATABASE_URL", str(tmp_path / "serve.db"))
    monkeypatch.setenv("BINBOT_HTTP__PORT", str(port))
    monkeypatch.setenv("BINBOT_PROCESS_NAME", "web-1")
    stop = asyncio.Event()
    task = asyncio.create_task(serve(load_settings(), stop))
    try:
        for _ in range(200):
            try:
                status, report = await healthz(port)
                break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
        assert status == 200
        assert report["process"] == "web-1" and report["scheduler"] == "leader"
        assert report["platforms"] == {}
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    with pytest.raises(aiohttp.ClientConnectionError):
        await healthz(port)


async def test_a_process_that_opts_out_of_the_scheduler_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("BINBOT_DATABASE_URL", str(tmp_path / "serve.db"))
    monkeypatch.setenv("BINBOT_HTTP__PORT", str(port))
    monkeypatch.setenv("BINBOT_RUN_SCHEDULER", "false")
    stop = asyncio.Event()
    task = asyncio.create_task(serve(load_settings(), stop))
    try:
        for _ in range(200):
            try:
                _, report = await healthz(port)
                break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
        assert report["scheduler"] == "off"
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
