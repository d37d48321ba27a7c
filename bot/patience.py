"""Interactive sends wait out a rate limit instead of being dropped.

The delivery worker paces official messages itself and takes each platform's port as it is.
Everything else (replies, private notices, nudges) goes through `Patient`: a 429 answered
with a short Retry-After is waited out and the call tried again, a bounded number of times,
so a `/status` right after a fan-out is answered rather than lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot.ports import PlatformPort, RetryLater

log = logging.getLogger(__name__)

MAX_TRIES = 3
MAX_WAIT = 10.0  # seconds; a longer Retry-After is passed on to the caller


class Patient:
    """A platform port whose calls retry after a short Retry-After."""

    def __init__(
        self, port: PlatformPort, sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep
    ):
        self._port = port
        self._sleep = sleep
        self.platform = port.platform
        self.capabilities = port.capabilities

    def __getattr__(self, method: str) -> Any:
        attr = getattr(self._port, method)
        if not callable(attr) or method in ("start", "stop"):
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            for attempt in range(1, MAX_TRIES + 1):
                try:
                    return await attr(*args, **kwargs)
                except RetryLater as exc:
                    if attempt == MAX_TRIES or exc.retry_after > MAX_WAIT:
                        raise
                    log.info(
                        "%s.%s rate-limited; retrying in %.1fs",
                        self.platform.value,
                        method,
                        exc.retry_after,
                    )
                    await self._sleep(exc.retry_after)
            raise AssertionError("unreachable")

        return call
