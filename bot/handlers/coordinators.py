"""Coordinators' commands: pending requests, approving and declining, members (a page at a
time), removing or blocking and lifting that."""

from __future__ import annotations

from bot import texts
from bot.args import number_arg, parse_number
from bot.commands import Registry, Where
from bot.context import Ctx
from bot.model import Role
from bot.services import lists, membership, roster
from bot.services.audience import shown_name, status_word, tell_coordinators

COORDINATOR = {Role.COORDINATOR}

routes = Registry()


def _number(text: str, *, low: int = 1) -> int | None:
    """A page or request number (bot/args.py's rules), or None when it is not one."""
    found = parse_number(text, low=low)
    return found if isinstance(found, int) else None


@routes.command(
    "requests",
    help="groups.help_requests",
    roles=COORDINATOR,
    where=Where.PRIVATE,
    args="[PAGE]",
    order=42,
)
async def requests(ctx: Ctx, args: str) -> None:
    """The join requests waiting in your BINs, a page at a time."""
    page = _number(args) if args.strip() else 1
    if page is None:
        await ctx.reply("groups.requests_usage")
        return
    await lists.requests(ctx, page)


@routes.command(
    "approve",
    help="groups.help_approve",
    roles=COORDINATOR,
    where=Where.PRIVATE,
    args="N",
    order=43,
)
async def approve(ctx: Ctx, args: str) -> None:
    """Approve join request N."""
    n = await number_arg(ctx, args, "groups.approve_usage")
    if n is None:
        return
    await _decide(ctx, n, approve=True)


@routes.command(
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
    n = await number_arg(ctx, first, "groups.decline_usage")
    if n is None:
        return
    reason = " ".join(reason.split())
    if len(reason) > membership.MAX_REASON:
        # Refused before anything is decided: the requester must read what the coordinator
        # meant, whole, or nothing at all.
        await ctx.reply(
            "groups.decline_reason_too_long", limit=membership.MAX_REASON, length=len(reason)
        )
        return
    await _decide(ctx, n, approve=False, reason=reason or None)


@routes.button("jr")
async def request_button(ctx: Ctx, payload: str) -> None:
    """Approve/Decline under a request. The data is untrusted: `decide` re-checks everything."""
    verb, _, rest = payload.partition(":")
    number, _, stamp = rest.partition(":")
    n = parse_number(number)
    if verb not in ("approve", "decline") or not isinstance(n, int):
        await ctx.audit("join.button", outcome="refused", reason="malformed")
        await ctx.reply("core.button_expired")
        return
    # Buttons sent before requests carried a stamp have none: the number alone, as typed.
    await _decide(ctx, n, approve=verb == "approve", stamp=stamp or None)


async def _decide(
    ctx: Ctx, n: int, *, approve: bool, reason: str | None = None, stamp: str | None = None
) -> None:
    """Decide request `n` (by button or command): recorded with its audit entry in one unit
    of work, then the platforms, then the answers."""
    core = ctx.core
    action = "join.approve" if approve else "join.decline"
    async with core.uow() as uow:
        outcome = await membership.decide(
            uow,
            ctx.roles.bins(Role.COORDINATOR),
            ctx.person.id,
            n,
            approve,
            core.clock.now(),
            {p.value for p in core.platforms},
            stamp,
        )
        if isinstance(outcome, membership.NotYours):
            await ctx.audit(
                action, outcome="refused", reason=outcome.reason, bin_id=outcome.bin_id, request=n
            )
        elif isinstance(outcome, membership.Decided):
            b, zone = outcome.bin, outcome.zone
            await ctx.audit(
                action, zone_id=zone.id, bin_id=b.id, request=n, with_reason=bool(reason)
            )
        await uow.commit()
    if isinstance(outcome, membership.NotYours):
        stale = outcome.reason == "stale"
        await ctx.reply("core.button_expired" if stale else "groups.request_not_yours", n=n)
        return
    if isinstance(outcome, membership.NotWaiting):
        status = status_word(outcome.status, ctx.lang)
        if outcome.by:
            await ctx.reply(
                "groups.request_decided", n=n, name=outcome.name, status=status, by=outcome.by
            )
        else:
            await ctx.reply("groups.request_closed", n=n, name=outcome.name, status=status)
        return
    done = "groups.done_approved" if approve else "groups.done_declined"
    ctx.done(done, name=outcome.name, bin=outcome.bin.name)
    told = await membership.carry_out(core, outcome, reason)
    verdict = "approved" if approve else "declined"
    await ctx.reply(
        "groups.decided_by_you" if told else "groups.decided_not_told",
        n=n,
        name=outcome.name,
        status=status_word(verdict, ctx.lang),
    )
    await tell_coordinators(
        core,
        outcome.bin.id,
        lambda lang, p: texts.rich(
            "groups.decided_by_other",
            lang,
            p=p,
            n=n,
            name=outcome.name,
            bin=outcome.bin.name,
            by=shown_name(ctx.sender.display_name),
            status=status_word(verdict, lang),
        ),
        skip=[ctx.person.id],
    )


@routes.command(
    "members",
    help="groups.help_members",
    roles=COORDINATOR,
    where=Where.PRIVATE,
    args="[BIN] [PAGE]",
    order=45,
)
async def members(ctx: Ctx, args: str) -> None:
    """The members of your BIN, a page at a time."""
    whole = args.strip()
    word, _, last = whole.rpartition(" ")
    page = _number(last)
    if page is None:  # no page number: all of it names the BIN
        word, page = whole, 1
    await lists.members(ctx, word.strip(), page, whole=whole)


@routes.button(lists.PAGE_BUTTON)
async def page_button(ctx: Ctx, payload: str) -> None:
    """[Previous]/[Next] under a list. The data is untrusted: the list is built afresh for
    the presser, from their own BINs, and a BIN or page that is not theirs is refused."""
    what, _, rest = payload.partition(":")
    scope, _, number = rest.partition(":")
    bin_id, page = _number(scope, low=0), _number(number)  # BIN 0: all of one's BINs
    if what not in ("rq", "mb") or bin_id is None or page is None or (what == "rq" and bin_id):
        await ctx.audit("list.page", outcome="refused", reason="malformed")
        await ctx.reply("core.button_expired")
        return
    if not ctx.roles.has(Role.COORDINATOR):
        await ctx.audit("list.page", outcome="refused", reason="not_coordinator")
        await ctx.reply("core.button_expired")
        return
    if what == "rq":
        await lists.requests(ctx, page, edit=True)
    else:
        await lists.members(ctx, "", page, bin_id=bin_id or None, edit=True)


@routes.command(
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


@routes.command(
    "readmit",
    help="groups.help_readmit",
    roles=COORDINATOR,
    where=Where.PRIVATE,
    args="N",
    order=47,
)
async def readmit(ctx: Ctx, args: str) -> None:
    """Lift the removal or block N (from /members): they may ask to join again."""
    n = await number_arg(ctx, args, "groups.readmit_usage")
    if n is None:
        return
    await roster.readmit(ctx, n)


@routes.command(
    "block",
    help="groups.help_block",
    roles=COORDINATOR,
    where=Where.PRIVATE,
    args="N",
    order=48,
)
async def block(ctx: Ctx, args: str) -> None:
    """Stop the person behind request N asking to join your BIN again (lift: /readmit)."""
    n = await number_arg(ctx, args, "groups.block_usage")
    if n is None:
        return
    await roster.block(ctx, n)
