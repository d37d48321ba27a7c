"""Nudges: when a group message reads like an incident report, ask kindly whether 101 was
called first (112 when it reads like an emergency), offer "I called 101", and then keep
quiet in that group for a while. A post that says the police were already called gets no
nudge, only a short thank-you, and only when the group had no nudge within the cooldown.

Message text is classified here, in memory, by `bot.nudge`, and dropped: it is never stored
or logged, and neither is what the classifier made of it. The monthly figures count per BIN
the nudges posted, the thank-yous and the "I called 101" confirmations: a number, never who
or what (storage/figures.py, EVENTS).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot import texts
from bot.context import Ctx
from bot.events import MessagePosted
from bot.model import Button, MessageRef, Outgoing, Rich, Role, UserRef
from bot.nudge import SENSITIVITIES, Kind, Sensitivity, default_model
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

# How long after a nudge "I called 101" still makes sense.
CALLED_WINDOW = timedelta(hours=6)


# People whose posts are never nudged: they are the ones who would be called.
_NEVER_NUDGED = {Role.POLICE.value, Role.PREVENTION.value, Role.COORDINATOR.value}
_SENSITIVITY: dict[str, Sensitivity] = {s: s for s in SENSITIVITIES}


# A thank-you is a courtesy: said only when the post clearly says the police were called, so
# that a stray code or number never draws one.
THANKS_MIN_PROBABILITY = 0.7
THANKS_MIN_WORDS = 3


def _clearly_called(p: Mapping[Kind, float], text: str) -> bool:
    words = [w for w in text.split() if any(ch.isalpha() for ch in w)]
    return p["called"] >= THANKS_MIN_PROBABILITY and len(words) >= THANKS_MIN_WORDS


def sensitivity_of(group: Group) -> Sensitivity:
    """The group's nudge sensitivity (set by its coordinator with /nudges)."""
    return _SENSITIVITY.get(group.nudge_sensitivity, "normal")


@dataclass(frozen=True)
class Nudge:
    """The last nudge in a group, and whether someone confirmed calling 101 (stored, so that
    any process takes "I called 101"; who confirmed is not kept)."""

    message_id: str
    lang: str
    at: datetime
    called: bool = False
    kind: Kind = "101"


def _key(group_id: int) -> str:
    return f"nudge:{group_id}"


async def _last(uow: UnitOfWork, group_id: int) -> Nudge | None:
    raw = await uow.state.get(_key(group_id))
    if raw is None:
        return None
    d = json.loads(raw)
    kind: Kind = "112" if d.get("kind") == "112" else "101"
    return Nudge(d["message_id"], d["lang"], datetime.fromisoformat(d["at"]), d["called"], kind)


async def _keep(uow: UnitOfWork, group_id: int, nudge: Nudge) -> None:
    value = {
        "message_id": nudge.message_id,
        "lang": nudge.lang,
        "at": nudge.at.isoformat(),
        "called": nudge.called,
        "kind": nudge.kind,
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
        if {g.role for g in await uow.people.grants_of(ident.person_id)} & _NEVER_NUDGED:
            return None
    if not await uow.groups.claim_nudge(group.id, now, quiet_since):
        return None
    _, zone = await bin_and_zone(uow, group.bin_id)
    return zone, await group_language(uow, group)


def _body(zone: Zone, kind: Kind, with_buttons: bool) -> Body:
    def body(lg: str, prefix: str) -> Rich:
        numbers = {"urgent": zone.urgent_number, "emergency": zone.emergency_number}
        if kind == "called":
            return texts.rich("nudges.thanks", lg, p=prefix, **numbers)
        key = "nudges.nudge_112" if kind == "112" else "groups.nudge"
        parts = [texts.rich(key, lg, p=prefix, **numbers), numbers_line(zone, lg, prefix)]
        hint = "groups.nudge_button_hint" if with_buttons else "groups.nudge_command_hint"
        parts.append(texts.rich(hint, lg, p=prefix))
        return Rich.join(parts)

    return body


async def maybe_nudge(core: Core, event: MessagePosted) -> bool:
    """Nudge once if a member's message in a linked group reads like an incident report;
    thank them if it says the police were already called."""
    if event.chat.is_private or event.sender.is_bot:
        return False
    model = default_model()
    p = model.probabilities(event.text)  # the text goes no further than this line
    if model.decide_from(p, "high").kind == "none":
        return False  # nothing to say at any sensitivity: most group messages end here
    group = await core.group_by_chat(event.chat.platform, event.chat.chat_id)
    if group is None or not group.active:
        return False
    kind = model.decide_from(p, sensitivity_of(group)).kind
    if kind == "none" or (kind == "called" and not _clearly_called(p, event.text)):
        return False
    now = core.clock.now()
    quiet_since = now - timedelta(minutes=core.config.nudge_cooldown_minutes)
    async with core.uow() as uow:
        claimed = await _claim(uow, group, event.sender, now, quiet_since)
        await uow.commit()
    if claimed is None:
        return False
    zone, lang = claimed
    with_buttons = core.platform(group.platform).capabilities.buttons and kind != "called"

    def buttons(lg: str) -> list[list[Button]]:
        if not with_buttons:
            return []
        key = "nudges.button_called_112" if kind == "112" else "groups.button_called"
        return [[Button(label(key, lg), f"called:{group.id}")]]

    try:
        ref, _ = await post(
            core,
            group,
            _body(zone, kind, with_buttons),
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
    stored: Kind = "112" if kind == "112" else "101"
    counted = "thanks" if kind == "called" else f"nudge_{stored}"
    async with core.uow() as uow:
        await _keep(uow, group.id, Nudge(ref.message_id, lang, now, kind == "called", stored))
        await uow.figures.count_event(now, group.bin_id, counted)
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
        await uow.figures.count_event(now, group.bin_id, "called")
        _, zone = await bin_and_zone(uow, group.bin_id)
        await uow.commit()
    platform = ctx.core.platform(group.platform)
    # The edit only takes the button away; without buttons it would change nothing.
    if nudge.message_id and platform.capabilities.buttons:
        body = render(_body(zone, nudge.kind, True), nudge.lang, prefix_for(group.platform), {})
        try:
            await platform.edit(MessageRef(chat_of(group), nudge.message_id), Outgoing(body))
        except PlatformError as exc:
            log.info(
                "taking the button off the nudge in group %s failed: %s", group.id, exc.reason
            )
    key = "nudges.called_112" if nudge.kind == "112" else "groups.called"
    await ctx.reply(key, name=shown_name(ctx.sender.display_name))


def forget(core: Core, person_id: int) -> None:
    """Nothing to drop: the stored nudge says that someone confirmed calling, never who."""
