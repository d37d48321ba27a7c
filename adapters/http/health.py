"""An aiohttp server on the caller's event loop: `/healthz` (JSON), `/metrics` (Prometheus)
and, when given, the desk under `/desk/` (adapters/http/desk.py).

It serves operators and load balancers, not residents, and binds 127.0.0.1 unless told
otherwise (BINBOT_HTTP__LISTEN). Neither answer carries personal data.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot import metrics
from bot.health import Health

if TYPE_CHECKING:
    from adapters.http.desk import Desk

log = logging.getLogger(__name__)


class HealthServer:
    """Serves the health report and the metrics of one process."""

    def __init__(
        self,
        health: Health,
        *,
        listen: str = "127.0.0.1",
        port: int = 0,
        desk: Desk | None = None,
    ) -> None:
        self.health = health
        self.desk = desk
        self.listen = listen
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Start listening; returns once the socket is bound (`port` is then the real one)."""
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        if self.desk is not None:
            self.desk.install(app)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.listen, self.port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        sockets: list[Any] = list(getattr(site._server, "sockets", None) or [])
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        log.info("health and metrics on http://%s:%s", self.listen, self.port)

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, request: web.Request) -> web.Response:
        ok, report = await self.health.check()
        return web.Response(
            status=200 if ok else 503,
            text=json.dumps(report, sort_keys=True),
            content_type="application/json",
        )

    async def _metrics(self, request: web.Request) -> web.Response:
        await metrics.refresh(self.health.core.db)
        body, content_type = metrics.render(request.headers.get("Accept"))
        return web.Response(body=body, headers={"Content-Type": content_type})
