"""A BIN's roster: pending requests and members for its coordinators, removing a member,
and members leaving (by command or by leaving the group on the platform)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.context import Ctx
from bot.model import Button, ChatRef, Rich, Role, UserRef
from bot.services.audience import display_name, label, tell
from bot.services.joins import question_text, withdraw
from bot.services.membership import remove_from_groups
from storage.groups import GroupRepo
from storage.tables import Membership

if TYPE_CHECKING:
    from bot.dispatch import Core

log = logging.getLogger(__name__)

MAX_BUTTON_ROWS = 10  # beyond this, /approve N reads better than a wall of buttons


async def pending(ctx: Ctx) -> None:
    """List the requests waiting in the coordinator's BINs, oldest first."""
    mine = sorted(ctx.roles.bins(Role.COORDINATOR))
    lines: list[Rich] = []
    rows: list[list[Button]] = []
    async with ctx.core.tx() as repo:
        requests = await GroupRepo(repo.session).requests(mine)
        bins = {b.id: b.name for b in await repo.bins()}
        for r in requests:
            name = await display_name(repo, r.person_id, r.platform)
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
    async with ctx.core.tx() as repo:
        if word:
            b = await repo.find_bin(word)
            if b is None:
                await ctx.reply("groups.unknown_bin", word=word)
                return
            if b.id not in mine:
                await repo.audit(
                    ctx.core.clock.now(),
                    ctx.actor,
                    "member.list",
                    outcome="refused",
                    reason="not_coordinator",
                    bin_id=b.id,
                )
                await ctx.reply("groups.members_refused", bin=b.name)
                return
            chosen = [b]
        else:
            chosen = [b for b in await repo.bins() if b.id in mine]
        groups = GroupRepo(repo.session)
        lines: list[Rich] = []
        for b in chosen:
            rows = await groups.members([b.id])
            lines.append(ctx.t("groups.members_title", bin=b.name, count=len(rows)))
            for m in rows:
                idents = await repo.identities_of(m.person_id)
                lines.append(
                    ctx.t(
                        "groups.members_item",
                        n=m.id,
                        name=await display_name(repo, m.person_id),
                        platforms=", ".join(i.platform.capitalize() for i in idents),
                        since=m.joined_at.date().isoformat(),
                    )
                )
            gone = await groups.removed([b.id])
            if gone:
                lines.append(ctx.t("groups.members_removed_title", count=len(gone)))
            for m in gone:
                lines.append(
                    ctx.t(
                        "groups.members_removed_item",
                        n=m.id,
                        name=await display_name(repo, m.person_id),
                        date=m.ended_at.date().isoformat() if m.ended_at else "-",
                    )
                )
    lines.append(ctx.t("groups.members_how"))
    await ctx.send_rich(Rich.join(lines))


async def _find_member(ctx: Ctx, word: str) -> Membership | str | None:
    """The membership a coordinator means (`12`, `#12` or a display name); a key if unclear."""
    mine = ctx.roles.bins(Role.COORDINATOR)
    async with ctx.core.tx() as repo:
        groups = GroupRepo(repo.session)
        if word.lstrip("#").isdigit():
            m = await groups.membership_by_id(int(word.lstrip("#")))
            if m is not None and m.bin_id not in mine:
                await repo.audit(
                    ctx.core.clock.now(),
                    ctx.actor,
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
            for m in await groups.members(sorted(mine))
            if (await display_name(repo, m.person_id)).casefold() == wanted
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
    found = await _find_member(ctx, word)
    if isinstance(found, str):
        await ctx.reply(found)
        return
    if found is None:
        await ctx.reply("groups.member_not_found", member=word)
        return
    now = ctx.core.clock.now()
    async with ctx.core.tx() as repo:
        m = await GroupRepo(repo.session).membership_by_id(found.id)
        assert m is not None
        m.status, m.ended_at = "removed", now
        b = await repo.bin(m.bin_id)
        assert b is not None
        name = await display_name(repo, m.person_id)
        await repo.audit(
            now, ctx.actor, "member.remove", zone_id=b.zone_id, bin_id=b.id, membership=m.id
        )
    done, failed = await remove_from_groups(ctx.core, m.person_id, b.id)
    await tell(ctx.core, m.person_id, "groups.removed_you", bin=b.name)
    await ctx.reply("groups.remove_done", name=name, bin=b.name, done=done)
    if failed:
        await ctx.reply("groups.remove_failed", failed=failed)


async def readmit(ctx: Ctx, n: int) -> None:
    """A coordinator lifts the removal of membership `n`: the person may ask to join the BIN
    again. They are not let back in by this: they ask with /join and are approved as anyone."""
    mine = ctx.roles.bins(Role.COORDINATOR)
    now = ctx.core.clock.now()
    async with ctx.core.tx() as repo:
        m = await GroupRepo(repo.session).membership_by_id(n)
        if m is None or m.bin_id not in mine:
            if m is not None:
                await repo.audit(
                    now,
                    ctx.actor,
                    "member.readmit",
                    outcome="refused",
                    reason="not_coordinator",
                    bin_id=m.bin_id,
                    membership=m.id,
                )
            await ctx.reply("groups.readmit_not_found", n=n)
            return
        b = await repo.bin(m.bin_id)
        assert b is not None
        name = await display_name(repo, m.person_id)
        if m.status != "removed":
            await ctx.reply("groups.readmit_not_removed", name=name, bin=b.name)
            return
        m.status = "left"  # ended, as if they had left: /join works again
        await repo.audit(
            now, ctx.actor, "member.readmit", zone_id=b.zone_id, bin_id=b.id, membership=m.id
        )
    await tell(ctx.core, m.person_id, "groups.readmitted_you", bin=b.name, code=b.code)
    await ctx.reply("groups.readmit_done", name=name, bin=b.name)


async def leave(ctx: Ctx, word: str) -> None:
    """A member leaves a BIN: out of its groups where the bot can, and told privately."""
    async with ctx.core.tx() as repo:
        groups = GroupRepo(repo.session)
        active = list(await groups.memberships_of(ctx.person.id))
        bins = {b.id: b for b in await repo.bins()}
        named = await repo.find_bin(word) if word else None
        req = await groups.open_request(ctx.person.id, named.id) if named else None
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
    async with ctx.core.tx() as repo:
        m = await GroupRepo(repo.session).membership_by_id(chosen.id)
        if m is not None:
            m.status, m.ended_at = "left", ctx.core.clock.now()
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
    async with core.tx() as repo:
        groups = GroupRepo(repo.session)
        group = await groups.group_by_chat(chat.platform, chat.chat_id)
        ident = await repo.identity(user.platform, user.user_id)
        if group is None or not group.active or ident is None:
            return
        m = await groups.membership(group.bin_id, ident.person_id)
        if m is None or m.status != "active":
            return  # removed or left already (our own removal comes back as this event)
        others = [
            g
            for g in await groups.groups_of_bins([group.bin_id])
            if g.id != group.id and g.platform == group.platform
        ]
        if others:
            return
        m.status, m.ended_at = "left", core.clock.now()
        b = await repo.bin(group.bin_id)
        assert b is not None
    await tell(core, ident.person_id, "groups.left_by_platform", bin=b.name, code=b.code)
