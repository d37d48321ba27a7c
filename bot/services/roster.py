"""A BIN's roster: pending requests and members for its coordinators, removing a member,
and members leaving (by command or by leaving the group on the platform)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.args import looks_like_number, number_arg, parse_number
from bot.context import Ctx
from bot.model import Button, ChatRef, Rich, Role, UserRef
from bot.services.audience import display_name, label, tell
from bot.services.join_requests import question_text
from bot.services.joins import withdraw
from bot.services.membership import remove_from_groups

if TYPE_CHECKING:
    from bot.dispatch import Core
    from storage.tables import Membership
    from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

MAX_BUTTON_ROWS = 10  # beyond this, /approve N reads better than a wall of buttons


async def pending(ctx: Ctx) -> None:
    """List the requests waiting in the coordinator's BINs, oldest first."""
    mine = sorted(ctx.roles.bins(Role.COORDINATOR))
    lines: list[Rich] = []
    rows: list[list[Button]] = []
    async with ctx.core.uow() as uow:
        requests = await uow.groups.requests(mine)
        bins = {b.id: b.name for b in await uow.directory.bins()}
        for r in requests:
            name = await display_name(uow, r.person_id, r.platform)
            lines.append(
                ctx.t(
                    "groups.requests_item",
                    n=r.id,
                    name=name,
                    bin=bins[r.bin_id],
                    date=r.created_at.date().isoformat(),
                    expires=r.expires_at.date().isoformat(),
                )
            )
            for question, answer in (r.answers or {}).items():
                lines.append(
                    ctx.t(
                        "groups.request_answer",
                        question=question_text(question, ctx.lang),
                        answer=answer,
                    )
                )
            if len(rows) < MAX_BUTTON_ROWS:
                rows.append(
                    [
                        Button(
                            label("groups.button_approve", ctx.lang) + f" #{r.id}",
                            f"jr:approve:{r.id}",
                        ),
                        Button(
                            label("groups.button_decline", ctx.lang) + f" #{r.id}",
                            f"jr:decline:{r.id}",
                        ),
                    ]
                )
    if not requests:
        await ctx.reply("groups.requests_none")
        return
    head = ctx.t("groups.requests_title", count=len(requests))
    with_buttons = ctx.core.platform(ctx.platform).capabilities.buttons
    await ctx.send_rich(
        Rich.join([head, *lines, ctx.t("groups.requests_how")]),
        buttons=rows if with_buttons else (),
    )


async def members(ctx: Ctx, word: str) -> None:
    """List the active members of the coordinator's BINs (or of one of them)."""
    mine = ctx.roles.bins(Role.COORDINATOR)
    async with ctx.core.uow() as uow:
        if word:
            b = await uow.directory.find_bin(word)
            if b is None:
                await ctx.reply("groups.unknown_bin", word=word)
                return
            if b.id not in mine:
                await ctx.audit(
                    "member.list", outcome="refused", reason="not_coordinator", bin_id=b.id
                )
                await ctx.reply("groups.members_refused", bin=b.name)
                await uow.commit()
                return
            chosen = [b]
        else:
            chosen = [b for b in await uow.directory.bins() if b.id in mine]
        lines: list[Rich] = []
        for b in chosen:
            lines += await _member_lines(ctx, uow, b.id, b.name)
    lines.append(ctx.t("groups.members_how"))
    await ctx.send_rich(Rich.join(lines))


async def _member_lines(ctx: Ctx, uow: UnitOfWork, bin_id: int, bin_name: str) -> list[Rich]:
    """One BIN's members, then those removed from it."""
    rows = await uow.groups.members([bin_id])
    lines = [ctx.t("groups.members_title", bin=bin_name, count=len(rows))]
    for m in rows:
        idents = await uow.people.identities_of(m.person_id)
        lines.append(
            ctx.t(
                "groups.members_item",
                n=m.id,
                name=await display_name(uow, m.person_id),
                platforms=", ".join(i.platform.capitalize() for i in idents),
                since=m.joined_at.date().isoformat(),
            )
        )
    gone = await uow.groups.removed([bin_id])
    if gone:
        lines.append(ctx.t("groups.members_removed_title", count=len(gone)))
    for m in gone:
        lines.append(
            ctx.t(
                "groups.members_removed_item",
                n=m.id,
                name=await display_name(uow, m.person_id),
                date=m.ended_at.date().isoformat() if m.ended_at else "-",
            )
        )
    return lines


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
            await ctx.reply(m or "groups.member_not_found", member=word)
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
    await tell(core, m.person_id, "groups.removed_you", bin=b.name)
    await ctx.reply("groups.remove_done", name=name, bin=b.name, done=done)
    if failed:
        await ctx.reply("groups.remove_failed", failed=failed)


async def readmit(ctx: Ctx, n: int) -> None:
    """A coordinator lifts the removal of membership `n`: the person may ask to join the BIN
    again. They are not let back in by this: they ask with /join and are approved as anyone."""
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
        if m.status != "removed":
            await ctx.reply("groups.readmit_not_removed", name=name, bin=b.name)
            return
        m.status = "left"  # ended, as if they had left: /join works again
        await ctx.audit("member.readmit", zone_id=b.zone_id, bin_id=b.id, membership=m.id)
        await tell(ctx.core, m.person_id, "groups.readmitted_you", bin=b.name, code=b.code)
        await ctx.reply("groups.readmit_done", name=name, bin=b.name)
        await uow.commit()


async def leave(ctx: Ctx, word: str) -> None:
    """A member leaves a BIN: out of its groups where the bot can, and told privately."""
    async with ctx.core.uow() as uow:
        active = list(await uow.groups.memberships_of(ctx.person.id))
        bins = {b.id: b for b in await uow.directory.bins()}
        named = await uow.directory.find_bin(word) if word else None
        req = await uow.groups.open_request(ctx.person.id, named.id) if named else None
    if word and named is None:
        await ctx.reply("groups.unknown_bin", word=word)
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
