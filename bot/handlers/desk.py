"""`/desk`: a one-time link to the desk (the web page of adapters/http) for police,
prevention and coordinators; and the job that forgets idle sessions and old links."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.commands import Registry, Where
from bot.context import Ctx
from bot.model import Role
from bot.services import desk

if TYPE_CHECKING:
    from bot.dispatch import Core

routes = Registry()


# Declared with its roles, so that /help offers it only to those who may use it; anyone else
# is told by the dispatcher, in the desk's own words, whom the desk is for.
@routes.command(
    "desk",
    help="desk.help",
    roles={Role.POLICE, Role.PREVENTION, Role.COORDINATOR},
    where=Where.PRIVATE,
    order=60,
    refusal="desk.residents_refused",
)
async def desk_link(ctx: Ctx, args: str) -> None:
    """A link to the desk that works once, for ten minutes."""
    base = ctx.core.config.desk_url
    if not base:
        await ctx.reply("desk.not_served")
        return
    async with ctx.core.uow() as uow:
        made = await desk.issue_link(
            uow, ctx.person.id, ctx.lang, ctx.core.clock.now(), ctx.core.rng
        )
        if isinstance(made, desk.TooMany):
            await ctx.audit("desk.link", outcome="refused", reason="rate")
        else:
            await ctx.audit("desk.link")
        await uow.commit()
    if isinstance(made, desk.TooMany):
        await ctx.reply("desk.too_many", count=desk.LINK_LIMIT)
        return
    url = f"{base}/desk/login/{made.token}"
    await ctx.reply("desk.link", url=url, minutes=int(desk.LINK_VALID.total_seconds() // 60))


@routes.periodic("desk.sweep", seconds=900)
async def sweep(core: Core) -> None:
    """Forget idle desk sessions and old login links."""
    await desk.sweep(core)
