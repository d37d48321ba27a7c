"""Coordinators' commands: pending requests, approving and declining, members, removing and
lifting a removal."""

from __future__ import annotations

from bot.commands import Where, button, command
from bot.context import Ctx
from bot.model import Role
from bot.services import membership, roster

COORDINATOR = {Role.COORDINATOR}


def _number(text: str) -> int | None:
    word = text.strip().lstrip("#")
    return int(word) if word.isdigit() and len(word) < 10 else None


@command("requests", help="groups.help_requests", roles=COORDINATOR, where=Where.PRIVATE, order=42)
async def requests(ctx: Ctx, args: str) -> None:
    """The join requests waiting in your BINs."""
    await roster.pending(ctx)


@command(
    "approve",
    help="groups.help_approve",
    roles=COORDINATOR,
    where=Where.PRIVATE,
    args="N",
    order=43,
)
async def approve(ctx: Ctx, args: str) -> None:
    """Approve join request N."""
    n = _number(args)
    if n is None:
        await ctx.reply("groups.approve_usage")
        return
    await membership.decide(ctx, n, approve=True)


@command(
    "decline",
    help="groups.help_decline",
    roles=COORDINATOR,
    where=Where.PRIVATE,
    args="N [reason]",
    order=44,
)
async def decline(ctx: Ctx, args: str) -> None:
    """Decline join request N, optionally with a reason the requester reads."""
    first, _, reason = args.strip().partition(" ")
    n = _number(first)
    if n is None:
        await ctx.reply("groups.decline_usage")
        return
    await membership.decide(ctx, n, approve=False, reason=" ".join(reason.split()) or None)


@button("jr")
async def request_button(ctx: Ctx, payload: str) -> None:
    """Approve/Decline under a request. The data is untrusted: `decide` re-checks everything."""
    verb, _, rest = payload.partition(":")
    n = _number(rest)
    if verb not in ("approve", "decline") or n is None:
        await ctx.audit("join.button", outcome="refused", reason="malformed")
        await ctx.reply("core.button_expired")
        return
    await membership.decide(ctx, n, approve=verb == "approve")


@command(
    "members",
    help="groups.help_members",
    roles=COORDINATOR,
    where=Where.PRIVATE,
    args="[BIN]",
    order=45,
)
async def members(ctx: Ctx, args: str) -> None:
    """The members of your BIN."""
    await roster.members(ctx, args.strip())


@command(
    "remove",
    help="groups.help_remove",
    roles=COORDINATOR,
    where=Where.PRIVATE,
    args="MEMBER",
    order=46,
)
async def remove(ctx: Ctx, args: str) -> None:
    """Remove a member from your BIN and its groups."""
    await roster.remove(ctx, args)


@command(
    "readmit",
    help="groups.help_readmit",
    roles=COORDINATOR,
    where=Where.PRIVATE,
    args="N",
    order=47,
)
async def readmit(ctx: Ctx, args: str) -> None:
    """Lift the removal of member N (from /members): they may ask to join again."""
    n = _number(args)
    if n is None:
        await ctx.reply("groups.readmit_usage")
        return
    await roster.readmit(ctx, n)
