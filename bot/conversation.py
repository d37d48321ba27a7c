"""Explicit conversations (STYLE 5): named states, a timeout and /cancel, kept in the core so
Telegram, Matrix and the console behave alike.

A conversation belongs to one person in one chat. Text answers and `cv:` buttons go to its
current state's handler; the handler returns the next state, or None when it is finished.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from bot.model import ChatRef, UserRef

if TYPE_CHECKING:
    from bot.context import Ctx
    from bot.dispatch import Core

Step = Callable[["Conversation", "Ctx", str], Awaitable[str | None]]


@dataclass
class Conversation:
    """Base of every conversation. Subclasses map state names to steps in `steps`."""

    state: str
    expires_at: datetime
    data: dict[str, Any] = field(default_factory=dict)
    steps: ClassVar[dict[str, Step]] = {}
    name: ClassVar[str] = "conversation"

    async def answer(self, ctx: Ctx, answer: str) -> str | None:
        """Feed an answer (typed text or a button payload) to the current state."""
        return await self.steps[self.state](self, ctx, answer)

    async def on_timeout(self, ctx: Ctx) -> None:
        """Tell the person the conversation ended without an answer."""
        await ctx.reply("core.conversation_timeout")

    async def on_cancel(self, ctx: Ctx) -> None:
        """Tell the person nothing was done."""
        await ctx.reply("core.cancelled")


Key = tuple[str, str, str]
Restorer = Callable[["Ctx"], Awaitable["Conversation | None"]]
# Ways to take up, from storage, a conversation that was open before a restart: each gets the
# context of a private chat where nothing is open, and may begin() one and return it.
RESTORERS: list[Restorer] = []


def restorer(fn: Restorer) -> Restorer:
    """Register a way to take up a conversation after a restart (see RESTORERS)."""
    RESTORERS.append(fn)
    return fn


class Conversations:
    """The open conversations, one per (platform, chat, user)."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.open: dict[Key, Conversation] = {}
        self._where: dict[Key, tuple[ChatRef, UserRef]] = {}
        self.restorers = RESTORERS

    @staticmethod
    def key(ctx: Ctx) -> Key:
        return (ctx.chat.platform.value, ctx.chat.chat_id, ctx.sender.user_id)

    def has_open(self, chat: ChatRef, sender: UserRef) -> bool:
        """Whether this person has a conversation open in this chat (expired or not)."""
        return (chat.platform.value, chat.chat_id, sender.user_id) in self.open

    def timeout(self) -> timedelta:
        return timedelta(minutes=self.core.config.conversation_timeout_minutes)

    def begin(self, ctx: Ctx, conversation: Conversation) -> None:
        """Open (or replace) the conversation of this person in this chat."""
        self.open[self.key(ctx)] = conversation
        self._where[self.key(ctx)] = (ctx.chat, ctx.sender)

    def current(self, ctx: Ctx) -> Conversation | None:
        return self.open.get(self.key(ctx))

    async def _live(self, ctx: Ctx) -> Conversation | None:
        conv = self.open.get(self.key(ctx))
        if conv is not None and conv.expires_at <= self.core.clock.now():
            del self.open[self.key(ctx)]
            self._where.pop(self.key(ctx), None)
            await conv.on_timeout(ctx)
            return None
        return conv

    async def text(self, ctx: Ctx, text: str) -> bool:
        """Give typed text to the open conversation; False when there is none."""
        return await self._feed(ctx, text.strip())

    async def button(self, ctx: Ctx, payload: str) -> bool:
        """Give a `cv:` button payload to the open conversation."""
        return await self._feed(ctx, payload)

    async def _restored(self, ctx: Ctx) -> Conversation | None:
        if not ctx.chat.is_private:
            return None
        for restore in self.restorers:
            conv = await restore(ctx)
            if conv is not None:
                return conv
        return None

    async def _feed(self, ctx: Ctx, answer: str) -> bool:
        conv = await self._live(ctx) or await self._restored(ctx)
        if conv is None:
            return False
        nxt = await conv.answer(ctx, answer)
        if self.open.get(self.key(ctx)) is not conv:
            return True  # the step replaced or ended the conversation itself
        if nxt is None:
            del self.open[self.key(ctx)]
            self._where.pop(self.key(ctx), None)
        else:
            conv.state = nxt
            conv.expires_at = self.core.clock.now() + self.timeout()
        return True

    async def cancel(self, ctx: Ctx) -> bool:
        """End the open conversation at the person's request."""
        if self.key(ctx) not in self.open:
            await self._restored(ctx)
        conv = self.open.pop(self.key(ctx), None)
        self._where.pop(self.key(ctx), None)
        if conv is None:
            return False
        await conv.on_cancel(ctx)
        return True

    async def sweep(self) -> int:
        """End conversations past their timeout, telling each person (the scheduler calls
        this); returns how many ended."""
        now = self.core.clock.now()
        expired = [k for k, c in self.open.items() if c.expires_at <= now]
        for k in expired:
            conv = self.open.pop(k, None)
            where = self._where.pop(k, None)
            if conv is not None and where is not None:
                await conv.on_timeout(await self.core.context(*where))
        return len(expired)
