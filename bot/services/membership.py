"""Deciding join requests (first decision wins), letting people in with a welcome, expiring
unanswered requests, and taking people out of a BIN's groups."""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bot import texts
from bot.commands import Registry
from bot.model import ChatRef, Platform, Rich
from bot.ports import PlatformError
from bot.services.audience import (
    bin_and_zone,
    chat_of,
    display_name,
    tell,
    tell_coordinators,
    title_of,
)
from bot.services.join_requests import Closed, hand_over, settle, submit
from bot.services.join_requests import close as close_request
from bot.services.join_requests import stamp as request_stamp
from bot.services.joins import end_intake, has_intake
from bot.services.rules import rules_text
from storage.groups import OPEN_STATUSES

if TYPE_CHECKING:
    from bot.dispatch import Core
    from storage.tables import Bin, JoinRequest, Zone
    from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

MAX_REASON = 500  # characters of a decline's reason: a sentence or two, never a letter

routes = Registry()


@dataclass(frozen=True)
class NotYours:
    """The request does not exist, or is not of a BIN the coordinator runs."""

    reason: str  # "unknown" or "not_coordinator", as audited
    bin_id: int | None


@dataclass(frozen=True)
class NotWaiting:
    """The request was decided (or closed) already."""

    name: str
    status: str
    by: str  # who decided it, "" when nobody did (expired, withdrawn)


@dataclass(frozen=True)
class Door:
    """A group a new member is to be let into, and how."""

    chat: ChatRef
    title: str
    invite_link: str | None
    user_id: str
    asked: bool  # the group they asked to join (their own platform request is approved)


@dataclass(frozen=True)
class Decided:
    """A request this coordinator decided: what is left to do once that is committed."""

    closed: Closed
    approve: bool
    bin: Bin
    zone: Zone
    doors: tuple[Door, ...] = ()

    @property
    def name(self) -> str:
        return self.closed.view.name


Decision = NotYours | NotWaiting | Decided


async def decide(
    uow: UnitOfWork,
    coordinated: Collection[int],
    person_id: int,
    request_id: int,
    approve: bool,
    now: datetime,
    platforms: Collection[str],
    stamp: str | None = None,
) -> Decision:
    """A coordinator (`person_id`, running the BINs `coordinated`) approves or declines a
    request: closed, and the requester made a member, in `uow`. `stamp`: the request's
    stamp from the button pressed (see `join_requests.stamp`), None for a typed number."""
    req = await uow.groups.request(request_id)
    # Button data and numbers are untrusted: whoever names a request they may not decide
    # gets the same answer whether it exists or not.
    if req is None:
        return NotYours("unknown", None)
    if stamp is not None and stamp != request_stamp(req):
        # A button left under the copy of a request that was erased since: its number now
        # belongs to someone else's request (SQLite may reuse the id of a deleted last row).
        return NotYours("stale", None)
    if req.bin_id not in coordinated:
        return NotYours("not_coordinator", req.bin_id)
    status = "approved" if approve else "declined"
    closed = await close_request(uow, request_id, status, now, by=person_id)
    if closed is None:
        return await _not_waiting(uow, req)
    b, zone = await bin_and_zone(uow, req.bin_id)
    doors = await admit(uow, req, now, platforms) if approve else ()
    return Decided(closed, approve, b, zone, doors)


async def _not_waiting(uow: UnitOfWork, req: JoinRequest) -> NotWaiting:
    name = await display_name(uow, req.person_id, req.platform)
    by = await display_name(uow, req.decided_by) if req.decided_by else ""
    return NotWaiting(name, req.status, by)


async def admit(
    uow: UnitOfWork, req: JoinRequest, now: datetime, platforms: Collection[str]
) -> tuple[Door, ...]:
    """Make the requester an active member; the groups to let them into afterwards."""
    await uow.groups.admit(req.bin_id, req.person_id, now)
    idents = {i.platform: i.user_id for i in await uow.people.identities_of(req.person_id)}
    linked = [
        g
        for g in await uow.groups.groups_of_bins([req.bin_id])
        if g.platform in idents and g.platform in platforms
    ]
    asked = [g for g in linked if g.id == req.group_id]
    return tuple(
        Door(chat_of(g), title_of(g), g.invite_link, idents[g.platform], bool(asked))
        for g in asked or linked
    )


async def carry_out(core: Core, decided: Decided, reason: str | None) -> bool:
    """After a decision was committed: the copies edited, the requester let in and welcomed,
    or told no (with the reason, which is not kept: it may well name them). Whether the
    requester could be told."""
    await settle(core, decided.closed)
    if decided.approve:
        return await let_in(core, decided)
    b = decided.bin

    def declined(lang: str, prefix: str) -> Rich:
        parts = [texts.rich("groups.declined", lang, p=prefix, bin=b.name)]
        if reason:
            parts.append(texts.rich("groups.declined_reason", lang, p=prefix, reason=reason))
        return Rich.join(parts)

    return await tell(core, decided.closed.person_id, declined) is not None


