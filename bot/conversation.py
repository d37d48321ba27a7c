"""Explicit conversations (STYLE 5): named states, a timeout and /cancel, kept in the core so
Telegram, Matrix and the console behave alike, and stored so that any process takes any step.

A conversation belongs to one person in their private chat with the bot. It is a row in the
database (storage/conversations.py): its kind, its state, its data as JSON and a version. Each
step loads it, runs in the same unit of work as that step's effects, and saves it; replies
the step decides are sent after the commit. Two steps racing on one conversation (a double
tap, two processes behind a load balancer) cannot both apply: the second finds the version
moved and is told so.

Buttons a conversation offers carry its token and the state they answer
(`cv:TOKEN.STATE.VALUE`); a press that does not belong to the current step is refused and
changes nothing, and button data never reaches a step as if it had been typed.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from bot.model import Button, ChatRef, Platform, UserRef
from storage.conversations import StaleConversation, StoredConversation

if TYPE_CHECKING:
    from bot.context import Ctx
    from bot.dispatch import Core
    from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

TOKEN_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


@dataclass(frozen=True)
class Answer:
    """What the person gave a step: text they typed, or the value of a button they pressed."""

    value: str
    pressed: bool = False
    # A photo sent with it (stored, cleaned: bot/services/photos.py); `value` is its caption.
    photo_id: int | None = None


Step = Callable[[Any, "Ctx", "UnitOfWork", Answer], Awaitable["str | None"]]


@dataclass
class Conversation:
    """Base of every conversation.

    Subclasses set `kind` (stored with the row), `steps` (state name -> method name) and
    `typed` (states that accept typed text; the others take buttons only, where the platform
    has buttons). Their own dataclass fields are the conversation's data: they must hold only
    JSON values (numbers, strings, lists, dicts).
    """

    state: str
    expires_at: datetime
    token: str = ""
    kind: ClassVar[str] = "conversation"
    steps: ClassVar[Mapping[str, str]] = {}
    # The states whose step takes a photo; elsewhere a photo is answered, not fed to it.
    photo_states: ClassVar[frozenset[str]] = frozenset()

    def button(self, label: str, state: str, value: str) -> Button:
        """A button that answers `state` of this conversation with `value`."""
        return Button(label, f"cv:{self.token}.{state}.{value}")

    async def answer(self, ctx: Ctx, uow: UnitOfWork, answer: Answer) -> str | None:
        """Feed an answer to the current state's step; the next state, or None when done."""
        step: Step = getattr(type(self), self.steps[self.state])
        return await step(self, ctx, uow, answer)

    async def on_timeout(self, ctx: Ctx, uow: UnitOfWork) -> None:
        """Tell the person the conversation ended without an answer."""
        await ctx.reply("core.conversation_timeout")

    async def on_cancel(self, ctx: Ctx, uow: UnitOfWork) -> None:
        """Tell the person nothing was done."""
        await ctx.reply("core.cancelled")

    # -- storage ---------------------------------------------------------------------------

    def data(self) -> dict[str, Any]:
        """The subclass's fields, as stored."""
        skip = {"state", "expires_at", "token"}
        return {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in skip
        }

    @classmethod
    def load(cls, stored: StoredConversation) -> Conversation:
        names = {f.name for f in dataclasses.fields(cls)} - {"state", "expires_at"}
        values = {k: v for k, v in stored.data.items() if k in names}
        return cls(state=stored.state, expires_at=stored.expires_at, **values)


@dataclass
class _Open:
    """A stored conversation with its loaded object."""

    stored: StoredConversation
    conv: Conversation


