"""Nudges: when a group message reads like an incident report, ask kindly whether 101 was
called first (112 when it reads like an emergency), offer "I called 101", and then keep
quiet in that group for a while. A post that says the police were already called gets no
nudge, only a short thank-you, and only when the group had no nudge within the cooldown.

Message text is classified here, in memory, by `bot.nudge`, and dropped: it is never stored
or logged, and neither is what the classifier made of it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot import texts
from bot.context import Ctx
from bot.events import MessagePosted
from bot.model import Button, MessageRef, Outgoing, Rich, Role, UserRef
from bot.nudge import SENSITIVITIES, Kind, Sensitivity, default_model
from bot.ports import BotRemoved, PlatformError
from bot.services.audience import bin_and_zone, chat_of, group_language, label, post
from bot.services.rules import numbers_line
from storage.groups import GroupRepo
from storage.tables import Group, Zone

if TYPE_CHECKING:
    from bot.dispatch import Core

log = logging.getLogger(__name__)

# How long after a nudge "I called 101" still makes sense.
CALLED_WINDOW = timedelta(hours=6)
# People whose posts are never nudged: they are the ones who would be called.
_NEVER_NUDGED = {Role.POLICE.value, Role.PREVENTION.value, Role.COORDINATOR.value}
_SENSITIVITY: dict[str, Sensitivity] = {s: s for s in SENSITIVITIES}


def sensitivity_of(group: Group) -> Sensitivity:
    """The group's nudge sensitivity (set by its coordinator with /nudges)."""
    return _SENSITIVITY.get(group.nudge_sensitivity, "normal")


@dataclass
class Nudge:
    """The last nudge (or thank-you) in a group, and whether someone confirmed calling."""

    ref: MessageRef
    body: Rich
    at: datetime
    called: bool = False
    called_by: int | None = None  # kept only so that /forgetme can drop it
    kind: Kind = "101"


def nudges(core: Core) -> dict[int, Nudge]:
    """Group id -> its last nudge (in memory: a nudge matters for minutes, not days)."""
    found: dict[int, Nudge] = core.services.setdefault("groups:nudges", {})
    return found


async def _claim(
    core: Core, group: Group, sender: UserRef, now: datetime, quiet_since: datetime
) -> tuple[Zone, str] | None:
    """The one transaction of a nudge: nobody to nudge (police, prevention, coordinators)
    or the group nudged within the cooldown -> None; else the group's zone and language."""
    async with core.tx() as repo:
        # Look the poster up without creating a record: a nudge needs no data about them.
        ident = await repo.identity(sender.platform, sender.user_id)
        if ident is not None:
            if {g.role for g in await repo.grants_of(ident.person_id)} & _NEVER_NUDGED:
                return None
        if not await GroupRepo(repo.session).claim_nudge(group.id, now, quiet_since):
            return None
        _, zone = await bin_and_zone(repo, group.bin_id)
        return zone, await group_language(repo, group)


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
    if kind == "none":
        return False
    now = core.clock.now()
    quiet_since = now - timedelta(minutes=core.config.nudge_cooldown_minutes)
    last = nudges(core).get(group.id)
    if last is not None and last.at > quiet_since:
        return False  # this process nudged there within the cooldown (the claim would say no)
    claimed = await _claim(core, group, event.sender, now, quiet_since)
    if claimed is None:
        return False
    zone, lang = claimed
    platform = core.platform(group.platform)
    with_buttons = platform.capabilities.buttons and kind != "called"

    def body(lg: str, prefix: str) -> Rich:
        numbers = {"urgent": zone.urgent_number, "emergency": zone.emergency_number}
        if kind == "called":
            return texts.rich("nudges.thanks", lg, p=prefix, **numbers)
        key = "nudges.nudge_112" if kind == "112" else "groups.nudge"
        parts = [texts.rich(key, lg, p=prefix, **numbers), numbers_line(zone, lg, prefix)]
        hint = "groups.nudge_button_hint" if with_buttons else "groups.nudge_command_hint"
        parts.append(texts.rich(hint, lg, p=prefix))
        return Rich.join(parts)

    def buttons(lg: str) -> list[list[Button]]:
        if not with_buttons:
            return []
        key = "nudges.button_called_112" if kind == "112" else "groups.button_called"
        return [[Button(label(key, lg), f"called:{group.id}")]]

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
    nudges(core)[group.id] = Nudge(ref, rich, now, called=kind == "called", kind=kind)
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
    key = "nudges.called_112" if nudge is not None and nudge.kind == "112" else "groups.called"
    await ctx.reply(key, name=ctx.sender.display_name or "?")


def forget(core: Core, person_id: int) -> None:
    """Drop in-memory traces of a person (who confirmed calling)."""
    for nudge in nudges(core).values():
        if nudge.called_by == person_id:
            nudge.called_by = None
