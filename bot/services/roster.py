"""A BIN's roster: removing a member, blocking a requester, lifting either, and members
leaving (by command or by leaving the group on the platform)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.args import looks_like_number, number_arg, parse_number
from bot.context import Ctx
from bot.model import ChatRef, Rich, Role, UserRef
from bot.services.audience import (
    MAX_SHOWN_WORD,
    bin_and_zone,
    display_name,
    shorten,
    shown_name,
    tell,
    tell_coordinators,
)
from bot.services.join_requests import close, settle
from bot.services.joins import end_intake, withdraw
from bot.services.membership import remove_from_groups
from storage.groups import OPEN_STATUSES

if TYPE_CHECKING:
    from bot.dispatch import Core
    from storage.tables import Membership
    from storage.uow import UnitOfWork

log = logging.getLogger(__name__)


def told_line(ctx: Ctx, name: str, told: bool) -> Rich:
    """Whether the person concerned was told (privately) of what a coordinator did."""
    return ctx.t("groups.told_them") if told else ctx.t("groups.not_told", name=name)


async def _find_member(ctx: Ctx, uow: UnitOfWork, word: str) -> Membership | str | None:
    """The active membership a coordinator means (`12`, `#12` or a display name); a key if
    unclear. A number in a BIN they do not run is audited (in `uow`) and not found."""
    mine = ctx.roles.bins(Role.COORDINATOR)
    if looks_like_number(word):
        n = parse_number(word)
        m = await uow.groups.membership_by_id(n) if isinstance(n, int) else None
        if m is not None and m.bin_id not in mine:
            await ctx.audit(
                "member.remove",
                outcome="refused",
                reason="not_coordinator",
                bin_id=m.bin_id,
                membership=m.id,
            )
            return None
        return m if m is not None and m.status == "active" else None
    wanted = " ".join(word.split()).casefold()
    found = [
        m
        for m in await uow.groups.members(sorted(mine))
        if (await display_name(uow, m.person_id)).casefold() == wanted
    ]
    if len(found) > 1:
        return "groups.member_ambiguous"
    return found[0] if found else None


async def remove(ctx: Ctx, word: str) -> None:
    """A coordinator removes a member: out of the BIN's groups where the bot can, and told."""
    word = word.strip()
    if not word:
        await ctx.reply("groups.remove_usage")
        return
    if looks_like_number(word) and await number_arg(ctx, word, "groups.remove_usage") is None:
        return
    core = ctx.core
    now = core.clock.now()
    async with core.uow() as uow:
        m = await _find_member(ctx, uow, word)
        if isinstance(m, str) or m is None:
            member = shorten(word, MAX_SHOWN_WORD)
            await ctx.reply(m or "groups.member_not_found", member=member)
            await uow.commit()  # the refusal's audit entry, if any
            return
        m.status, m.ended_at = "removed", now
        b = await uow.directory.bin(m.bin_id)
        assert b is not None
        name = await display_name(uow, m.person_id)
        await ctx.audit("member.remove", zone_id=b.zone_id, bin_id=b.id, membership=m.id)
        await uow.commit()
    ctx.done("groups.done_removed", name=name, bin=b.name)
    done, failed = await remove_from_groups(core, m.person_id, b.id)
    told = await tell(core, m.person_id, "groups.removed_you", bin=b.name)
    done_text = ctx.t("groups.remove_done", name=name, bin=b.name, done=done)
    await ctx.send_rich(Rich.join([done_text, told_line(ctx, name, told is not None)]))
    if failed:
        await ctx.reply("groups.remove_failed", failed=failed)


async def readmit(ctx: Ctx, n: int) -> None:
    """A coordinator lifts the removal or the block of membership `n`: the person may ask to
    join the BIN again. They are not let in by this: they ask with /join and are approved as
    anyone."""
    mine = ctx.roles.bins(Role.COORDINATOR)
    async with ctx.core.uow() as uow:
        m = await uow.groups.membership_by_id(n)
        if m is None or m.bin_id not in mine:
            if m is not None:
                await ctx.audit(
                    "member.readmit",
                    outcome="refused",
                    reason="not_coordinator",
                    bin_id=m.bin_id,
                    membership=m.id,
                )
            await ctx.reply("groups.readmit_not_found", n=n)
            await uow.commit()
            return
        b = await uow.directory.bin(m.bin_id)
        assert b is not None
        name = await display_name(uow, m.person_id)
        person_id, was = m.person_id, m.status
        if was == "removed":
            m.status = "left"  # ended, as if they had left: /join works again
        elif was == "blocked":
            await uow.groups.forget_membership(m.id)  # they never were a member
        else:
            await ctx.reply("groups.readmit_not_removed", name=name, bin=b.name)
            return
        await ctx.audit("member.readmit", zone_id=b.zone_id, bin_id=b.id, membership=n, was=was)
        await uow.commit()
    told = await tell(ctx.core, person_id, "groups.readmitted_you", bin=b.name, code=b.code)
    done_text = ctx.t("groups.readmit_done", name=name, bin=b.name)
    await ctx.send_rich(Rich.join([done_text, told_line(ctx, name, told is not None)]))


