"""Numeric arguments of chat commands (`/approve 12`, `/remove #7`, a page number), parsed in
one place, with bounds, and a clear answer when a number will not do.

Only ASCII digits count: `str.isdigit` also accepts "²" and "١٢", which `int` then refuses
or reads as another number; and a number too large for the database is refused here rather
than by the driver (an OverflowError deep in SQLite).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.context import Ctx

# Ids are PostgreSQL INTEGER columns; nothing the bot numbers goes beyond.
ID_MAX = 2**31 - 1
_NUMBER = re.compile(r"#?([-+]?)([0-9]+)", re.ASCII)
_SHOWN = 24  # of a bad word, this much is quoted back


class BadNumber(StrEnum):
    """Why a word is not a usable number."""

    MISSING = "missing"
    NOT_A_NUMBER = "not_a_number"
    OUT_OF_RANGE = "out_of_range"


def looks_like_number(word: str) -> bool:
    """Whether a word is written as a number (`12`, `#12`, `-3`), usable or not."""
    return _NUMBER.fullmatch(word.strip()) is not None


def parse_number(word: str, *, low: int = 1, high: int = ID_MAX) -> int | BadNumber:
    """The whole number `word` stands for (`12` or `#12`), if within `low`..`high`."""
    word = word.strip()
    if not word:
        return BadNumber.MISSING
    m = _NUMBER.fullmatch(word)
    if m is None:
        return BadNumber.NOT_A_NUMBER
    digits = m.group(2).lstrip("0") or "0"
    if len(digits) > len(str(max(abs(low), abs(high)))):
        return BadNumber.OUT_OF_RANGE  # before int(): Python refuses over 4,300 digits
    value = int(m.group(1) + digits)
    return value if low <= value <= high else BadNumber.OUT_OF_RANGE


async def number_arg(
    ctx: Ctx, word: str, usage_key: str, *, low: int = 1, high: int = ID_MAX
) -> int | None:
    """The number in `word`, or None once the person was told what is wrong with it: the
    command's usage (`usage_key`) when it is missing or not a number, the bounds otherwise."""
    found = parse_number(word, low=low, high=high)
    if isinstance(found, int):
        return found
    if found == BadNumber.OUT_OF_RANGE:
        shown = word.strip()
        shown = shown if len(shown) <= _SHOWN else shown[: _SHOWN - 1] + "…"
        await ctx.reply("core.number_out_of_range", number=shown, low=low, high=high)
    else:
        await ctx.reply(usage_key)
    return None
