"""A clock the tests move by hand, in place of the core's `SystemClock` (bot/ports.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class ManualClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        """The time the test last set."""
        return self._now

    def advance(self, **delta: float) -> None:
        """Move forward by a `timedelta(**delta)`."""
        self._now += timedelta(**delta)

    def set(self, when: datetime) -> None:
        """Jump to `when`."""
        self._now = when
