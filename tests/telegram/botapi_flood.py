"""Telegram's flood limits as its bot FAQ states them, for the fake Bot API.

- about 30 messages per second overall (bulk notifications);
- about 1 message per second in one chat, with a short burst allowed;
- at most 20 messages per minute in one group.

A message over a limit is refused with 429 "Too Many Requests: retry after N" and
`parameters.retry_after = N`; a refused message does not count against the limits.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class FloodLimits:
    """The limits, all changeable on a running server (`server.flood.limits.per_chat_burst`)."""

    enabled: bool = True
    overall_per_second: int = 30
    per_chat_per_second: float = 1.0
    per_chat_burst: int = 3
    group_per_minute: int = 20
    retry_after: int | None = None
    """A fixed retry_after to answer with; None computes the real wait (at least 1 s)."""


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class FloodControl:
    """Counts messages and decides when the next one would be over a limit."""

    clock: Callable[[], float]
    limits: FloodLimits = field(default_factory=FloodLimits)
    refused: int = 0
    refused_per_chat: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    _overall: deque[float] = field(default_factory=deque)
    _group_minute: dict[int, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    _buckets: dict[int, _Bucket] = field(default_factory=dict)

    def admit(self, chat_id: int, is_group: bool) -> int | None:
        """Record one message to `chat_id`, or return the retry_after it must wait instead."""
        limits = self.limits
        if not limits.enabled:
            return None
        now = self.clock()
        waits: list[float] = []

        overall = self._overall
        while overall and overall[0] <= now - 1.0:
            overall.popleft()
        if len(overall) >= limits.overall_per_second:
            waits.append(overall[0] + 1.0 - now)

        bucket = self._buckets.get(chat_id)
        if bucket is None:
            bucket = self._buckets[chat_id] = _Bucket(float(limits.per_chat_burst), now)
        tokens = min(
            float(limits.per_chat_burst),
            bucket.tokens + (now - bucket.at) * limits.per_chat_per_second,
        )
        if tokens < 1.0:
            waits.append((1.0 - tokens) / limits.per_chat_per_second)

        minute = self._group_minute[chat_id]
        if is_group:
            while minute and minute[0] <= now - 60.0:
                minute.popleft()
            if len(minute) >= limits.group_per_minute:
                waits.append(minute[0] + 60.0 - now)

        if waits:
            self.refused += 1
            self.refused_per_chat[chat_id] += 1
            if limits.retry_after is not None:
                return limits.retry_after
            return max(1, math.ceil(max(waits)))

        overall.append(now)
        bucket.tokens, bucket.at = tokens - 1.0, now
        if is_group:
            minute.append(now)
        return None
