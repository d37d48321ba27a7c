"""The outbox's rate limiter: room in the overall window, and sends counted from their answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pytest import approx

from bot.model import Platform
from bot.ratelimit import RateLimiter

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
TG, MX = Platform.TELEGRAM, Platform.MATRIX


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_room_is_what_the_overall_window_still_lets_out() -> None:
    limiter = RateLimiter.telegram(overall=3)
    assert limiter.room(TG, at(0)) == 3 and limiter.free_in(TG, at(0)) == 0
    for i in range(3):
        assert limiter.wait(TG, f"g{i}", at(0.1 * i)) == 0
    assert limiter.room(TG, at(0.3)) == 0
    assert limiter.free_in(TG, at(0.3)) == approx(
        0.7, abs=1e-3
    )  # when the first send leaves the window
    assert limiter.room(TG, at(1.0)) == 1
    assert limiter.room(MX, at(0)) is None and limiter.free_in(MX, at(0)) == 0


def test_a_send_counts_from_when_it_was_answered() -> None:
    limiter = RateLimiter.telegram(overall=2)
    assert limiter.wait(TG, "a", at(0)) == 0
    assert limiter.wait(TG, "b", at(0)) == 0
    # The first send is answered late: the platform may have counted it as late as that.
    limiter.sent(TG, "a", at(0), at(0.4))
    limiter.sent(TG, "b", at(0), at(0.01))
    assert limiter.room(TG, at(1.02)) == 1  # b's slot is free, a's is not yet
    assert limiter.wait(TG, "c", at(1.02)) == 0
    assert limiter.wait(TG, "d", at(1.02)) == approx(0.38, abs=1e-3)
    assert limiter.wait(TG, "d", at(1.4)) == 0


def test_the_next_message_in_a_chat_waits_a_second_from_the_answer() -> None:
    limiter = RateLimiter.telegram()
    assert limiter.wait(TG, "a", at(0)) == 0
    limiter.sent(TG, "a", at(0), at(0.4))
    assert limiter.wait(TG, "a", at(1.3)) == approx(0.1, abs=1e-3)
    assert limiter.wait(TG, "a", at(1.4)) == 0


def test_a_send_slower_than_the_window_still_counts_at_its_answer() -> None:
    limiter = RateLimiter.telegram(overall=1)
    assert limiter.wait(TG, "a", at(0)) == 0
    assert limiter.room(TG, at(1.5)) == 1  # its first count has left the window ...
    limiter.sent(TG, "a", at(0), at(1.6))
    assert limiter.room(TG, at(1.7)) == 0  # ... but it counts again from its answer
    assert limiter.wait(TG, "b", at(2.6)) == 0


def test_without_a_delay_nothing_changes() -> None:
    limiter = RateLimiter.telegram(overall=1)
    assert limiter.wait(TG, "a", at(0)) == 0
    limiter.sent(TG, "a", at(0), at(0))
    assert limiter.wait(TG, "b", at(0.5)) == approx(0.5, abs=1e-3)
    assert limiter.wait(TG, "b", at(1.0)) == 0
