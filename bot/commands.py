"""The command registry: each command declared once, with its help text and the roles it needs.

Handlers register with `@command(...)`, buttons with `@button(...)`, other events with
`@on(...)`. The dispatcher checks roles and the kind of chat here, in one place, before a
handler runs; `/help` and each platform's command menu are generated from this registry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from bot.model import Role

if TYPE_CHECKING:
    from bot.context import Ctx
    from bot.dispatch import Core

Handler = Callable[["Ctx", str], Awaitable[None]]
ButtonHandler = Callable[["Ctx", str], Awaitable[None]]
EventHandler = Callable[["Core", Any], Awaitable[None]]


class Where(StrEnum):
    """Where a command may be used."""

    ANY = "any"
    PRIVATE = "private"
    GROUP = "group"


@dataclass(frozen=True)
class Command:
    """One command: `roles` None means anyone; otherwise any one of them is enough."""

    name: str
    handler: Handler
    help_key: str
    roles: frozenset[Role] | None = None
    where: Where = Where.ANY
    args: str = ""
    order: int = 100

    @property
    def privileged(self) -> bool:
        return self.roles is not None


@dataclass
class Registry:
    """Commands, button kinds and event handlers known to the core."""

    commands: dict[str, Command] = field(default_factory=dict)
    buttons: dict[str, ButtonHandler] = field(default_factory=dict)
    events: dict[type, list[EventHandler]] = field(default_factory=dict)

    def command(
        self,
        name: str,
        *,
        help: str,
        roles: set[Role] | None = None,
        where: Where = Where.ANY,
        args: str = "",
        order: int = 100,
    ) -> Callable[[Handler], Handler]:
        """Declare a command; `help` is the catalogue key of its one-line description."""

        def deco(fn: Handler) -> Handler:
            if name in self.commands:
                raise ValueError(f"command /{name} declared twice")
            self.commands[name] = Command(
                name, fn, help, frozenset(roles) if roles else None, where, args, order
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


REGISTRY = Registry()
command = REGISTRY.command
button = REGISTRY.button
on = REGISTRY.on
