"""What a handler gets: who is speaking, where, with which roles, and how to answer.

Answers decided while a unit of work is open in the task (`async with core.uow()`) are sent
once it is over, outside the transaction, and not at all if it failed before committing:
nobody is told of something that did not happen, and no platform call holds a transaction
open. They return None then; work that needs the id of what it sent hands a function to
`uow.after_commit` instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot import texts
from bot.model import Button, ChatRef, MessageRef, Outgoing, Platform, Rich, Role, UserRef
from storage import uow as units

if TYPE_CHECKING:
    from bot.dispatch import Core
    from storage.tables import Group, Identity, Person


@dataclass(frozen=True)
class Grant:
    """One role a person holds, with its scope."""

    role: Role
    zone_id: int | None = None
    bin_id: int | None = None


@dataclass(frozen=True)
class Roles:
    """Every role a person holds right now (members derived from active memberships)."""

    grants: tuple[Grant, ...] = ()

    @property
    def kinds(self) -> frozenset[Role]:
        return frozenset(g.role for g in self.grants)

    def has(self, role: Role) -> bool:
        return any(g.role == role for g in self.grants)

    def zones(self, *roles: Role) -> set[int]:
        """Zones in which the person holds one of `roles`."""
        return {g.zone_id for g in self.grants if g.role in roles and g.zone_id is not None}

    def bins(self, *roles: Role) -> set[int]:
        """BINs in which the person holds one of `roles`."""
        return {g.bin_id for g in self.grants if g.role in roles and g.bin_id is not None}


@dataclass
class Ctx:
    """One event being handled: the speaker, the chat, their roles and the reply language."""

    core: Core
    chat: ChatRef
    sender: UserRef
    person: Person
    identity: Identity
    roles: Roles
    lang: str
    group: Group | None = None
    message_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def platform(self) -> Platform:
        return self.chat.platform

    @property
    def prefix(self) -> str:
        """How commands are written on this platform."""
        return "!" if self.chat.platform == Platform.MATRIX else "/"

    @property
    def actor(self) -> str:
        """The pseudonymous id that the audit log records for this person."""
        return self.person.pseudonym

    def t(self, key: str, /, **values: object) -> Rich:
        """A catalogue text in this context's language (the prefix is always available)."""
        return texts.rich(key, self.lang, p=self.prefix, **values)

    async def reply(
        self,
        key: str,
        /,
        *,
        buttons: Sequence[Sequence[Button]] = (),
        silent: bool = False,
        **values: object,
    ) -> MessageRef | None:
        """Answer in the chat the event came from (after the open unit of work, if any)."""
        return await self.send_rich(self.t(key, **values), buttons=buttons, silent=silent)

    async def send_rich(
        self,
        body: Rich,
        *,
        buttons: Sequence[Sequence[Button]] = (),
        silent: bool = False,
        reply_to: str | None = None,
    ) -> MessageRef | None:
        """Post rich text in the chat the event came from (after the open unit of work, if
        any: then None is returned)."""
        msg = Outgoing(body, tuple(tuple(r) for r in buttons), silent=silent, reply_to=reply_to)
        port = self.core.platform(self.chat.platform)
        if (uow := units.current()) is not None:

            async def later() -> None:
                await port.send(self.chat, msg)

            uow.after_commit(later)
            return None
        return await port.send(self.chat, msg)

    async def sent(self, body: Rich, *, buttons: Sequence[Sequence[Button]] = ()) -> MessageRef:
        """Post rich text in this chat now and return its reference. Never inside a unit of
        work (the caller needs the id, say to store it)."""
        if units.current() is not None:
            raise RuntimeError("ctx.sent() inside a unit of work")
        msg = Outgoing(body, tuple(tuple(r) for r in buttons))
        return await self.core.platform(self.chat.platform).send(self.chat, msg)

    async def notice(self, key: str, /, **values: object) -> bool:
        """Show a short notice to the person who pressed a button, where the platform can
        (Telegram's pop-up; after the open unit of work, if any). False where it cannot:
        then nothing is shown."""
        acknowledge = self.extra.get("acknowledge")
        if acknowledge is None:
            return False
        text = self.t(key, **values).plain
        if (uow := units.current()) is not None:

            async def later() -> None:
                await acknowledge(text)

            uow.after_commit(later)
            return True
        await acknowledge(text)
        return True

    def done(self, key: str, /, **values: object) -> None:
        """Note something that was done for this person (a catalogue key): should the rest of
        the handling fail, their error answer says it. Inside a unit of work it counts once
        that commits."""
        from bot.failures import ATTEMPT

        attempt = ATTEMPT.get()
        if attempt is None:
            return
        note = (key, dict(values))
        if (uow := units.current()) is not None:

            async def later() -> None:
                attempt.done.append(note)

            uow.after_commit(later)
        else:
            attempt.done.append(note)

    async def audit(self, action: str, *, outcome: str = "ok", **detail: Any) -> None:
        """Record a privileged action (or refused attempt) by this person."""
        await self.core.audit(self.actor, action, outcome=outcome, **detail)
