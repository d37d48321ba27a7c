"""Group events and commands: the bot added or removed, linking, nudges, "I called 101" and
how readily a group is nudged."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.commands import Registry, Where
from bot.context import Ctx
from bot.events import BotAddedToChat, BotRemovedFromChat, ChatMigrated, MessagePosted
from bot.model import Role
from bot.services import invites, linking, nudge_settings, nudges

if TYPE_CHECKING:
    from bot.dispatch import Core

routes = Registry()


@routes.on(BotAddedToChat)
async def bot_added(core: Core, event: BotAddedToChat) -> None:
    """Greet a group the bot was added to and say how a coordinator links it."""
    if not event.chat.is_private:
        await linking.greet(core, event.chat, event.by)


@routes.on(BotRemovedFromChat)
async def bot_removed(core: Core, event: BotRemovedFromChat) -> None:
    """The bot is out of a group: the link goes inactive, the coordinators are told."""
    await linking.bot_gone(core, event.chat.platform.value, event.chat.chat_id)


@routes.on(ChatMigrated)
async def chat_migrated(core: Core, event: ChatMigrated) -> None:
    """Follow a group that got a new id."""
    await linking.migrated(core, event.chat.platform, event.chat.chat_id, event.new_chat_id)


@routes.on(MessagePosted)
async def group_message(core: Core, event: MessagePosted) -> None:
    """Read a group message in memory, only to void an invite code shown there and to nudge
    towards 101 when it reports an incident."""
    if words := invites.codes_in(event.text):
        # Only a poster who showed a live code is looked up (and recorded): nobody else.
        async with core.uow() as uow:
            live = await invites.shows_open_invite(uow, words, core.clock.now())
        if live:
            ctx = await core.context(event.chat, event.sender, event.message_id)
            if await invites.void_if_shown(ctx, event.text, typed_code=False):
                return
    await nudges.maybe_nudge(core, event)


@routes.command(
    "link",
    help="groups.help_link",
    roles={Role.COORDINATOR},
    where=Where.GROUP,
    args="[BIN]",
    order=40,
)
async def link(ctx: Ctx, args: str) -> None:
    """Make this group a group of your BIN."""
    await linking.link(ctx, args)


@routes.command(
    "unlink", help="groups.help_unlink", roles={Role.COORDINATOR}, where=Where.GROUP, order=41
)
async def unlink(ctx: Ctx, args: str) -> None:
    """Stop this group being a group of your BIN."""
    await linking.unlink(ctx)


@routes.command("called", help="groups.help_called", where=Where.GROUP, order=14)
async def called_command(ctx: Ctx, args: str) -> None:
    """Tell the group you called 101 (where the platform has no buttons)."""
    await nudges.called(ctx)


@routes.button("called")
async def called_button(ctx: Ctx, payload: str) -> None:
    """ "I called 101" under a nudge; the payload names the group, checked against the chat."""
    if ctx.group is None or payload != str(ctx.group.id):
        await ctx.reply("core.button_expired")
        return
    await nudges.called(ctx)


@routes.command(
    "nudges",
    help="nudges.help",
    roles={Role.COORDINATOR},
    args="[off|low|normal|high]",
    order=42,
)
async def nudges_command(ctx: Ctx, args: str) -> None:
    """Show or set how readily the bot nudges this group towards 101 (privately: test TEXT)."""
    await nudge_settings.command(ctx, args)
