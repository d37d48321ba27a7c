"""Fixtures: a fake Bot API server on loopback, and the real TelegramPlatform talking to it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from adapters.telegram.platform import TelegramPlatform
from config.settings import TelegramSettings
from tests.telegram.botapi import FakeBotApi
from tests.telegram.recording import RecordingSink


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