async def block(ctx: Ctx, n: int) -> None:
    """A coordinator stops the person behind request `n` from asking to join that BIN again
    (an open request is declined with it); /readmit lifts it. Audited, refusals too."""
    core = ctx.core
    mine = ctx.roles.bins(Role.COORDINATOR)
    now = core.clock.now()
    async with core.uow() as uow:
        req = await uow.groups.request(n)
        if req is None or req.bin_id not in mine:
            if req is not None:
                await ctx.audit(
                    "join.block", outcome="refused", reason="not_coordinator", bin_id=req.bin_id
                )
            await ctx.reply("groups.request_not_yours", n=n)
            await uow.commit()
            return
        b, zone = await bin_and_zone(uow, req.bin_id)
        name = await display_name(uow, req.person_id, req.platform)
        m = await uow.groups.membership(b.id, req.person_id)
        if m is not None and m.status in ("active", "removed", "blocked"):
            key = "groups.block_member" if m.status == "active" else "groups.block_already"
            await ctx.reply(key, name=name, bin=b.name, m=m.id)
            return
        by = ctx.person.id
        closed = await close(uow, n, "declined", now, from_statuses=OPEN_STATUSES, by=by)
        if closed is not None:
            await end_intake(uow, closed.person_id, n)
        m = await uow.groups.block(b.id, req.person_id, now)
        await ctx.audit("join.block", zone_id=zone.id, bin_id=b.id, request=n, membership=m.id)
        await uow.commit()
    ctx.done("groups.done_blocked", name=name, bin=b.name)
    await ctx.reply("groups.block_done", name=name, bin=b.name, m=m.id)
    if closed is None:
        return
    await settle(core, closed)
    told = await tell(core, closed.person_id, "groups.declined", bin=b.name)
    if told is None:
        await ctx.reply("groups.not_told", name=name)
    await tell_coordinators(
        core,
        b.id,
        "groups.blocked_by_other",
        n=n,
        name=name,
        bin=b.name,
        by=shown_name(ctx.sender.display_name),
        skip=[ctx.person.id],
    )


async def leave(ctx: Ctx, word: str) -> None:
    """A member leaves a BIN: out of its groups where the bot can, and told privately."""
    async with ctx.core.uow() as uow:
        active = list(await uow.groups.memberships_of(ctx.person.id))
        bins = {b.id: b for b in await uow.directory.bins()}
        named = await uow.directory.find_bin(word) if word else None
        req = await uow.groups.open_request(ctx.person.id, named.id) if named else None
    if word and named is None:
        await ctx.reply("groups.unknown_bin", word=shorten(word, MAX_SHOWN_WORD))
        return
    if named is not None:
        chosen = next((m for m in active if m.bin_id == named.id), None)
        if chosen is None and req is not None:
            await withdraw(ctx.core, req.id)
            await ctx.reply("groups.request_withdrawn", bin=named.name)
            return
        if chosen is None:
            await ctx.reply("groups.leave_not_member", bin=named.name)
            return
    elif ctx.group is not None and any(m.bin_id == ctx.group.bin_id for m in active):
        chosen = next(m for m in active if m.bin_id == ctx.group.bin_id)
    elif len(active) == 1:
        chosen = active[0]
    elif not active:
        await ctx.reply("groups.leave_none")
        return
    else:
        codes = ", ".join(bins[m.bin_id].code for m in active)
        await ctx.reply("groups.leave_which", codes=codes)
        return
    b = bins[chosen.bin_id]
    async with ctx.core.uow() as uow:
        m = await uow.groups.membership_by_id(chosen.id)
        if m is not None:
            m.status, m.ended_at = "left", ctx.core.clock.now()
        await uow.commit()
    await remove_from_groups(ctx.core, ctx.person.id, b.id)
    if ctx.chat.is_private:
        await ctx.reply("groups.left", bin=b.name)
    else:
        await tell(ctx.core, ctx.person.id, "groups.left", bin=b.name)


async def member_left(core: Core, chat: ChatRef, user: UserRef) -> None:
    """Someone left a BIN group on the platform: the membership ends with the last group."""
    # The last group of that BIN on that platform: elsewhere they are still in the BIN.
    if chat.is_private or user.is_bot:
        return
    async with core.uow() as uow:
        group = await uow.groups.group_by_chat(chat.platform, chat.chat_id)
        ident = await uow.people.identity(user.platform, user.user_id)
        if group is None or not group.active or ident is None:
            return
        m = await uow.groups.membership(group.bin_id, ident.person_id)
        if m is None or m.status != "active":
            return  # removed or left already (our own removal comes back as this event)
        others = [
            g
            for g in await uow.groups.groups_of_bins([group.bin_id])
            if g.id != group.id and g.platform == group.platform
        ]
        if others:
            return
        m.status, m.ended_at = "left", core.clock.now()
        b = await uow.directory.bin(group.bin_id)
        assert b is not None
        await tell(core, ident.person_id, "groups.left_by_platform", bin=b.name, code=b.code)
        await uow.commit()
