"""A small aiohttp server that receives Telegram's webhook POSTs on the caller's event loop.

python-telegram-bot's own `Updater.start_webhook` needs tornado (the `webhooks` extra); binbot
already depends on aiohttp, so the webhook is served here and each update is put on the
Application's update queue, where the same handler as in polling mode picks it up.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

UpdateSink = Callable[[dict[str, object]], Awaitable[None]]


def derive_secret(token: str) -> str:
    """A stable webhook secret derived from the bot token, for when none is configured.

    Stable so that several processes behind one load balancer agree on it; secret because only
    whoever holds the token can compute it. Telegram allows 1-256 of [A-Za-z0-9_-].
    """
    return hmac.new(token.encode(), b"binbot-telegram-webhook", hashlib.sha256).hexdigest()


def url_path(webhook_url: str) -> str:
    """The path part of the public webhook URL, which is also where the server listens."""
    return urlsplit(webhook_url).path or "/"


class WebhookServer:
    """Serves POST `path`, checks Telegram's secret header and hands each update on."""

    def __init__(
        self, *, listen: str, port: int, path: str, secret: str, sink: UpdateSink
    ) -> None:
        self._listen = listen
        self._port = port
        self._path = path
        self._secret = secret
        self._sink = sink
        self._runner: web.AppRunner | None = None
        self.port = port

    async def start(self) -> None:
        """Start listening; returns once the socket is bound."""
        app = web.Application()
        app.router.add_post(self._path, self._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self._listen, self._port)
        await site.start()
        self._runner = runner
        sockets: list[Any] = list(getattr(site._server, "sockets", None) or [])
        if sockets:  # the bound port, when 0 was asked for
            self.port = int(sockets[0].getsockname()[1])
        log.info("telegram webhook listening on %s:%s", self._listen, self.port)

    async def stop(self) -> None:
        """Stop listening and close open connections."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self._secret.encode()):
            log.warning("telegram webhook: refused a request without the right secret")
            return web.Response(status=403)
        try:
            data = await request.json(loads=json.loads)
        except ValueError:
            return web.Response(status=400)
        if not isinstance(data, dict) or "update_id" not in data:
            return web.Response(status=400)
        await self._sink(data)
        return web.Response(status=200)
