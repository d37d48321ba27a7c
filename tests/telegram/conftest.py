"""Fixtures: a fake Bot API server on loopback, and the real TelegramPlatform talking to it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TypeVar

import pytest
from pydantic import SecretStr

from adapters.telegram.platform import TelegramPlatform
from bot.events import Event
from config.settings import TelegramSettings
from tests.telegram.botapi import FakeBotApi

E = TypeVar("E")


class RecordingSink:
    """The core, as far as the adapter can tell: records every event handed to it."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._arrived = asyncio.Event()

    async def __call__(self, event: Event) -> None:
        self.events.append(event)
        self._arrived.set()

    async def next(self, kind: type[E], within: float = 5.0) -> E:
        """The first recorded event of `kind` not taken yet, waiting for it if need be."""
        async with asyncio.timeout(within):
            while True:
                for index, event in enumerate(self.events):
                    if isinstance(event, kind):
                        del self.events[index]
                        return event
                self._arrived.clear()
                await self._arrived.wait()


@pytest.fixture
async def botapi() -> AsyncIterator[FakeBotApi]:
    """A running fake Bot API server."""
    async with FakeBotApi() as api:
        yield api


@pytest.fixture
def settings(botapi: FakeBotApi) -> TelegramSettings:
    """Telegram settings pointing at the fake server, in polling mode."""
    return TelegramSettings(
        token=SecretStr(botapi.token), base_url=botapi.base_url, poll_timeout=10.0
    )


@pytest.fixture
def sink() -> RecordingSink:
    """Records the events the adapter hands to the core."""
    return RecordingSink()


@pytest.fixture
async def platform(
    settings: TelegramSettings, sink: RecordingSink
) -> AsyncIterator[TelegramPlatform]:
    """The real TelegramPlatform, started against the fake server and stopped afterwards."""
    telegram = TelegramPlatform(settings)
    await telegram.start(sink)
    yield telegram
    await telegram.stop()
