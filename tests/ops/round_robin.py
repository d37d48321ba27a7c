"""A round-robin load balancer on loopback, as production puts in front of the webhook ports.

    proxy = RoundRobinProxy({"web1": port1, "web2": port2})
    await proxy.start()            # proxy.url("/tg") is the webhook URL to give Telegram
    ...
    proxy.routes[update_id]        # which backend the POST carrying that update went to
    proxy.next_to("web2")          # the next POST goes there; alternation goes on from it

Each POST goes, with its body and headers, to the next backend in turn, and is answered with
what that backend answered (502 when it cannot be reached, so that the sender retries, as
Telegram does).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp
from aiohttp import web

log = logging.getLogger(__name__)

_HOP_BY_HOP = {"host", "content-length", "connection", "transfer-encoding", "keep-alive"}


class RoundRobinProxy:
    """Forwards each request alternately to its backends (name -> port on 127.0.0.1)."""

    def __init__(self, backends: dict[str, int]) -> None:
        self.backends = dict(backends)
        self.names = list(backends)
        self.host = "127.0.0.1"
        self.port = 0
        self.routes: dict[int, str] = {}
        """update_id -> the backend that answered the POST carrying it."""
        self.forwarded: list[tuple[str, int]] = []
        """(backend, HTTP status) of every forwarded request, in order."""
        self._turn = 0
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None

    def url(self, path: str = "/") -> str:
        """The public URL of `path` behind the proxy."""
        return f"http://{self.host}:{self.port}{path}"

    def next_to(self, name: str) -> None:
        """Send the next request to backend `name`; alternation goes on from there."""
        self._turn = self.names.index(name)

    async def start(self) -> None:
        """Listen on a free loopback port."""
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._forward)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, 0)
        await site.start()
        self._runner = runner
        sockets: list[Any] = list(getattr(site._server, "sockets", None) or [])
        self.port = int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening and close the connections to the backends."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._http is not None
        name = self.names[self._turn]
        self._turn = (self._turn + 1) % len(self.names)
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        url = f"http://127.0.0.1:{self.backends[name]}{request.rel_url}"
        try:
            async with self._http.request(
                request.method, url, data=body, headers=headers
            ) as answer:
                status, text = answer.status, await answer.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.info("proxy: %s unreachable: %r", name, exc)
            self.forwarded.append((name, 502))
            return web.Response(status=502)
        self.forwarded.append((name, status))
        if 200 <= status < 300:
            update_id = _update_id(body)
            if update_id is not None:
                self.routes[update_id] = name
        return web.Response(status=status, body=text)


def _update_id(body: bytes) -> int | None:
    try:
        found = json.loads(body).get("update_id")
    except (ValueError, AttributeError):
        return None
    return found if isinstance(found, int) else None
