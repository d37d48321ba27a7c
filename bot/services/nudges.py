"""Nudges: when a group message reads like an incident report, ask kindly whether 101 was
called first, offer "I called 101", and then keep quiet in that group for a while.

Message text is classified here, in memory, and dropped: it is never stored or logged.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot import texts
from bot.context import Ctx
from bot.events import MessagePosted
from bot.model import Button, MessageRef, Outgoing, Rich, Role
from bot.ports import BotRemoved, PlatformError
from bot.services.audience import bin_and_zone, chat_of, group_language, label, post
from bot.services.rules import numbers_line
from storage.groups import GroupRepo

if TYPE_CHECKING:
    from bot.dispatch import Core

log = logging.getLogger(__name__)

# Patterns over text that is case-folded and stripped of accents (verdächtig -> verdachtig,
# cambriolé -> cambriole). Dutch and German compounds end on their head noun, so
# "woninginbraak" and "Fahrraddiebstahl" count while "inbraakpreventie" (an info evening)
# does not. Ambiguous words are left out: French "vol" is also a flight.
_INCIDENT = [
    # nl
    r"verdacht(e|er|s)?",
    r"\w*inbra(ak|ken)",
    r"inbraakpoging(en)?",
    r"inbreker(s)?",
    r"ingebroken",
    r"inbreken",
    r"inbreekt",
    r"\w*diefstal(len)?",
    r"gestolen",
    r"dief",
    r"dieven",
    r"overval(len)?",
    r"rondsluipen",
    r"sluipt rond",
    r"loert rond",
    # fr
    r"suspect(e|s|es)?",
    r"cambriol(age|ages|eur|eurs|euse|e|es|ee|ees|er)",
    r"voleur(s)?",
    r"volee(s)?",
    r"(a|ont) ete vole(e|s|es)?",
    r"tentative de vol",
    r"effraction",
    r"rodeur(s)?",
    r"rode autour",
    # de
    r"\w*einbruch",
    r"\w*einbruche",
    r"einbruchsversuch(e)?",
    r"einbrecher(in)?",
    r"eingebrochen",
    r"einbrechen",
    r"verdachtig(e|en|er|es)?",
    r"\w*diebstahle?",
    r"dieb(e|in)?",
    r"gestohlen",
    r"uberfall(e)?",
    # en
    r"suspicious",
    r"burglar(s|y|ies)?",
    r"break-?ins?",
    r"broke into",
    r"breaking into",
    r"theft",
    r"thie(f|ves)",
    r"stolen",
    r"prowler(s)?",
    r"robbery",
]
_PATTERN = re.compile(r"\b(?:" + "|".join(_INCIDENT) + r")\b")
# Phrases that contain a keyword but speak of something else ("bei Einbruch der Dunkelheit":
# at nightfall).
_NOT_INCIDENT = re.compile(r"\beinbruch der (dunkelheit|nacht)\b")

# How long after a nudge "I called 101" still makes sense.
CALLED_WINDOW = timedelta(hours=6)


def normalise(text: str) -> str:
    """Lower case, no accents, single spaces."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.split())


def looks_like_incident(text: str) -> bool:
    """Whether a message reads like a report of an incident (suspicious car, burglary...)."""
    plain = _NOT_INCIDENT.sub(" ", normalise(text))
    return _PATTERN.search(plain) is not None


@dataclass
class Nudge:
    """The last nudge in a group, and whether someone confirmed calling 101."""

    ref: MessageRef
    body: Rich
    at: datetime
    called: bool = False
    called_by: int | None = None  # kept only so that /forgetme can drop it


def nudges(core: Core) -> dict[int, Nudge]:
    """Group id -> its last nudge (in memory: a nudge matters for minutes, not days)."""
    found: dict[int, Nudge] = core.services.setdefault("groups:nudges", {})
    return found


