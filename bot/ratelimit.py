"""Per-platform send limits for the outbox worker.

Telegram publishes its limits (about 30 messages a second overall, one a second per chat,
20 a minute per group); going over them earns a 429 with `retry_after`, which the worker
honours through `block`. Matrix homeservers only answer 429s, so Matrix has no proactive
limits here, just the blocks. The limiter never sleeps: it answers how long a send must
wait, and the worker reschedules the row, so one slow chat never holds up the others.

The windows live in one process. With several processes each keeps its own, so together
they may exceed the overall limit; the platform's 429 then slows them down (RetryLater).
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass
from datetime import datetime

from bot.model import Platform


@dataclass(frozen=True)
class Limits:
    """Limits of one platform; None means unlimited."""

    overall_per_second: float | None = None
    per_chat_per_second: float | None = None
    per_group_per_minute: int | None = None


class RateLimiter:
    """Sliding-window limits per platform and per chat, on the time the caller passes in."""

    def __init__(self, limits: dict[Platform, Limits] | None = None) -> None:
        self.limits: dict[Platform, Limits] = dict(limits or {})
        self._overall: dict[Platform, deque[float]] = {}
        self._last: dict[tuple[Platform, str], float] = {}
        self._minute: dict[tuple[Platform, str], deque[float]] = {}
        self._blocked: dict[tuple[Platform, str], float] = {}

    @classmethod
    def telegram(
        cls, overall: float = 30.0, per_chat: float = 1.0, per_group_minute: int = 20
    ) -> RateLimiter:
        """Telegram's published limits (the defaults), or a deployment's own."""
        return cls({Platform.TELEGRAM: Limits(overall, per_chat, per_group_minute)})

    def wait(
        self, platform: Platform, chat_id: str, now: datetime, *, group: bool = True
    ) -> float:
        """Seconds until a send to `chat_id` is allowed (0: go ahead, and it is counted)."""
        t = now.timestamp()
        key = (platform, chat_id)
        waits = [self.chat_wait(platform, chat_id, now, group=group)]
        lim = self.limits.get(platform, Limits())
        overall = self._overall.setdefault(platform, deque())
        _trim(overall, t - 1.0)
        if lim.overall_per_second is not None and len(overall) >= lim.overall_per_second:
            waits.append(overall[0] + 1.0 - t)
        delay = max(waits)
        if delay > 0:
            return delay
        overall.append(t)
        self._last[key] = t
        self._minute.setdefault(key, deque()).append(t)
        self._blocked.pop(key, None)
        return 0.0

    def chat_wait(
        self, platform: Platform, chat_id: str, now: datetime, *, group: bool = True
    ) -> float:
        """Seconds until the limits of `chat_id` itself (a 429's block, per chat, per group
        and minute) let a send through, whatever the overall limit says; nothing is counted."""
        t = now.timestamp()
        key = (platform, chat_id)
        waits = [self._blocked.get(key, t) - t]
        lim = self.limits.get(platform, Limits())
        if lim.per_chat_per_second is not None and key in self._last:
            waits.append(self._last[key] + 1.0 / lim.per_chat_per_second - t)
        minute = self._minute.get(key)
        if minute is not None:
            _trim(minute, t - 60.0)
        if group and lim.per_group_per_minute is not None and minute is not None:
            if len(minute) >= lim.per_group_per_minute:
                waits.append(minute[0] + 60.0 - t)
        return max(waits)

    def room(self, platform: Platform, at: datetime) -> int | None:
        """How many sends the overall limit lets through at `at` (now, or a moment ahead,
        counting what was sent so far); None when the platform has no overall limit."""
        lim = self.limits.get(platform, Limits())
        if lim.overall_per_second is None:
            return None
        since = at.timestamp() - 1.0
        used = sum(1 for t in self._overall.get(platform, ()) if t > since)
        return max(0, math.ceil(lim.overall_per_second) - used)

    def free_in(self, platform: Platform, now: datetime, sends: int = 1) -> float:
        """Seconds until the overall limit lets `sends` sends through (0: now)."""
        room = self.room(platform, now)
        if room is None or room >= sends:
            return 0.0
        since = now.timestamp() - 1.0
        window = [t for t in self._overall[platform] if t > since]
        # The window holds `len(window)` sends; `sends - room` of them must leave it.
        leaving = min(len(window), sends - room) - 1
        return window[leaving] + 1.0 - now.timestamp()

    def sent(self, platform: Platform, chat_id: str, started: datetime, done: datetime) -> None:
        """The send that `wait` let through at `started` was answered at `done`.

        The platform counted it somewhere in between, so from now on it counts at `done`: a
        send let through a window after that can never reach the platform within the window,
        however the network delays the earlier send or hurries the later one."""
        t0, t1 = started.timestamp(), done.timestamp()
        if t1 <= t0:
            return
        key = (platform, chat_id)
        _move(self._overall.get(platform), t0, t1)
        _move(self._minute.get(key), t0, t1)
        self._last[key] = max(self._last.get(key, t1), t1)

    def block(self, platform: Platform, chat_id: str, until: datetime) -> None:
        """The platform asked us to leave this chat alone until `until` (HTTP 429)."""
        key = (platform, chat_id)
        self._blocked[key] = max(self._blocked.get(key, 0.0), until.timestamp())

    def forget_idle(self, now: datetime) -> None:
        """Drop the state of chats quiet for over a minute, so memory stays bounded."""
        t = now.timestamp()
        for key in [k for k, last in self._last.items() if last < t - 60.0]:
            self._last.pop(key, None)
            self._minute.pop(key, None)
        for key in [k for k, until in self._blocked.items() if until < t]:
            self._blocked.pop(key, None)


def _move(window: deque[float] | None, old: float, new: float) -> None:
    """Count one entry at `old` at `new` instead, keeping the window in order."""
    if window is None:
        return
    if old in window:  # else trimmed already: the send took longer than the window
        window.remove(old)
    bisect.insort(window, new)


def _trim(window: deque[float], before: float) -> None:
    while window and window[0] <= before:
        window.popleft()
