"""Residents' commands and events: asking to join, leaving, and their own data."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.commands import Registry, Where
from bot.context import Ctx
from bot.events import JoinRequested, MemberLeft
from bot.services import join_find, joins, privacy, roster

if TYPE_CHECKING:
    from bot.dispatch import Core

routes = Registry()


@routes.command("join", help="groups.help_join", where=Where.PRIVATE, args="[BIN]", order=10)
async def join(ctx: Ctx, args: str) -> None:
    """Ask to join a BIN, or find it by postcode, street or municipality."""
    await join_find.ask(ctx, args)


@routes.on(JoinRequested)
async def join_requested(core: Core, event: JoinRequested) -> None:
    """A platform join request (Telegram) or knock (Matrix) in a linked group."""
    await joins.ask_by_platform(core, event.chat, event.user)


@routes.command("leave", help="groups.help_leave", args="[BIN]", order=11)
async def leave(ctx: Ctx, args: str) -> None:
    """Leave a BIN (and its groups)."""
    await roster.leave(ctx, args.strip())


@routes.on(MemberLeft)
async def member_left(core: Core, event: MemberLeft) -> None:
    """Someone left a BIN group on the platform."""
    await roster.member_left(core, event.chat, event.user)


@routes.command("mydata", help="groups.help_mydata", where=Where.PRIVATE, order=12)
async def mydata(ctx: Ctx, args: str) -> None:
    """See everything the bot holds on you."""
    await privacy.mydata(ctx)


@routes.command("forgetme", help="groups.help_forgetme", where=Where.PRIVATE, order=13)
async def forgetme(ctx: Ctx, args: str) -> None:
    """Erase everything the bot holds on you, after a confirmation."""
    await privacy.ask_forget(ctx)
