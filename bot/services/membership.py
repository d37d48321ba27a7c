"""Deciding join requests (first decision wins), letting people in with a welcome, expiring
unanswered requests, and ending memberships (leave, remove)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot import texts
from bot.context import Ctx
from bot.conversation import Key
from bot.model import Outgoing, Platform, Rich, Role
from bot.ports import PlatformError
from bot.scheduler import periodic
from bot.services.audience import (
    bin_and_zone,
    chat_of,
    display_name,
    status_word,
    tell,
    tell_coordinators,
)
from bot.services.joins import Intake, sent_requests, submit
from bot.services.rules import rules_text
from storage.groups import OPEN_STATUSES, GroupRepo
from storage.tables import Bin, Group, JoinRequest, Zone

if TYPE_CHECKING:
    from bot.dispatch import Core

log = logging.getLogger(__name__)

_MARK = {"approved": "✅", "declined": "❌", "expired": "⌛", "withdrawn": "↩"}


async def close(
    core: Core,
    request_id: int,
    status: str,
    *,
    from_statuses: Sequence[str] = ("pending",),
    by: int | None = None,
) -> JoinRequest | None:
    """Close a pending request, answers erased; None when someone else closed it first."""
    # Then the platform's own request is turned down unless approved, and the coordinators'
    # copies lose their buttons.
    now = core.clock.now()
    async with core.tx() as repo:
        groups = GroupRepo(repo.session)
        if not await groups.close_request(
            request_id, status, now, from_statuses=from_statuses, by=by
        ):
            return None
        req = await groups.request(request_id)
        assert req is not None
        group = await groups.group(req.group_id) if req.group_id else None
        ident = next(
            (i for i in await repo.identities_of(req.person_id) if i.platform == req.platform),
            None,
        )
    if status != "approved" and group is not None and group.active and ident is not None:
        try:
            await core.platform(group.platform).decline_join(chat_of(group), ident.user_id)
        except PlatformError as exc:
            log.info("declining the platform request %s failed: %s", request_id, exc.reason)
    sent = sent_requests(core).pop(request_id, None)
    for ref, body in sent.copies if sent else []:
        try:
            mark = Rich.of("\n→ " + _MARK.get(status, status))
            await core.platform(ref.chat.platform).edit(ref, Outgoing(body + mark))
        except PlatformError as exc:
            log.info("taking the buttons off request %s failed: %s", request_id, exc.reason)
    return req


async def decide(ctx: Ctx, request_id: int, approve: bool, reason: str | None = None) -> None:
    """A coordinator approves or declines a request (by button or command)."""
    core = ctx.core
    action = "join.approve" if approve else "join.decline"
    async with core.tx() as repo:
        req = await GroupRepo(repo.session).request(request_id)
        if req is None or req.bin_id not in ctx.roles.bins(Role.COORDINATOR):
            # Button data and numbers are untrusted: whoever names a request they may not
            # decide gets the same answer whether it exists or not, and it is recorded.
            await repo.audit(
                core.clock.now(),
                ctx.actor,
                action,
                outcome="refused",
                reason="unknown" if req is None else "not_coordinator",
                bin_id=req.bin_id if req else None,
                request=request_id,
            )
            refused = True
        else:
            refused = False
            b, zone = await bin_and_zone(repo, req.bin_id)
            name = await display_name(repo, req.person_id, req.platform)
    if refused:
        await ctx.reply("groups.request_not_yours", n=request_id)
        return
    assert req is not None
    # The reason goes to the requester and is not kept: it may well name them.
    closed = None
    if req.status == "pending":
        closed = await close(
            core, request_id, "approved" if approve else "declined", by=ctx.person.id
        )
    if closed is None:
        await _already(ctx, request_id, name)
        return
    if approve:
        await let_in(core, req, b, zone)
    else:

        def declined(lang: str, prefix: str) -> Rich:
            parts = [texts.rich("groups.declined", lang, p=prefix, bin=b.name)]
            if reason:
                parts.append(texts.rich("groups.declined_reason", lang, p=prefix, reason=reason))
            return Rich.join(parts)

        await tell(core, req.person_id, declined)
    await ctx.audit(
        action, zone_id=zone.id, bin_id=b.id, request=request_id, with_reason=bool(reason)
    )
    status = status_word("approved" if approve else "declined", ctx.lang)
    await ctx.reply("groups.decided_by_you", n=request_id, name=name, status=status)
    await tell_coordinators(
        core,
        b.id,
        lambda lang, p: texts.rich(
            "groups.decided_by_other",
            lang,
            p=p,
            n=request_id,
            name=name,
            bin=b.name,
            by=ctx.sender.display_name or "?",
            status=status_word("approved" if approve else "declined", lang),
        ),
        skip=[ctx.person.id],
    )


async def _already(ctx: Ctx, request_id: int, name: str) -> None:
    """Tell a coordinator that a request is no longer waiting, and why."""
    async with ctx.core.tx() as repo:
        req = await GroupRepo(repo.session).request(request_id)
        if req is None:
            await ctx.reply("groups.request_not_yours", n=request_id)
            return
        by = await display_name(repo, req.decided_by) if req.decided_by else ""
    status = status_word(req.status, ctx.lang)
    if by:
        await ctx.reply("groups.request_decided", n=request_id, name=name, status=status, by=by)
    else:
        await ctx.reply("groups.request_closed", n=request_id, name=name, status=status)


async def let_in(core: Core, req: JoinRequest, b: Bin, zone: Zone) -> None:
    """Make the requester a member, let them into the BIN's groups and welcome them."""
    now = core.clock.now()
    async with core.tx() as repo:
        groups = GroupRepo(repo.session)
        await groups.admit(b.id, req.person_id, now)
        idents = {i.platform: i for i in await repo.identities_of(req.person_id)}
        linked = [
            g
            for g in await groups.groups_of_bins([b.id])
            if g.platform in idents and g.platform in core.platforms
        ]
    asked = [g for g in linked if g.id == req.group_id]
    lines: list[tuple[str, dict[str, object]]] = []
    for g in asked or linked:
        lines.append(await _open_door(core, g, idents[g.platform].user_id, bool(asked)))
    if not lines:
        lines.append(("groups.welcome_no_group", {}))

    def body(lang: str, prefix: str) -> Rich:
        parts = [texts.rich("groups.welcome", lang, p=prefix, bin=b.name, zone=zone.name)]
        parts += [texts.rich(key, lang, p=prefix, **values) for key, values in lines]
        parts.append(rules_text(b, zone, lang, prefix))
        parts.append(texts.rich("groups.welcome_footer", lang, p=prefix))
        return Rich.join(parts)

    await tell(core, req.person_id, body)


