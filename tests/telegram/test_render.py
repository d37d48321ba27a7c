"""Rendering core rich text and buttons for Telegram, before anything is sent."""

from __future__ import annotations

import pytest

from adapters.telegram.render import keyboard, render_html, utf16_length
from bot.model import Button, Rich, Span
from bot.ports import PermanentError


def test_every_span_is_escaped_and_styled() -> None:
    body = Rich(
        (
            Span("Let op: ", bold=True),
            Span("<i>a</i> & b", italic=True),
            Span(" ref "),
            Span("A-<7K>", code=True, bold=True),  # nothing may overlap code on Telegram
            Span("", bold=True),
        )
    )
    assert render_html(body) == (
        "<b>Let op: </b><i>&lt;i&gt;a&lt;/i&gt; &amp; b</i> ref <code>A-&lt;7K&gt;</code>"
    )
    assert render_html(Rich((Span("x", bold=True, italic=True),))) == "<b><i>x</i></b>"


def test_length_is_counted_like_telegram_after_parsing() -> None:
    assert utf16_length("😀é") == 3
    assert render_html(Rich.of("<" * 4096)) == "&lt;" * 4096  # escaping does not count
    with pytest.raises(PermanentError, match="message_too_long"):
        render_html(Rich.of("😀" * 2049))
    with pytest.raises(PermanentError, match="message_empty"):
        render_html(Rich((Span(" \n", bold=True),)))


def test_keyboards_and_their_limits() -> None:
    assert keyboard(()) is None
    markup = keyboard(
        ((Button("Ja", "vote:y"), Button("Nee", "vote:n")), (Button("é", "é" * 32),))
    )
    assert markup is not None
    assert [[b.callback_data for b in row] for row in markup.inline_keyboard] == [
        ["vote:y", "vote:n"],
        ["é" * 32],
    ]
    with pytest.raises(PermanentError, match="callback_data_too_long"):
        keyboard(((Button("x", "é" * 33),),))  # 66 bytes
    with pytest.raises(PermanentError, match="callback_data_empty"):
        keyboard(((Button("x", ""),),))
    with pytest.raises(PermanentError, match="button_label_empty"):
        keyboard(((Button(" ", "x"),),))
