"""Residents find their BIN from chat: `/join` with a code or name asks at once; without one,
or with a postcode, street or municipality, the BINs whose area matches are listed to pick
from (buttons, or typed numbers where a platform has none). A Telegram deep link
`https://t.me/BOT?start=join-CODE` takes the same path as `/join CODE`.

Matching reads only each BIN's own name, its area (postcodes and streets, as its entry gives
them) and its zone's name: nothing of any person.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar

from bot.args import parse_number
from bot.commands import Registry
from bot.context import Ctx
from bot.conversation import Answer, Conversation
from bot.model import Rich
from bot.services import joins
from bot.services.audience import MAX_SHOWN_WORD, shorten

if TYPE_CHECKING:
    from storage.tables import Bin, Zone
    from storage.uow import UnitOfWork

routes = Registry()

MAX_LISTED = 10  # more matches than this: the person is asked to be more precise
MIN_WORD = 3  # shorter words (other than a postcode) match too much to be useful
DEEP_LINK_PREFIX = "join-"
_NUMBER = re.compile(r"\d+")  # a postcode (or house number) matches only whole


def fold(text: str) -> str:
    """Text as areas are compared: case and accents folded, runs of anything else one space."""
    bare = "".join(
        c
        for c in unicodedata.normalize("NFKD", text.casefold())
        if unicodedata.category(c) != "Mn"
    )
    return " ".join(re.sub(r"[^\w]+", " ", bare).split())


def matches(b: Bin, zone: Zone, query: str) -> bool:
    """Whether a BIN's name, area or zone (its municipality) answers `query`: a postcode
    must appear as a whole number, other words as part of the text."""
    wanted = fold(query)
    if not wanted:
        return False
    haystack = f" {fold(' '.join((b.name, b.area or '', zone.name)))} "
    if _NUMBER.fullmatch(wanted):
        return f" {wanted} " in haystack
    return len(wanted) >= MIN_WORD and wanted in haystack


async def search(uow: UnitOfWork, query: str) -> list[tuple[Bin, Zone]]:
    """The BINs matching `query` (every BIN for an empty one), by zone and name; archived
    BINs take no members and are never listed."""
    zones = {z.id: z for z in await uow.directory.zones()}
    found = []
    for b in await uow.directory.bins(active=True):
        zone = zones.get(b.zone_id)
        if zone is not None and (not query or matches(b, zone, query)):
            found.append((b, zone))
    return sorted(found, key=lambda bz: (bz[1].name, bz[0].name))


class State(StrEnum):
    """The one state: a BIN is picked from the list."""

    PICK = "pick"


@routes.conversation
@dataclass
class JoinPick(Conversation):
    """The matching BINs, listed; the one picked is asked to join as `/join CODE` would."""

    kind: ClassVar[str] = "join.pick"
    steps: ClassVar[Mapping[str, str]] = {State.PICK: "_on_pick"}
    bins: list[int] = field(default_factory=list)

    async def _on_pick(self, ctx: Ctx, uow: UnitOfWork, answer: Answer) -> str | None:
        picked: int | None = None
        if answer.pressed:
            number = parse_number(answer.value)
            picked = number if isinstance(number, int) and number in self.bins else None
        else:
            number = parse_number(answer.value, high=len(self.bins))
            picked = self.bins[number - 1] if isinstance(number, int) else None
        b = await uow.directory.bin(picked) if picked is not None else None
        if b is None:  # a word, a number off the list, or a BIN gone meanwhile
            await ctx.reply("groups.join_pick_number", count=len(self.bins))
            return State.PICK
        await joins.ask_for_bin(ctx, uow, b)
        return None


async def ask(ctx: Ctx, word: str) -> None:
    """`/join [CODE | postcode | street | municipality]` in a private chat."""
    word = " ".join(word.split())
    async with ctx.core.uow() as uow:
        b = await uow.directory.find_bin(word) if word else None
        if b is not None:
            await joins.ask_for_bin(ctx, uow, b)
        else:
            await _offer(ctx, uow, word, await search(uow, word))
        await uow.commit()


async def _offer(ctx: Ctx, uow: UnitOfWork, word: str, found: Sequence[tuple[Bin, Zone]]) -> None:
    """List what matched to pick from, or say why there is nothing to pick."""
    shown = shorten(word, MAX_SHOWN_WORD)
    if not found:
        await ctx.reply("groups.join_none_found" if word else "groups.join_usage", word=shown)
        return
    if len(found) > MAX_LISTED:
        key = "groups.join_too_many" if word else "groups.join_usage"
        await ctx.reply(key, word=shown, count=len(found))
        return
    conv = JoinPick(
        state=State.PICK, expires_at=ctx.core.clock.now(), bins=[b.id for b, _ in found]
    )
    await ctx.core.conversations.begin(ctx, uow, conv)  # gives it the token its buttons carry
    lines = [ctx.t("groups.join_pick_title" if word else "groups.join_pick_all", word=shown)]
    rows = []
    for i, (b, zone) in enumerate(found, 1):
        area = f" — {b.area}" if b.area else ""
        lines.append(Rich.of(f"{i}. {b.name} ({zone.name}){area}"))
        rows.append([conv.button(b.name, State.PICK, str(b.id))])
    buttons = ctx.core.platform(ctx.platform).capabilities.buttons
    hint = "groups.join_pick_hint" if buttons else "groups.join_pick_hint_typed"
    lines.append(ctx.t(hint, count=len(found)))
    await ctx.send_rich(Rich.join(lines), buttons=rows if buttons else ())


def deep_link_code(args: str) -> str | None:
    """The BIN code of a `/start join-CODE` deep link, or None for any other argument."""
    word = args.strip()
    if word.casefold().startswith(DEEP_LINK_PREFIX):
        return word[len(DEEP_LINK_PREFIX) :]
    return None