async def _open_door(
    core: Core, group: Group, user_id: str, asked: bool
) -> tuple[str, dict[str, object]]:
    """Let a new member into one group; the welcome line that says how."""
    # Their own request is approved; else they get the invite link; else an invitation
    # (approve_join invites on Matrix).
    title = group.title or group.chat_id
    if group.invite_link and not asked:
        return "groups.welcome_link", {"group": title, "link": group.invite_link}
    try:
        await core.platform(group.platform).approve_join(chat_of(group), user_id)
        return "groups.welcome_let_in", {"group": title}
    except PlatformError as exc:
        log.info("letting a member into group %s failed: %s", group.id, exc.reason)
    if group.invite_link:
        return "groups.welcome_link", {"group": title, "link": group.invite_link}
    return "groups.welcome_ask_coordinator", {"group": title}


@periodic("joins.expire", seconds=300)
async def expire_requests(core: Core) -> None:
    """Expire unanswered requests (telling both sides) and pass on abandoned intakes."""
    now = core.clock.now()
    async with core.tx() as repo:
        groups = GroupRepo(repo.session)
        due = list(await groups.due_requests(now))
        stale = [
            r
            for r in await groups.intakes_before(now - core.conversations.timeout())
            if r.expires_at > now
        ]
        names = {r.id: await display_name(repo, r.person_id, r.platform) for r in due}
        bins = {r.bin_id: (await bin_and_zone(repo, r.bin_id))[0] for r in due + stale}
    for req in due:
        if await close(core, req.id, "expired", from_statuses=OPEN_STATUSES) is None:
            continue
        found = _intake_of(core, req.id)
        if found is not None:
            del core.conversations.open[found[0]]
        b = bins[req.bin_id]
        await tell(core, req.person_id, "groups.expired_requester", bin=b.name)
        if req.status == "pending":
            await tell_coordinators(
                core, b.id, "groups.expired_coordinators", n=req.id, name=names[req.id], bin=b.name
            )
    for req in stale:
        # Conversations live in memory: after a restart, or when nobody answered, the
        # request goes to the coordinators with what is known rather than waiting unseen.
        found = _intake_of(core, req.id)
        if found is not None and found[1].expires_at > now:
            continue
        answers: dict[str, object] = dict(req.answers or {})  # kept as they were given
        if found is not None:
            del core.conversations.open[found[0]]
            answers = found[1].data["answers"]
        await submit(core, req.id, answers)
        await tell(core, req.person_id, "groups.intake_timeout", bin=bins[req.bin_id].name)


def _intake_of(core: Core, request_id: int) -> tuple[Key, Intake] | None:
    """The open intake conversation of a request, with its key."""
    for key, conv in core.conversations.open.items():
        if isinstance(conv, Intake) and conv.data.get("request_id") == request_id:
            return key, conv
    return None


async def remove_from_groups(core: Core, person_id: int, bin_id: int) -> tuple[int, int]:
    """Take a person out of a BIN's groups where the bot can: (done, failed)."""
    async with core.tx() as repo:
        groups = await GroupRepo(repo.session).groups_of_bins([bin_id])
        idents = {i.platform: i.user_id for i in await repo.identities_of(person_id)}
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
