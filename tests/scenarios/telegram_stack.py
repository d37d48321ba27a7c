"""The whole bot on Telegram, for scenario tests and the fan-out benchmark.

    async with TelegramStack.running(tmp_path) as s:
        an = s.api.add_user("An")
        await s.say(an, "/start " + await s.invite("coordinator --bin noord"))
        assert "coördinator" in s.new(an)[-1]

Wired as `binbot run` wires it (bot/app.py): the fake Bot API server on 127.0.0.1 (a free
port), the real python-telegram-bot inside `TelegramPlatform`, long polling, the `Core` on a
SQLite file, the command menu published, and the delivery worker running in the background.
Nothing is faked between the server and the database.

`settle()` waits until the bot has fetched and handled every update and sent everything due;
`outbox_empty()` waits for rate-limited deliveries that are due later.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import func, select

from adapters.telegram.platform import TelegramPlatform
from bot.admin import run_admin
from bot.app import core_config, publish_commands
from bot.cli import admin_parser
from bot.delivery import DeliveryWorker, build_worker
from bot.dispatch import Core
from bot.model import Platform
from config.settings import DeliverySettings, HttpSettings, Settings, TelegramSettings
from storage.alerts import PENDING, SENDING
from storage.db import Database, open_database
from storage.tables import Delivery
from tests.telegram.botapi import FakeBotApi
from tests.telegram.botapi_flood import FloodLimits
from tests.telegram.botapi_state import FakeChat, FakeMessage, FakeUser

Chat = FakeChat | FakeUser  # a user stands for the private chat with them


class TelegramStack:
    """The fake server, the real adapter, the core and its worker, started and stopped as one."""

    def __init__(self, api: FakeBotApi, settings: Settings) -> None:
        self.api = api
        self.settings = settings
        self.db: Database | None = None
        self.core: Core
        self.telegram: TelegramPlatform
        self.worker: DeliveryWorker
        self._read: dict[int, int] = {}
        self._started: list[Any] = []

    # -- lifecycle -------------------------------------------------------------------------

    @classmethod
    @contextlib.asynccontextmanager
    async def running(
        cls,
        tmp_path: Path,
        *,
        flood: FloodLimits | None = None,
        telegram: dict[str, Any] | None = None,
        delivery: dict[str, Any] | None = None,
        database_url: str | None = None,
        start_worker: bool = True,
        server: type[FakeBotApi] = FakeBotApi,
    ) -> AsyncIterator[TelegramStack]:
        """Start everything; stop it in reverse order however the test ends.

        With `start_worker=False` the outbox waits until `worker.start()` (the benchmark)."""
        async with server(flood=flood) as api:
            settings = Settings(
                database_url=database_url or str(tmp_path / "binbot.db"),
                data_dir=tmp_path / "data",
                process_name="scenario",
                run_scheduler=False,
                telegram=TelegramSettings(
                    token=SecretStr(api.token),
                    base_url=api.base_url,
                    poll_timeout=10.0,
                    **(telegram or {}),
                ),
                delivery=DeliverySettings(**({"poll_interval": 0.2} | (delivery or {}))),
                http=HttpSettings(port=0),
            )
            stack = cls(api, settings)
            try:
                await stack.start(start_worker=start_worker)
                yield stack
            finally:
                await stack.stop()

    async def start(self, *, start_worker: bool = True) -> None:
        """What bot/app.py `serve` does: storage, adapter, core, command menu, worker."""
        settings = self.settings
        self.db = await open_database(settings.database_url)
        self.telegram = TelegramPlatform(settings.telegram)
        self.core = Core(self.db, {Platform.TELEGRAM: self.telegram}, config=core_config(settings))
        self.worker = build_worker(self.core, settings)
        await self.telegram.start(self.core.handle)
        self._started.append(self.telegram)
        await publish_commands(self.core)
        if start_worker:
            await self.start_worker()

    async def start_worker(self) -> None:
        """Start the delivery worker in the background, as `binbot run` does."""
        await self.worker.start()
        self._started.append(self.worker)

    async def stop(self) -> None:
        """Stop the worker, then the adapter, then close the database."""
        for part in reversed(self._started):
            await part.stop()
        self._started.clear()
        if self.db is not None:
            await self.db.dispose()
            self.db = None

    @contextlib.contextmanager
    def flood_off(self) -> Iterator[None]:
        """Setting the world up at machine speed: the server counts no flood meanwhile."""
        limits = self.api.flood.limits
        was, limits.enabled = limits.enabled, False
        try:
            yield
        finally:
            limits.enabled = was

    # -- the admin's shell -----------------------------------------------------------------

    async def admin(self, line: str) -> list[str]:
        """Run `binbot LINE` in-process; returns its output lines."""
        assert self.db is not None
        out: list[str] = []
        args = admin_parser().parse_args(shlex.split(line))
        code = await run_admin(args, self.db, out.append, self.core.clock, self.core.rng)
        assert code == 0, out
        return out

    async def invite(self, line: str) -> str:
        """`binbot invite LINE`; returns the code (the last line it prints)."""
        return (await self.admin("invite " + line))[-1]

    # -- waiting -----------------------------------------------------------------------------

    async def until(
        self, check: Callable[[], object], within: float = 10.0, what: str = "condition"
    ) -> None:
        """Wait until `check()` is true."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not check():
            if loop.time() > deadline:
                raise TimeoutError(f"waited {within}s for {what}")
            await asyncio.sleep(0.01)

    async def settle(self, within: float = 10.0) -> None:
        """Wait until every update so far is fetched and handled, and nothing due is unsent.

        Handling may cause new updates (a join approved), so repeat until calm."""
        updates = self.api.updates
        while True:
            mark = updates.next_update_id
            await self.handled(within)
            await asyncio.wait_for(self.core.idle(), within)
            if updates.next_update_id == mark and not updates.pending:
                return

    async def handled(self, within: float = 10.0) -> None:
        """Wait until every update so far is fetched and handled (the outbox is left alone).

        The server forgets an update once getUpdates confirms it, which python-telegram-bot
        does only after queueing it; the queue's `join` returns once every queued update was
        handled."""
        await self.until(lambda: not self.api.updates.pending, within, "the bot to fetch updates")
        app = self.telegram._app
        if app is not None:
            await asyncio.wait_for(app.update_queue.join(), within)

    async def outbox_empty(self, within: float = 30.0) -> None:
        """Wait until no delivery is pending or being sent (rate limits included), then settle."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while await self.unsettled_deliveries():
            if loop.time() > deadline:
                raise TimeoutError(f"deliveries still unsettled after {within}s")
            self.worker.wake()
            await asyncio.sleep(0.05)
        await self.settle()

    async def unsettled_deliveries(self) -> int:
        """How many deliveries are still pending or sending."""
        async with self.core.db.session() as session:
            q = select(func.count()).where(Delivery.status.in_([PENDING, SENDING]))
            return int((await session.execute(q)).scalar() or 0)

    # -- people acting -----------------------------------------------------------------------

    def chat(self, where: Chat) -> FakeChat:
        """The chat itself: a group, or the private chat with a user."""
        return self.api.private_chat(where) if isinstance(where, FakeUser) else where

    async def say(self, user: FakeUser, text: str, chat: FakeChat | None = None) -> FakeMessage:
        """`user` writes `text` to the bot in private (or in `chat`); waits for the answer."""
        message = self.api.user_writes(user, text, chat)
        await self.settle()
        return message

    def button(self, where: Chat, label: str) -> tuple[FakeMessage, str]:
        """The newest live bot message in `where` with a button labelled `label`, and its data."""
        for message in reversed(self.api.bot_messages(self.chat(where))):
            for row in message.buttons:
                for text, data in row:
                    if text == label:
                        return message, data
        raise AssertionError(f"no button {label!r} in chat {self.chat(where).id}")

    async def press(self, user: FakeUser, label: str, where: Chat | None = None) -> str:
        """`user` taps the newest button `label` in `where` (their private chat by default)."""
        message, data = self.button(where if where is not None else user, label)
        query = self.api.press_button(user, message, data)
        await self.settle()
        return query

    # -- reading what people see -------------------------------------------------------------

    def texts(self, where: Chat) -> list[str]:
        """What the bot wrote in a chat, as members see it now (edited, minus deleted)."""
        return self.api.texts(self.chat(where))

    def new(self, where: Chat) -> list[str]:
        """The bot's live messages in a chat that arrived since the last call for that chat."""
        chat = self.chat(where)
        found = self.api.bot_messages(chat, include_deleted=True)
        start = self._read.get(chat.id, 0)
        self._read[chat.id] = len(found)
        return [m.text for m in found[start:] if not m.deleted]

    def last(self, where: Chat) -> str:
        """The bot's latest live message in a chat."""
        return self.api.last_message(self.chat(where)).text
