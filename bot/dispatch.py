"""The core: routes each event to one handler, after resolving the person and their roles.

Permission is checked here, once, from the command registry. Refused privileged attempts get
a clear answer in the person's language and an audit entry.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar, cast

from bot import failures, metrics, texts
from bot.commands import Command, Registry, Where
from bot.context import Ctx, Grant, Roles
from bot.conversation import Conversations
from bot.core_config import CoreConfig
from bot.events import ButtonPressed, CommandIssued, Event, MessagePosted, ReactionAdded
from bot.model import (
    LANGUAGES,
    Button,
    ChatRef,
    MessageRef,
    Outgoing,
    Platform,
    Rich,
    Role,
    UserRef,
)
from bot.patience import Patient
from bot.ports import Clock, NoOutbox, Outbox, PlatformError, PlatformPort, SystemClock
from bot.services import bin_settings
from storage import uow as units
from storage.db import Database
from storage.uow import UnitOfWork

if TYPE_CHECKING:
    from storage.tables import Bin, Group, Zone

log = logging.getLogger(__name__)


# Commands that only read and answer, for which a recent context is good enough.
READ_ONLY_COMMANDS = frozenset({"help", "numbers", "check", "mydata"})
# Zones, BINs and groups read less than this long ago are not read again, unless this process
# changed one since (a change made elsewhere, e.g. by the admin shell, shows this much later).
DIRECTORY_SECONDS = 60.0
RECENT_MAX = 50_000
_T = TypeVar("_T")


@dataclass(frozen=True)
class _Kept:
    """A resolved context, kept for reuse (see `Core.context`)."""

    ctx: Ctx
    noted: int  # Changes.generation before it was read
    at: float  # time.monotonic() when it was read


class Core:
    """The platform-neutral bot: storage, the platforms it can talk to, and the handlers."""

    def __init__(
        self,
        db: Database,
        platforms: dict[Platform, PlatformPort] | None = None,
        *,
        clock: Clock | None = None,
        config: CoreConfig | None = None,
        registry: Registry | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if registry is None:
            from bot.handlers import build_registry

            registry = build_registry()
        self.db = db
        self.platforms: dict[Platform, PlatformPort] = dict(platforms or {})
        self.clock: Clock = clock or SystemClock()
        self.config = config or CoreConfig()
        self.registry = registry
        self.rng: random.Random = rng or secrets.SystemRandom()
        self.conversations = Conversations(self, registry.conversations)
        self._tasks: set[asyncio.Task[Any]] = set()
        self.idle_hooks: list[Callable[[], Awaitable[None]]] = []
        # The delivery worker of this process, once one runs (bot/delivery.py).
        self.outbox: Outbox = NoOutbox()
        self._directory: dict[tuple[object, ...], tuple[object, int, float]] = {}
        self._recent: dict[tuple[str, str, str], _Kept] = {}

    # -- plumbing --------------------------------------------------------------------------

    def platform(self, platform: Platform | str) -> PlatformPort:
        """The adapter for a platform, waiting out short rate limits (interactive sends);
        a clear error when it is not running. The delivery worker uses `platforms` as is."""
        try:
            port = self.platforms[Platform(platform)]
        except KeyError:
            raise PlatformError(f"platform_not_running:{platform}") from None
        return cast(PlatformPort, Patient(port))

    def uow(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """A unit of work: one transaction and its repositories (storage/uow.py).

        Replies and posts decided while it is open are sent once it is over (bot/context.py).
        """
        return self.db.unit_of_work()

    async def audit(self, actor: str, action: str, *, outcome: str = "ok", **detail: Any) -> None:
        """Append to the audit log: in the unit of work open in this task, so that the entry
        stands or falls with what it records, else in a transaction of its own."""
        now = self.clock.now()
        if (open_uow := units.current()) is not None:
            await open_uow.audit.record(now, actor, action, outcome=outcome, **detail)
            return
        async with self.uow() as uow:
            await uow.audit.record(now, actor, action, outcome=outcome, **detail)
            await uow.commit()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run work in the background (outside any unit of work); `idle()` waits for it."""
        task = asyncio.get_running_loop().create_task(coro, context=units.detach())
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    async def idle(self) -> None:
        """Return once no background work and no due outbound work is left."""
        while True:
            if self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
                continue
            for hook in self.idle_hooks:
                await hook()
            if not self._tasks:
                return

    # -- people ----------------------------------------------------------------------------

    async def context(
        self,
        chat: ChatRef,
        sender: UserRef,
        message_id: str | None = None,
        *,
        reuse: bool = False,
    ) -> Ctx:
        """Resolve the person behind `sender`, their roles and their language.

        With `reuse`, the context last resolved for the same person in the same chat is
        reused while nothing this process committed has changed it and it is younger than
        `context_reuse_seconds` (which bounds how late changes made elsewhere show).
        Without, it is read afresh.
        """
        key = (sender.platform.value, sender.user_id, chat.chat_id)
        now = time.monotonic()
        pseudonym = f"p-{self.rng.getrandbits(48):012x}"  # drawn either way: seeds stay exact
        changes = self.db.changes
        if reuse and (hit := self._recent.get(key)) is not None:
            if (
                now - hit.at < self.config.context_reuse_seconds
                and not changes.stale(hit.noted, hit.ctx.person.id)
                and (
                    not sender.display_name or sender.display_name == hit.ctx.identity.display_name
                )
            ):
                metrics.count_context(reused=True)
                return self._attempted(replace(hit.ctx, message_id=message_id, extra={}))
        metrics.count_context(reused=False)
        noted = changes.generation
        group = None
        if not chat.is_private:
            group = await self.group_by_chat(chat.platform, chat.chat_id)
        async with self.uow() as uow:
            person, identity = await uow.people.ensure_identity(
                sender.platform,
                sender.user_id,
                sender.display_name,
                self.clock.now(),
                pseudonym=pseudonym,
                dm_chat_id=chat.chat_id if chat.is_private else None,
            )
            roles = await self._roles(uow, person.id)
            group_lang = None
            if group is not None:
                group_lang = group.language or await self._bin_language(uow, group.bin_id)
            lang = (
                group_lang
                if group_lang
                else person.language
                or sender.language_hint
                or await self._person_zone_language(uow, roles)
                or self.config.default_language
            )
            wrote = await uow.changes_contexts()
            await uow.commit()
        if wrote and changes.generation == noted + 1:
            noted = changes.generation  # that commit was this one: what was read is current
        if lang not in LANGUAGES:
            lang = self.config.default_language
        ctx = Ctx(self, chat, sender, person, identity, roles, lang, group, message_id)
        self._attempted(ctx)
        if self.config.context_reuse_seconds > 0:
            if len(self._recent) >= RECENT_MAX:
                self._recent.clear()
            self._recent[key] = _Kept(ctx, noted, now)
        return ctx

    @staticmethod
    def _attempted(ctx: Ctx) -> Ctx:
        """Note the first context resolved while handling an event (for the failure answer)."""
        attempt = failures.ATTEMPT.get()
        if attempt is not None and attempt.ctx is None:
            attempt.ctx = ctx
        return ctx

    async def _roles(self, uow: UnitOfWork, person_id: int) -> Roles:
        return Roles(
            tuple(
                Grant(Role(role), zone_id, bin_id)
                for role, zone_id, bin_id in await uow.people.roles_of(person_id)
            )
        )

    # -- the directory, kept in memory -----------------------------------------------------

    async def _kept(self, key: tuple[object, ...], load: Callable[[], Awaitable[_T]]) -> _T:
        """`load()`, or its value from the last `DIRECTORY_SECONDS` if this process changed
        no zone, BIN or group since. Zones, BINs and groups change rarely; these copies are
        for reading (a change is made on a row read in its own transaction)."""
        now, changes = time.monotonic(), self.db.changes
        hit = self._directory.get(key)
        if hit is not None and now - hit[2] < DIRECTORY_SECONDS and not changes.stale(hit[1]):
            return cast(_T, hit[0])
        noted = changes.generation
        value = await load()
        if len(self._directory) >= RECENT_MAX:
            self._directory.clear()
        self._directory[key] = (value, noted, now)
        return value

    async def _read(
        self, uow: UnitOfWork | None, read: Callable[[UnitOfWork], Awaitable[_T]]
    ) -> _T:
        """`read` in the caller's unit of work (or the one open in this task), else in one
        of its own."""
        if not isinstance(uow, UnitOfWork):
            uow = units.current()
        if uow is not None:
            return await read(uow)
        async with self.uow() as own:
            return await read(own)

    async def zone(self, zone_id: int, uow: UnitOfWork | None = None) -> Zone | None:
        """A zone, as recently read (see `_kept`); read through `uow` if it must be."""
        return await self._kept(
            ("zone", zone_id), lambda: self._read(uow, lambda u: u.directory.zone(zone_id))
        )

    async def bin(self, bin_id: int, uow: UnitOfWork | None = None) -> Bin | None:
        """A BIN, as recently read (see `_kept`); read through `uow` if it must be."""
        return await self._kept(
            ("bin", bin_id), lambda: self._read(uow, lambda u: u.directory.bin(bin_id))
        )

    async def group_by_chat(self, platform: Platform, chat_id: str) -> Group | None:
        """The group of a chat, linked or not, as recently read (see `_kept`)."""

        def read(u: UnitOfWork) -> Awaitable[Group | None]:
            return u.groups.group_by_chat(platform, chat_id)

        return await self._kept(("group", platform.value, chat_id), lambda: self._read(None, read))

    async def _bin_language(self, uow: UnitOfWork, bin_id: int) -> str | None:
        b = await self.bin(bin_id, uow)
        zone = await self.zone(b.zone_id, uow) if b else None
        return bin_settings.language(zone, b) if zone else None

    async def _person_zone_language(self, uow: UnitOfWork, roles: Roles) -> str | None:
        for g in roles.grants:
            if g.zone_id is not None:
                zone = await self.zone(g.zone_id, uow)
                return zone.language if zone else None
            if g.bin_id is not None:
                return await self._bin_language(uow, g.bin_id)
        return None

    async def person_language(self, uow: UnitOfWork, person_id: int) -> str:
        """The language to write to a person in private."""
        person = await uow.people.person(person_id)
        if person is not None and person.language:
            return person.language
        return (
            await self._person_zone_language(uow, await self._roles(uow, person_id))
            or self.config.default_language
        )

    async def notify_person(
        self,
        person_id: int,
        key: str | Callable[[str], Rich],
        /,
        *,
        buttons: Sequence[Sequence[Button]] = (),
        **values: object,
    ) -> MessageRef | None:
        """Write to a person privately, on the first of their platforms that works.

        `key` is a catalogue key, or a function from a language to rich text. Inside a unit
        of work the message waits until it is over (and None is returned).
        """
        if (open_uow := units.current()) is not None:

            async def later() -> None:
                await self.notify_person(person_id, key, buttons=buttons, **values)

            open_uow.after_commit(later)
            return None
        async with self.uow() as uow:
            lang = await self.person_language(uow, person_id)
            idents = [
                i
                for i in await uow.people.identities_of(person_id)
                if i.platform in self.platforms
            ]
        for ident in idents:
            platform = Platform(ident.platform)
            prefix = "!" if platform == Platform.MATRIX else "/"
            body = key(lang) if callable(key) else texts.rich(key, lang, p=prefix, **values)
            msg = Outgoing(body, tuple(tuple(r) for r in buttons))
            try:
                return await self.platform(platform).send_direct(ident.user_id, msg)
            except PlatformError as exc:
                log.warning("private message to person %s failed: %s", person_id, exc.reason)
        return None

    # -- routing ---------------------------------------------------------------------------

    async def handle(self, event: Event) -> None:
        """Handle one event from an adapter. Never raises: a failure is logged with a short
        reference and the person is answered with the same reference (STYLE 13)."""
        metrics.count_update(event)
        attempt = failures.Attempt()
        token = failures.ATTEMPT.set(attempt)
        try:
            await self._route(event)
        except Exception:
            ref = failures.new_ref()
            log.exception("handling %s failed (ref %s)", type(event).__name__, ref)
            await failures.answer(self, event, attempt, ref)
        finally:
            failures.ATTEMPT.reset(token)

    async def _route(self, event: Event) -> None:
        if isinstance(event, CommandIssued | MessagePosted | ButtonPressed | ReactionAdded):
            if event.sender.is_bot:
                return
        if isinstance(event, CommandIssued):
            await self._command(event)
        elif isinstance(event, ButtonPressed):
            await self._button(event)
        elif isinstance(event, MessagePosted) and event.chat.is_private:
            # Text outside a conversation only gets a hint: a recent context is good enough.
            idle = not await self.conversations.has_open(event.chat, event.sender)
            ctx = await self.context(event.chat, event.sender, event.message_id, reuse=idle)
            if idle or not await self.conversations.text(ctx, event.text):
                await ctx.reply("core.private_text_hint")
        else:
            for fn in self.registry.events.get(type(event), []):
                await fn(self, event)

    async def _command(self, event: CommandIssued) -> None:
        cmd = self.registry.commands.get(event.name)
        if cmd is None:
            if event.chat.is_private:
                ctx = await self.context(event.chat, event.sender, event.message_id)
                await ctx.reply("core.unknown_command", command=event.name)
            return  # in groups, commands of other bots are none of our business
        reuse = cmd.roles is None and cmd.name in READ_ONLY_COMMANDS
        ctx = await self.context(event.chat, event.sender, event.message_id, reuse=reuse)
        if not await self._allowed(ctx, cmd):
            return
        await cmd.handler(ctx, event.args)

    async def _allowed(self, ctx: Ctx, cmd: Command) -> bool:
        if cmd.roles is not None and not (cmd.roles & ctx.roles.kinds):
            await ctx.audit("command." + cmd.name, outcome="refused", reason="role")
            if cmd.refusal is not None:
                await ctx.reply(cmd.refusal, command=cmd.name)
                return False
            names = ", ".join(sorted(texts.text("role." + r, ctx.lang) for r in cmd.roles))
            await ctx.reply("core.refused_role", command=cmd.name, roles=names)
            return False
        if cmd.where == Where.PRIVATE and not ctx.chat.is_private:
            await ctx.reply("core.use_private", command=cmd.name)
            return False
        if cmd.where == Where.GROUP and ctx.chat.is_private:
            await ctx.reply("core.use_group", command=cmd.name)
            return False
        return True

    async def _button(self, event: ButtonPressed) -> None:
        ctx = await self.context(event.chat, event.sender, event.message_id)
        if event.acknowledge is not None:
            ctx.extra["acknowledge"] = event.acknowledge
        kind, _, payload = event.data.partition(":")
        if kind == "cv":
            if not await self.conversations.button(ctx, payload):
                await ctx.reply("core.button_expired")
            return
        handler = self.registry.buttons.get(kind)
        if handler is None:
            await ctx.audit("button", outcome="refused", reason="unknown")
            await ctx.reply("core.button_expired")
            return
        await handler(ctx, payload)
