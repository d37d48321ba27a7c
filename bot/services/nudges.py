"""Nudges: when a group message reads like an incident report, ask kindly whether 101 was
called first, offer "I called 101", and then keep quiet in that group for a while.

Message text is classified here, in memory, and dropped: it is never stored or logged.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot import texts
from bot.context import Ctx
from bot.events import MessagePosted
from bot.model import Button, MessageRef, Outgoing, Rich, Role, UserRef
from bot.ports import BotRemoved, PlatformError
from bot.services.audience import (
    Body,
    bin_and_zone,
    chat_of,
    group_language,
    label,
    post,
    prefix_for,
    render,
    shown_name,
)
from bot.services.rules import numbers_line

if TYPE_CHECKING:
    from bot.dispatch import Core
    from storage.tables import Group, Zone
    from storage.uow import UnitOfWork

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


@dataclass(frozen=True)
class Nudge:
    """The last nudge in a group, and whether someone confirmed calling 101 (stored, so that
    any process takes "I called 101"; who confirmed is not kept)."""

    message_id: str
    lang: str
    at: datetime
    called: bool = False


def _key(group_id: int) -> str:
    return f"nudge:{group_id}"


async def _last(uow: UnitOfWork, group_id: int) -> Nudge | None:
    raw = await uow.state.get(_key(group_id))
    if raw is None:
        return None
    d = json.loads(raw)
    return Nudge(d["message_id"], d["lang"], datetime.fromisoformat(d["at"]), d["called"])


async def _keep(uow: UnitOfWork, group_id: int, nudge: Nudge) -> None:
    value = {
        "message_id": nudge.message_id,
        "lang": nudge.lang,
        "at": nudge.at.isoformat(),
        "called": nudge.called,
    }
    await uow.state.put(_key(group_id), json.dumps(value))


async def _claim(
    uow: UnitOfWork, group: Group, sender: UserRef, now: datetime, quiet_since: datetime
) -> tuple[Zone, str] | None:
    """The group's zone and language when this message is to be nudged (the cooldown claimed
    in `uow`); None when it is not."""
    # Look the poster up without creating a record: a nudge needs no data about them.
    ident = await uow.people.identity(sender.platform, sender.user_id)
    if ident is not None:
        held = {g.role for g in await uow.people.grants_of(ident.person_id)}
        if held & {Role.POLICE.value, Role.PREVENTION.value, Role.COORDINATOR.value}:
            return None
    if not await uow.groups.claim_nudge(group.id, now, quiet_since):
        return None
    _, zone = await bin_and_zone(uow, group.bin_id)
    return zone, await group_language(uow, group)


def _body(zone: Zone, with_buttons: bool) -> Body:
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

    return body


async def maybe_nudge(core: Core, event: MessagePosted) -> bool:
    """Nudge once if a member's message in a linked group reads like an incident report."""
    if event.chat.is_private or event.sender.is_bot or not looks_like_incident(event.text):
        return False
    now = core.clock.now()
    quiet_since = now - timedelta(minutes=core.config.nudge_cooldown_minutes)
    group = await core.group_by_chat(event.chat.platform, event.chat.chat_id)
    if group is None or not group.active:
        return False
    async with core.uow() as uow:
        claimed = await _claim(uow, group, event.sender, now, quiet_since)
        await uow.commit()
    if claimed is None:
        return False
    zone, lang = claimed
    platform = core.platform(group.platform)
    with_buttons = platform.capabilities.buttons

    def buttons(lg: str) -> list[list[Button]]:
        if not with_buttons:
            return []
        return [[Button(label("groups.button_called", lg), f"called:{group.id}")]]

    try:
        ref, _ = await post(
            core,
            group,
            _body(zone, with_buttons),
            lang=lang,
            buttons=buttons,
            reply_to=event.message_id,
        )
    except BotRemoved:
        from bot.services.linking import bot_gone

        await bot_gone(core, group.platform, group.chat_id)
        return False
    except PlatformError as exc:
        log.warning("nudge in group %s failed: %s", group.id, exc.reason)
        return False
    async with core.uow() as uow:
        await _keep(uow, group.id, Nudge(ref.message_id, lang, now))
        await uow.commit()
    return True


async def called(ctx: Ctx) -> None:
    """Someone says they called 101 after a nudge: the group sees it, once."""
    group = ctx.group
    if group is None or not group.active:
        await ctx.reply("groups.not_linked")
        return
    now = ctx.core.clock.now()
    async with ctx.core.uow() as uow:
        nudge = await _last(uow, group.id)
        row = await uow.groups.group(group.id) if nudge is None else None
        if nudge is None and row is not None and row.last_nudge_at is not None:
            nudge = Nudge("", "", row.last_nudge_at)  # a nudge whose message is not known
        if nudge is None or now - nudge.at > CALLED_WINDOW:
            await ctx.reply("groups.called_nothing")
            return
        if nudge.called:
            await ctx.reply("groups.called_already")
            return
        await _keep(uow, group.id, replace(nudge, called=True))
        _, zone = await bin_and_zone(uow, group.bin_id)
        await uow.commit()
    platform = ctx.core.platform(group.platform)
    # The edit only takes the button away; without buttons it would change nothing.
    if nudge.message_id and platform.capabilities.buttons:
        body = render(_body(zone, True), nudge.lang, prefix_for(group.platform), {})
        try:
            await platform.edit(MessageRef(chat_of(group), nudge.message_id), Outgoing(body))
        except PlatformError as exc:
            log.info(
                "taking the button off the nudge in group %s failed: %s", group.id, exc.reason
            )
    await ctx.reply("groups.called", name=shown_name(ctx.sender.display_name))


def forget(core: Core, person_id: int) -> None:
    """Nothing to drop: the stored nudge says that someone confirmed calling, never who."""
