"""A recording event sink: the core, as far as the Telegram adapter can tell."""

from __future__ import annotations

import asyncio
from typing import TypeVar

from bot.events import Event

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
