"""Long lists in pages that each fit in one message, with [Previous]/[Next] buttons where the
platform has buttons and a typed command (`/members 2`) everywhere.

A page is measured as the strictest platform measures it: in UTF-16 code units (Telegram's
unit; never fewer than the characters the console and Matrix count), against the limit of
the platform it goes to (`Capabilities.max_text_length`, which Matrix sets so that the event
stays under the homeserver's size limit).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.model import Button, Rich, Span

ELLIPSIS = "…"
MARGIN = 64  # room for what an adapter adds around a text (a Matrix button line, say)


def units(text: str) -> int:
    """The length Telegram counts: UTF-16 code units (an emoji outside the BMP counts two)."""
    return len(text.encode("utf-16-le")) // 2


def clip(rich: Rich, room: int) -> Rich:
    """`rich` cut to at most `room` UTF-16 units, with an ellipsis where it was cut."""
    if units(rich.plain) <= room:
        return rich
    left = max(room - units(ELLIPSIS), 0)
    spans: list[Span] = []
    for span in rich.spans:
        size = units(span.text)
        if size <= left:
            spans.append(span)
            left -= size
            continue
        cut = ""
        for ch in span.text:
            if units(cut + ch) > left:
                break
            cut += ch
        spans.append(Span(cut + ELLIPSIS, span.bold, span.italic, span.code))
        break
    return Rich(tuple(spans))


@dataclass(frozen=True)
class Page:
    """One page of a list: its number (from 1), how many there are, and its blocks."""

    number: int
    total: int
    blocks: tuple[Rich, ...]


def paginate(blocks: Sequence[Rich], *, room: int, per_page: int) -> list[list[int]]:
    """Blocks (an item and its lines, each within `room`) packed in order into pages of at
    most `per_page` blocks and `room` UTF-16 units, lines joined by a line break: the indices
    of each page's blocks (one empty page when there are none)."""
    pages: list[list[int]] = []
    current: list[int] = []
    used = 0
    for i, block in enumerate(blocks):
        size = units(block.plain) + 1
        if current and (used + size > room or len(current) >= per_page):
            pages.append(current)
            current, used = [], 0
        current.append(i)
        used += size
    if current or not pages:
        pages.append(current)
    return pages


def page_buttons(page: Page, data: str, previous: str, following: str) -> list[Button]:
    """[Previous] and [Next] as far as there are pages; `data` ends where the number goes."""
    row = []
    if page.number > 1:
        row.append(Button(previous, f"{data}:{page.number - 1}"))
    if page.number < page.total:
        row.append(Button(following, f"{data}:{page.number + 1}"))
    return row