async def maybe_nudge(core: Core, event: MessagePosted) -> bool:
    """Nudge once if a member's message in a linked group reads like an incident report."""
    if event.chat.is_private or event.sender.is_bot or not looks_like_incident(event.text):
        return False
    now = core.clock.now()
    quiet_since = now - timedelta(minutes=core.config.nudge_cooldown_minutes)
    group = await core.group_by_chat(event.chat.platform, event.chat.chat_id)
    if group is None or not group.active:
        return False
    last = nudges(core).get(group.id)
    if last is not None and last.at > quiet_since:
        return False  # this process nudged there within the cooldown (the claim would say no)
    async with core.tx() as repo:
        groups = GroupRepo(repo.session)
        # Look the poster up without creating a record: a nudge needs no data about them.
        ident = await repo.identity(event.sender.platform, event.sender.user_id)
        if ident is not None:
            held = {g.role for g in await repo.grants_of(ident.person_id)}
            if held & {Role.POLICE.value, Role.PREVENTION.value, Role.COORDINATOR.value}:
                return False
        if not await groups.claim_nudge(group.id, now, quiet_since):
            return False
        _, zone = await bin_and_zone(repo, group.bin_id)
        lang = await group_language(repo, group)
    platform = core.platform(group.platform)
    with_buttons = platform.capabilities.buttons

    def body(lg: str, prefix: str) -> Rich:
        parts = [
            texts.rich(
                "groups.nudge",
                lg,
                p=prefix,
                urgent=zone.urgent_number,
                emergency=zone.emergency_number,
            ),
            numbers_line(zone, lg, prefix),
        ]
        key = "groups.nudge_button_hint" if with_buttons else "groups.nudge_command_hint"
        parts.append(texts.rich(key, lg, p=prefix))
        return Rich.join(parts)

    def buttons(lg: str) -> list[list[Button]]:
        if not with_buttons:
            return []
        return [[Button(label("groups.button_called", lg), f"called:{group.id}")]]

    try:
        ref, rich = await post(
            core, group, body, lang=lang, buttons=buttons, reply_to=event.message_id
        )
    except BotRemoved:
        from bot.services.linking import bot_gone

        await bot_gone(core, group.platform, group.chat_id)
        return False
    except PlatformError as exc:
        log.warning("nudge in group %s failed: %s", group.id, exc.reason)
        return False
    nudges(core)[group.id] = Nudge(ref, rich, now)
    return True


async def called(ctx: Ctx) -> None:
    """Someone says they called 101 after a nudge: the group sees it, once."""
    group = ctx.group
    if group is None or not group.active:
        await ctx.reply("groups.not_linked")
        return
    now = ctx.core.clock.now()
    nudge = nudges(ctx.core).get(group.id)
    recent = nudge.at if nudge is not None else group.last_nudge_at
    if recent is None or now - recent > CALLED_WINDOW:
        await ctx.reply("groups.called_nothing")
        return
    if nudge is not None and nudge.called:
        await ctx.reply("groups.called_already")
        return
    if nudge is not None:
        nudge.called, nudge.called_by = True, ctx.person.id
        platform = ctx.core.platform(group.platform)
        try:
            # The edit only takes the button away; without buttons it would change nothing.
            if platform.capabilities.buttons:
                await platform.edit(nudge.ref, Outgoing(nudge.body))
        except PlatformError as exc:
            log.info(
                "taking the button off the nudge in group %s failed: %s", group.id, exc.reason
            )
    else:
        # After a restart the nudge is forgotten; remember this confirmation from now on.
        nudges(ctx.core)[group.id] = Nudge(
            MessageRef(chat_of(group), ""), Rich(), recent, True, ctx.person.id
        )
    await ctx.reply("groups.called", name=ctx.sender.display_name or "?")


def forget(core: Core, person_id: int) -> None:
    """Drop in-memory traces of a person (who confirmed calling)."""
    for nudge in nudges(core).values():
        if nudge.called_by == person_id:
            nudge.called_by = None