async def let_in(core: Core, decided: Decided) -> bool:
    """Let a new member into the BIN's groups and welcome them with the rules; whether the
    welcome reached them."""
    b, zone = decided.bin, decided.zone
    lines = [await _open_door(core, door) for door in decided.doors]
    if not lines:
        lines.append(("groups.welcome_no_group", {}))

    def body(lang: str, prefix: str) -> Rich:
        parts = [texts.rich("groups.welcome", lang, p=prefix, bin=b.name, zone=zone.name)]
        parts += [texts.rich(key, lang, p=prefix, **values) for key, values in lines]
        parts.append(rules_text(b, zone, lang, prefix))
        parts.append(texts.rich("groups.welcome_footer", lang, p=prefix))
        return Rich.join(parts)

    return await tell(core, decided.closed.person_id, body) is not None


async def _open_door(core: Core, door: Door) -> tuple[str, dict[str, object]]:
    """Let a new member into one group; the welcome line that says how."""
    # Their own request is approved; else they get the invite link; else an invitation
    # (approve_join invites on Matrix).
    if door.invite_link and not door.asked:
        return "groups.welcome_link", {"group": door.title, "link": door.invite_link}
    try:
        await core.platform(door.chat.platform).approve_join(door.chat, door.user_id)
        return "groups.welcome_let_in", {"group": door.title}
    except PlatformError as exc:
        log.info("letting a member into group %s failed: %s", door.chat.chat_id, exc.reason)
    if door.invite_link:
        return "groups.welcome_link", {"group": door.title, "link": door.invite_link}
    return "groups.welcome_ask_coordinator", {"group": door.title}


@routes.periodic("joins.expire", seconds=300)
async def expire_requests(core: Core) -> None:
    """Expire unanswered requests (telling both sides), and pass on intakes that lost their
    conversation. (An intake whose conversation times out is passed on by the conversation
    sweep: `Intake.on_timeout`.)"""
    now = core.clock.now()
    async with core.uow() as uow:
        due = [r.id for r in await uow.groups.due_requests(now)]
        orphans = [
            r.id
            for r in await uow.groups.intakes_before(now - core.conversations.timeout())
            if r.expires_at > now and not await has_intake(uow, r.person_id, r.id)
        ]
    for request_id in due:
        await _expire(core, request_id, now)
    for request_id in orphans:
        await _pass_on(core, request_id)


async def _expire(core: Core, request_id: int, now: datetime) -> None:
    async with core.uow() as uow:
        closed = await close_request(uow, request_id, "expired", now, from_statuses=OPEN_STATUSES)
        if closed is not None:
            await end_intake(uow, closed.person_id, request_id)
        await uow.commit()
    if closed is None:
        return
    await settle(core, closed)
    view = closed.view
    await tell(core, closed.person_id, "groups.expired_requester", bin=view.bin_name)
    if closed.was == "pending":
        await tell_coordinators(
            core,
            view.bin_id,
            "groups.expired_coordinators",
            n=view.id,
            name=view.name,
            bin=view.bin_name,
        )


async def _pass_on(core: Core, request_id: int) -> None:
    """An intake without its conversation (cut by a crash, or replaced by another one): the
    request goes to the coordinators with the answers kept, rather than waiting unseen."""
    async with core.uow() as uow:
        req = await uow.groups.request(request_id)
        answers = dict(req.answers or {}) if req is not None else {}
        view = await submit(uow, request_id, answers, now=core.clock.now())
        person_id = req.person_id if req is not None else 0
        await uow.commit()
    if view is None:
        return
    await hand_over(core, view)
    await tell(core, person_id, "groups.intake_timeout", bin=view.bin_name)


async def remove_from_groups(core: Core, person_id: int, bin_id: int) -> tuple[int, int]:
    """Take a person out of a BIN's groups where the bot can: (done, failed)."""
    async with core.uow() as uow:
        groups = await uow.groups.groups_of_bins([bin_id])
        idents = {i.platform: i.user_id for i in await uow.people.identities_of(person_id)}
    done = failed = 0
    for g in groups:
        if g.platform not in idents or g.platform not in core.platforms:
            continue
        try:
            await core.platform(Platform(g.platform)).remove_member(chat_of(g), idents[g.platform])
            done += 1
        except PlatformError as exc:
            failed += 1
            log.info("removing a member from group %s failed: %s", g.id, exc.reason)
    return done, failed
