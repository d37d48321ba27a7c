"""A fake Telegram Bot API server on loopback, for testing the real python-telegram-bot.

    async with FakeBotApi() as api:
        settings = TelegramSettings(token=SecretStr(api.token), base_url=api.base_url)
        jan = api.add_user("Jan", "Peeters")
        group = api.add_group("BIN Noord", members=[jan])
        api.user_writes(jan, "/start", None)          # the bot receives it on getUpdates
        ...
        assert api.texts(group) == ["..."]            # what members see of the bot

It keeps users, chats, members and messages (modules botapi_state / botapi_world), answers the
Bot API methods the adapter uses with Telegram's own errors (botapi_methods for the bot,
updates and messages; botapi_members for chats and members), enforces the
flood limits (botapi_flood), parses HTML like Telegram (botapi_html), long-polls and pushes to
webhooks (botapi_updates), and lets tests make people act (botapi_inject) or make it fail
(`fail_next`, `delay_next`, `delay_chat`, `forbid`, `migrate`). It binds to 127.0.0.1 only.

Several bots may share one server, each told apart by its own base URL: a client given
`api.base_url_for("web1")` is recorded with `caller == "web1"` on every call it makes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiohttp import web

from tests.telegram.botapi_flood import FloodLimits
from tests.telegram.botapi_inject import Injections
from tests.telegram.botapi_methods import Methods
from tests.telegram.botapi_photos import PhotoMethods
from tests.telegram.botapi_state import JSON, ApiError, FakeChat

log = logging.getLogger(__name__)

DEFAULT_TOKEN = "5550001234:AAFakeTokenForTheBinbotTestSuite_0123"
DEFAULT_USERNAME = "binbot_test_bot"


@dataclass
class ApiCall:
    """One request the server received."""

    method: str
    params: JSON
    at: float
    caller: str = ""
    """The name in the base URL the client used (`base_url_for`), else empty."""


@dataclass
class Fault:
    """A failure to answer the next call of a method with: an HTTP status and/or a delay."""

    status: int | None = None
    description: str = "Internal Server Error"
    parameters: JSON | None = None
    delay: float = 0.0


class FakeBotApi(Methods, PhotoMethods, Injections):
    """The fake Bot API server. Use as `async with FakeBotApi() as api:` or start()/stop()."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        bot_username: str = DEFAULT_USERNAME,
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
        flood: FloodLimits | None = None,
    ) -> None:
        super().__init__(token=token, bot_username=bot_username, clock=clock)
        if flood is not None:
            self.flood.limits = flood
        self.host = "127.0.0.1"
        self.port = port
        self.calls: list[ApiCall] = []
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)
        self._slow_chats: dict[str, deque[float]] = defaultdict(deque)
        self._runner: web.AppRunner | None = None

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """What python-telegram-bot takes as `base_url` (the token is appended to it)."""
        return f"http://{self.host}:{self.port}/bot"

    def base_url_for(self, caller: str) -> str:
        """A `base_url` whose every call is recorded with `caller`, to tell clients apart."""
        return f"http://{self.host}:{self.port}/via/{caller}/bot"

    @property
    def base_file_url(self) -> str:
        """What python-telegram-bot takes as `base_file_url`."""
        return f"http://{self.host}:{self.port}/file/bot"

    async def start(self) -> None:
        """Listen on 127.0.0.1 (a free port unless one was given)."""
        app = web.Application(client_max_size=12 * 1024 * 1024)  # photos: 10 MB and the form
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("GET", "/file/bot{token}/{path:.*}", self._file)
        app.router.add_route("*", "/via/{caller}/bot{token}/{method}", self._handle)
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        sockets: list[Any] = list(getattr(site._server, "sockets", None) or [])
        self.port = int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """End waiting long polls and webhook pushes, then close the listener."""
        await self.updates.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotApi:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- failures on demand --------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        times: int = 1,
        *,
        status: int = 500,
        description: str = "Internal Server Error",
        parameters: JSON | None = None,
    ) -> None:
        """The next `times` calls of `method` answer `status` with Telegram's error shape."""
        for _ in range(times):
            self._faults[method.lower()].append(Fault(status, description, parameters))

    def delay_next(self, method: str, seconds: float, times: int = 1) -> None:
        """The next `times` calls of `method` are answered (normally) after `seconds`."""
        for _ in range(times):
            self._faults[method.lower()].append(Fault(delay=seconds))

    def delay_chat(self, chat: FakeChat | int, seconds: float, times: int = 1) -> None:
        """The next `times` calls naming `chat` are handled only after `seconds`, so that the
        world can change while the request is in flight (answered as the world is by then)."""
        chat_id = chat.id if isinstance(chat, FakeChat) else chat
        self._slow_chats[str(chat_id)].extend([seconds] * times)

    # -- inspection ----------------------------------------------------------------------

    def calls_to(self, method: str, caller: str | None = None) -> list[JSON]:
        """The parameters of every call of `method` (by `caller`, if given), oldest first."""
        return [
            c.params
            for c in self.calls
            if c.method.lower() == method.lower() and caller in (None, c.caller)
        ]

    @property
    def flood_429_count(self) -> int:
        """How many requests were refused with 429 for flooding."""
        return self.flood.refused

    async def wait_for_call(self, method: str, count: int = 1, within: float = 5.0) -> JSON:
        """Wait until `method` was called `count` times; the parameters of the last call."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while len(self.calls_to(method)) < count:
            if loop.time() > deadline:
                raise TimeoutError(f"{method} was not called {count} times")
            await asyncio.sleep(0.01)
        return self.calls_to(method)[-1]

    async def wait_delivered(self, update: JSON | None, within: float = 5.0) -> None:
        """Wait until the bot has fetched `update` (getUpdates or webhook)."""
        assert update is not None, "that update type was not asked for, so it was dropped"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while update not in self.updates.delivered:
            if loop.time() > deadline:
                raise TimeoutError(f"update {update['update_id']} was not fetched")
            await asyncio.sleep(0.01)

    # -- HTTP ----------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> JSON:
        params: JSON = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                if isinstance(body, dict):
                    params.update(body)
            else:
                form = await request.post()
                for k, v in form.items():
                    if isinstance(v, str):
                        params[k] = v
                    elif isinstance(v, web.FileField):  # an upload (sendPhoto's photo)
                        params[k] = v.file.read()
        return params

    @staticmethod
    def _answer(body: JSON, status: int = 200) -> web.Response:
        return web.Response(text=json.dumps(body), status=status, content_type="application/json")

    async def _file(self, request: web.Request) -> web.Response:
        """A file download (what getFile's file_path points at)."""
        data = self.file_bytes(request.match_info["path"])
        if request.match_info["token"] != self.token or data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="application/octet-stream")

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return self._answer(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, 401
            )
        name = request.match_info["method"]
        try:
            params = await self._params(request)
        except ValueError:
            return self._answer(ApiError(400, "Bad Request: can't parse request").body(), 400)
        caller = request.match_info.get("caller", "")
        self.calls.append(ApiCall(name, params, self.clock(), caller))
        faults = self._faults.get(name.lower())
        if faults:
            fault = faults.popleft()
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status is not None:
                error = ApiError(fault.status, fault.description, fault.parameters)
                return self._answer(error.body(), fault.status)
        slow = self._slow_chats.get(str(params.get("chat_id")))
        if slow:
            await asyncio.sleep(slow.popleft())
        handler = self.method(name)
        if handler is None:
            return self._answer({"ok": False, "error_code": 404, "description": "Not Found"}, 404)
        try:
            result = await handler(params)
        except ApiError as error:
            return self._answer(error.body(), error.code)
        return self._answer({"ok": True, "result": result})
