"""What `/healthz` reports: the database and its schema, each platform, the scheduler's leader.

Healthy means the database answers, its schema is at the newest migration, and every platform
this process is configured to run is running. The HTTP side lives in adapters/http.
"""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING, Any

from bot.model import Platform

if TYPE_CHECKING:
    from bot.dispatch import Core
    from bot.leader import Leadership

DB_TIMEOUT = 3.0


@functools.cache
def _head() -> str:
    from storage.db import head_revision

    return head_revision()


class Health:
    """The state `serve` keeps for the health endpoint."""

    def __init__(
        self,
        core: Core,
        *,
        process: str,
        leadership: Leadership | None = None,
        timeout: float = DB_TIMEOUT,
    ) -> None:
        self.core = core
        self.process = process
        self.leadership = leadership
        self.timeout = timeout
        self.running: set[Platform] = set()

    def started(self, platform: Platform) -> None:
        """A platform is up (serve calls this after its start returned)."""
        self.running.add(platform)

    def stopped(self, platform: Platform) -> None:
        """A platform is going down."""
        self.running.discard(platform)

    def _platform_running(self, platform: Platform) -> bool:
        if platform not in self.running:
            return False
        # An adapter that can tell whether it still runs (e.g. its receive loop died) says so.
        alive = getattr(self.core.platforms.get(platform), "running", None)
        return bool(alive) if isinstance(alive, bool) else True

    async def _database(self) -> dict[str, Any]:
        head = _head()
        try:
            current = await asyncio.wait_for(self.core.db.current_revision(), self.timeout)
        except Exception as exc:
            return {"ok": False, "reachable": False, "error": type(exc).__name__, "head": head}
        return {
            "ok": current == head,
            "reachable": True,
            "revision": current,
            "head": head,
            "at_head": current == head,
        }

    async def check(self) -> tuple[bool, dict[str, Any]]:
        """Whether this process is healthy, and the report that says why."""
        database = await self._database()
        platforms = {p.value: {"running": self._platform_running(p)} for p in self.core.platforms}
        ok = database["ok"] and all(v["running"] for v in platforms.values())
        if self.leadership is None:
            scheduler = "off"
        else:
            scheduler = "leader" if self.leadership.is_leader else "standby"
        report = {
            "status": "ok" if ok else "fail",
            "process": self.process,
            "database": database,
            "platforms": platforms,
            "scheduler": scheduler,
        }
        return ok, report
