"""The registry: each command declared once, with its help text and the roles it needs; the
handlers of buttons and platform events; the stored conversations; the periodic jobs.

Each module that declares any has its own `routes = Registry()` and decorates with
`@routes.command(...)`, `@routes.button(...)`, `@routes.on(...)`, `@routes.conversation`
and `@routes.periodic(...)` (like aiohttp's RouteTableDef); `bot.handlers.build_registry`
puts together the registries of an explicit list of modules. The dispatcher checks roles and
the kind of chat here, in one place, before a handler runs; `/help` and each platform's
command menu are generated from the registry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from bot.model import Role

if TYPE_CHECKING:
    from bot.context import Ctx
    from bot.conversation import Conversation
    from bot.dispatch import Core

Handler = Callable[["Ctx", str], Awaitable[None]]
ButtonHandler = Callable[["Ctx", str], Awaitable[None]]
EventHandler = Callable[["Core", Any], Awaitable[None]]
JobFn = Callable[["Core"], Awaitable[object]]
C = TypeVar("C", bound="type[Conversation]")


@dataclass(frozen=True)
class Job:
    """A periodic job: idempotent, so that a double fire is harmless (bot/scheduler.py)."""

    name: str
    seconds: float
    fn: JobFn


class Where(StrEnum):
    """Where a command may be used."""

    ANY = "any"
    PRIVATE = "private"
    GROUP = "group"


@dataclass(frozen=True)
class Command:
    """One command: `roles` None means anyone; otherwise any one of them is enough.
    `refusal` is the catalogue key that answers someone without those roles, where the
    generic answer (`core.refused_role`) would not say it as well."""

    name: str
    handler: Handler
    help_key: str
    roles: frozenset[Role] | None = None
    where: Where = Where.ANY
    args: str = ""
    order: int = 100
    refusal: str | None = None


@dataclass
class Registry:
    """Commands, button kinds, event handlers, conversations and jobs known to the core."""

    commands: dict[str, Command] = field(default_factory=dict)
    buttons: dict[str, ButtonHandler] = field(default_factory=dict)
    events: dict[type, list[EventHandler]] = field(default_factory=dict)
    conversations: dict[str, type[Conversation]] = field(default_factory=dict)
    jobs: list[Job] = field(default_factory=list)

    def include(self, other: Registry) -> None:
        """Add everything `other` declares; a name declared twice is an error."""
        for name, cmd in other.commands.items():
            if name in self.commands:
                raise ValueError(f"command /{name} declared twice")
            self.commands[name] = cmd
        for kind, fn in other.buttons.items():
            if kind in self.buttons:
                raise ValueError(f"button kind {kind!r} declared twice")
            self.buttons[kind] = fn
        for event_type, fns in other.events.items():
            self.events.setdefault(event_type, []).extend(fns)
        for kind, conv in other.conversations.items():
            if kind in self.conversations:
                raise ValueError(f"conversation kind {kind!r} declared twice")
            self.conversations[kind] = conv
        for job in other.jobs:
            if any(j.name == job.name for j in self.jobs):
                raise ValueError(f"job {job.name!r} declared twice")
            self.jobs.append(job)

    def conversation(self, cls: C) -> C:
        """Declare a kind of stored conversation (by its `kind`)."""
        if cls.kind in self.conversations:
            raise ValueError(f"conversation kind {cls.kind!r} declared twice")
        self.conversations[cls.kind] = cls
        return cls

    def periodic(self, name: str, *, seconds: float) -> Callable[[JobFn], JobFn]:
        """Declare a job that runs every `seconds`."""

        def deco(fn: JobFn) -> JobFn:
            self.jobs.append(Job(name, seconds, fn))
            return fn

        return deco

    def command(
        self,
        name: str,
        *,
        help: str,
        roles: set[Role] | None = None,
        where: Where = Where.ANY,
        args: str = "",
        order: int = 100,
        refusal: str | None = None,
    ) -> Callable[[Handler], Handler]:
        """Declare a command; `help` is the catalogue key of its one-line description, and
        `refusal` (optional) the key of the answer to someone without the roles."""
        if refusal is not None and not roles:
            raise ValueError(f"command /{name}: a refusal needs roles to refuse")

        def deco(fn: Handler) -> Handler:
            if name in self.commands:
                raise ValueError(f"command /{name} declared twice")
            self.commands[name] = Command(
                name, fn, help, frozenset(roles) if roles else None, where, args, order, refusal
            )
            return fn

        return deco

    def button(self, kind: str) -> Callable[[ButtonHandler], ButtonHandler]:
        """Declare the handler of buttons whose data is `kind:payload`."""

        def deco(fn: ButtonHandler) -> ButtonHandler:
            if kind in self.buttons or ":" in kind:
                raise ValueError(f"button kind {kind!r} invalid or declared twice")
            self.buttons[kind] = fn
            return fn

        return deco

    def on(self, event_type: type) -> Callable[[EventHandler], EventHandler]:
        """Declare a handler for one kind of platform event."""

        def deco(fn: EventHandler) -> EventHandler:
            self.events.setdefault(event_type, []).append(fn)
            return fn

        return deco

    def visible_to(self, roles: frozenset[Role]) -> list[Command]:
        """The commands a person holding `roles` may use, in help order."""
        found = [c for c in self.commands.values() if c.roles is None or c.roles & roles]
        return sorted(found, key=lambda c: (c.order, c.name))
