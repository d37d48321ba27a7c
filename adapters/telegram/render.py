"""Core `Rich` text and buttons rendered for Telegram: HTML parse mode and inline keyboards.

Every span's text is escaped here, at the adapter edge (STYLE 10), so markup a person typed
(`<b>x</b>`) reaches the chat literally. Limits are checked before anything is sent: a text
Telegram would refuse, or a button it would refuse, raises PermanentError; nothing is cut.
"""

from __future__ import annotations

import html

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.model import Button, Rich, Span
from bot.ports import PermanentError

MAX_TEXT_LENGTH = 4096
"""Telegram's limit on a message's text after entity parsing."""
MAX_CALLBACK_DATA_BYTES = 64
"""Telegram's limit on a button's callback_data, in UTF-8 bytes."""


def utf16_length(text: str) -> int:
    """The length Telegram counts: UTF-16 code units (an emoji outside the BMP counts two)."""
    return len(text.encode("utf-16-le")) // 2


def _span_html(span: Span) -> str:
    text = html.escape(span.text, quote=False)
    if not text:
        return ""
    if span.code:
        # Telegram lets no other entity overlap `code`, so bold/italic are dropped there.
        return f"<code>{text}</code>"
    if span.italic:
        text = f"<i>{text}</i>"
    if span.bold:
        text = f"<b>{text}</b>"
    return text


def render_html(body: Rich) -> str:
    """The HTML Telegram should receive for `body`, after checking Telegram will accept it."""
    plain = body.plain
    if not plain.strip():
        raise PermanentError("message_empty")
    if utf16_length(plain) > MAX_TEXT_LENGTH:
        raise PermanentError("message_too_long")
    return "".join(_span_html(span) for span in body.spans)


def _button(button: Button) -> InlineKeyboardButton:
    size = len(button.data.encode("utf-8"))
    if size == 0:
        raise PermanentError("callback_data_empty")
    if size > MAX_CALLBACK_DATA_BYTES:
        raise PermanentError("callback_data_too_long")
    if not button.label.strip():
        raise PermanentError("button_label_empty")
    return InlineKeyboardButton(text=button.label, callback_data=button.data)


def keyboard(rows: tuple[tuple[Button, ...], ...]) -> InlineKeyboardMarkup | None:
    """The inline keyboard for `rows` of buttons, or None when there are none."""
    built = [[_button(button) for button in row] for row in rows if row]
    if not built:
        return None
    return InlineKeyboardMarkup(built)