class Conversations:
    """The open conversations of every person, stored; one per (platform, chat, user)."""

    def __init__(self, core: Core, kinds: Mapping[str, type[Conversation]]) -> None:
        self.core = core
        self.kinds = dict(kinds)

    def timeout(self) -> timedelta:
        return timedelta(minutes=self.core.config.conversation_timeout_minutes)

    def new_token(self) -> str:
        """A short random token that ties a conversation's buttons to it."""
        return "".join(self.core.rng.choice(TOKEN_ALPHABET) for _ in range(6))

    @staticmethod
    def _key(ctx: Ctx) -> tuple[str, str, str]:
        return (ctx.chat.platform.value, ctx.chat.chat_id, ctx.sender.user_id)

    async def begin(self, ctx: Ctx, uow: UnitOfWork, conv: Conversation) -> None:
        """Open `conv` for this person in this chat (replacing what they had open there),
        in `uow`: it exists once that unit of work commits."""
        if not ctx.chat.is_private:
            raise ValueError("conversations are held in private chats only")
        if type(conv).kind not in self.kinds:
            raise ValueError(f"conversation kind {type(conv).kind!r} is not registered")
        if not conv.token:
            conv.token = self.new_token()
        conv.expires_at = self.core.clock.now() + self.timeout()
        data = conv.data() | {"token": conv.token}
        await uow.conversations.begin(
            *self._key(ctx), ctx.person.id, type(conv).kind, conv.state, data, conv.expires_at
        )

    async def drop(self, uow: UnitOfWork, ctx: Ctx) -> None:
        """End whatever conversation this person has open in this chat, in `uow`."""
        stored = await uow.conversations.get(*self._key(ctx))
        if stored is not None:
            await uow.conversations.end(stored.id, stored.version)

    def _load(self, stored: StoredConversation) -> Conversation | None:
        kind = self.kinds.get(stored.kind)
        if kind is None:
            log.warning("stored conversation %s of unknown kind dropped", stored.id)
            return None
        return kind.load(stored)

    async def _open(self, uow: UnitOfWork, ctx: Ctx) -> _Open | None:
        stored = await uow.conversations.get(*self._key(ctx))
        if stored is None:
            return None
        conv = self._load(stored)
        if conv is None:
            await uow.conversations.end(stored.id, stored.version)
            return None
        return _Open(stored, conv)

    async def has_open(self, chat: ChatRef, sender: UserRef) -> bool:
        """Whether this person has a conversation stored for this chat (expired or not)."""
        if not chat.is_private:
            return False
        async with self.core.uow() as uow:
            found = await uow.conversations.get(chat.platform.value, chat.chat_id, sender.user_id)
        return found is not None

    async def text(self, ctx: Ctx, text: str) -> bool:
        """Give typed text to the open conversation; False when there is none."""
        return await self._feed(ctx, Answer(text.strip()))

    async def photo(self, ctx: Ctx, caption: str, photo_id: int) -> bool:
        """Give a stored photo and its caption to the open conversation; False when there is
        none."""
        return await self._feed(ctx, Answer(caption.strip(), photo_id=photo_id))

    async def button(self, ctx: Ctx, payload: str) -> bool:
        """Give a `cv:` button payload to the open conversation; False when there is none
        (or it ended): the caller says the button no longer works."""
        return await self._feed(ctx, payload, pressed=True)

    async def _feed(self, ctx: Ctx, answer: Answer | str, *, pressed: bool = False) -> bool:
        try:
            return await self._step(ctx, answer, pressed)
        except StaleConversation:
            await ctx.reply("core.conversation_moved_on")
            return True

    async def _step(self, ctx: Ctx, answer: Answer | str, pressed: bool) -> bool:
        now = self.core.clock.now()
        async with self.core.uow() as uow:
            found = await self._open(uow, ctx)
            if found is None:
                await uow.commit()
                return False
            stored, conv = found.stored, found.conv
            if stored.expires_at <= now:
                await uow.conversations.end(stored.id, stored.version)
                await conv.on_timeout(ctx, uow)
                await uow.commit()
                return False
            if isinstance(answer, str):  # a button's payload: TOKEN.STATE.VALUE
                token, _, rest = answer.partition(".")
                state, _, value = rest.partition(".")
                if token != conv.token or state != conv.state:
                    await ctx.reply("core.button_expired")
                    return True
                given = Answer(value, pressed=True)
            else:
                given = answer
                if given.photo_id is not None and conv.state not in conv.photo_states:
                    await ctx.reply("media.photo_not_now")
                    return True
            nxt = await conv.answer(ctx, uow, given)
            if self._key(ctx) not in uow.conversations.begun:
                # (else the step opened another conversation in this one's place)
                if nxt is None:
                    await uow.conversations.end(stored.id, stored.version)
                else:
                    conv.state = nxt
                    data = conv.data() | {"token": conv.token}
                    expires = now + self.timeout()
                    await uow.conversations.save(stored.id, stored.version, nxt, data, expires)
            await uow.commit()
        return True

    async def cancel(self, ctx: Ctx) -> bool:
        """End the open conversation at the person's request; False when there is none."""
        async with self.core.uow() as uow:
            found = await self._open(uow, ctx)
            if found is None:
                await uow.commit()
                return False
            await uow.conversations.end(found.stored.id, found.stored.version)
            await found.conv.on_cancel(ctx, uow)
            await uow.commit()
        return True

    async def end_all(self, uow: UnitOfWork, person_id: int) -> int:
        """End every conversation of a person without a word (their data is being erased)."""
        ended = 0
        for stored in await uow.conversations.of_person(person_id):
            await uow.conversations.end(stored.id, stored.version)
            ended += 1
        return ended

    async def sweep(self) -> int:
        """End conversations past their timeout, telling each person (the scheduler calls
        this); returns how many ended."""
        now = self.core.clock.now()
        async with self.core.uow() as uow:
            expired = await uow.conversations.expired(now)
        ended = 0
        for stored in expired:
            platform = Platform(stored.platform)
            chat = ChatRef(platform, stored.chat_id, True)
            ctx = await self.core.context(chat, UserRef(platform, stored.user_id))
            try:
                async with self.core.uow() as uow:
                    found = await self._open(uow, ctx)
                    if found is None or found.stored.version != stored.version:
                        continue  # answered or ended meanwhile
                    await uow.conversations.end(stored.id, stored.version)
                    await found.conv.on_timeout(ctx, uow)
                    await uow.commit()
                    ended += 1
            except StaleConversation:
                continue
        return ended
