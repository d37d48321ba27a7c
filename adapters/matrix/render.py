"""The core's Rich/Outgoing as Matrix `m.room.message` content: pure functions.

Every text is escaped here, at the adapter edge (STYLE 10): `body` is the plain text exactly as
written, `formatted_body` is HTML in which nothing a user typed can become markup.

`msgtype` follows `Outgoing.silent`: silent messages are `m.notice`, which the default push rule
`.m.rule.suppress_notices` keeps from notifying; everything else (urgent official messages
included) is `m.text`, so that it notifies like any message in the room.
"""

from __future__ import annotations

import json
import math
from html import escape
from typing import Any

from bot.model import Button, Outgoing, Rich, Span

HTML_FORMAT = "org.matrix.custom.html"
BUTTON_SEPARATOR = " · "


def _span_html(span: Span) -> str:
    html = escape(span.text, quote=False).replace("\n", "<br>")
    if span.code:
        html = f"<code>{html}</code>"
    if span.italic:
        html = f"<em>{html}</em>"
    if span.bold:
        html = f"<strong>{html}</strong>"
    return html


def rich_html(rich: Rich) -> str:
    """The HTML of rich text, every span escaped."""
    return "".join(_span_html(span) for span in rich.spans)


def button_line(buttons: tuple[tuple[Button, ...], ...]) -> str:
    """Matrix has no buttons: the choices as one plain line, e.g. `[Seen] · [I called 101]`."""
    return BUTTON_SEPARATOR.join(f"[{b.label}]" for row in buttons for b in row)


def message_content(message: Outgoing) -> dict[str, Any]:
    """The `m.room.message` content of a message (new, without relations)."""
    plain = message.body.plain
    html = rich_html(message.body)
    if message.buttons:
        line = button_line(message.buttons)
        plain = f"{plain}\n\n{line}" if plain else line
        html = f"{html}<br><br>{escape(line, quote=False)}" if html else escape(line, quote=False)
    return {
        "msgtype": "m.notice" if message.silent else "m.text",
        "body": plain,
        "format": HTML_FORMAT,
        "formatted_body": html,
    }


def send_content(message: Outgoing) -> dict[str, Any]:
    """The content to post for `message`, as a reply when `reply_to` is set."""
    content = message_content(message)
    if message.reply_to:
        content["m.relates_to"] = {"m.in_reply_to": {"event_id": message.reply_to}}
    return content


def edit_content(event_id: str, message: Outgoing) -> dict[str, Any]:
    """An `m.replace` edit of `event_id`; the fallback body is marked with `* ` as clients do."""
    new = message_content(message)
    return {
        "msgtype": new["msgtype"],
        "body": f"* {new['body']}",
        "format": HTML_FORMAT,
        "formatted_body": f"* {new['formatted_body']}",
        "m.new_content": new,
        "m.relates_to": {"rel_type": "m.replace", "event_id": event_id},
    }


def event_size(message: Outgoing) -> int:
    """The most bytes a homeserver may weigh for `message` as a new event: in an encrypted
    room the content is serialised with \\u escapes (6 bytes for an accented letter, 12 for
    an emoji) and base64 adds a third; in a plain room it weighs less."""
    return math.ceil(len(json.dumps(send_content(message))) * 4 / 3)
