"""The composition root: settings -> storage -> adapters -> core. Only here (and in cli.py)
does the core meet concrete platforms."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import random
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

from bot.core_config import CoreConfig
from bot.delivery import DeliveryWorker, build_worker
from bot.dispatch import Core
from bot.events import Event
from bot.handlers import build_registry
from bot.model import Platform
from bot.ports import Clock, EventSink, KeyValueStore, PlatformPort
from bot.register import Retention
from config.settings import Settings
from storage.db import Database, open_database

log = logging.getLogger(__name__)

LEADER_RETRY = 5.0  # seconds between a standby's tries to become the scheduler's leader
# See CoreConfig. As long as zones and BINs are kept (DIRECTORY_SECONDS): a change made by the
# admin's shell shows in /help and /numbers within a minute, and at once in what it governs.
# The console keeps 0 so that transcripts replay exactly.
CONTEXT_REUSE_SECONDS = 60.0
GC_THRESHOLDS = (10_000, 50, 100)  # see tune_gc


class DbKeyValue(KeyValueStore):
    """Adapter state kept in the database (`kv` table)."""

    def __init__(self, db: Database, prefix: str) -> None:
        self.db = db
        self.prefix = prefix

    async def get(self, key: str) -> str | None:
        async with self.db.unit_of_work() as uow:
            return await uow.state.get(self.prefix + key)

    async def put(self, key: str, value: str) -> None:
        async with self.db.unit_of_work() as uow:
            await uow.state.put(self.prefix + key, value)
            await uow.commit()


@dataclasses.dataclass(frozen=True)
class Bot:
    """The core and what runs beside it, as one process runs them."""

    core: Core
    worker: DeliveryWorker

    @property
    def services(self) -> list[Any]:
        """What starts after the platforms and stops before them (each has start/stop)."""
        return [self.worker]


def assemble(
    settings: Settings,
    db: Database,
    platforms: dict[Platform, PlatformPort],
    *,
    config: CoreConfig | None = None,
    clock: Clock | None = None,
    rng: random.Random | None = None,
) -> Bot:
    """Build the bot from its parts, explicitly: the registry of every handler module
    (bot/handlers/__init__.py), the core, and the delivery worker as the core's outbox."""
    core = Core(
        db,
        platforms,
        clock=clock,
        config=config or core_config(settings),
        registry=build_registry(),
        rng=rng,
    )
    return Bot(core, build_worker(core, settings))


def core_config(settings: Settings) -> CoreConfig:
    return CoreConfig(
        default_language=settings.default_language,
        join_request_days=settings.join_request_days,
        join_cooldown_days=settings.join_cooldown_days,
        nudge_cooldown_minutes=settings.nudge_cooldown_minutes,
        conversation_timeout_minutes=settings.conversation_timeout_minutes,
        retention=Retention(**settings.retention.model_dump()),
        desk_url=settings.http.desk_url if settings.http.port else "",
        desk_idle_hours=settings.http.desk_idle_hours,
        media_dir=settings.data_dir / "media",
        media_keep_days=settings.media_keep_days,
        telegram_username=settings.telegram.username or "",
        matrix_user_id=settings.matrix.user_id or "",
    )


def with_accounts(config: CoreConfig, platforms: dict[Platform, PlatformPort]) -> CoreConfig:
    """The bot's accounts for the links on desk pages and posters: what the settings name,
    else what a started platform learnt about itself (Telegram's getMe gives the @username,
    so BINBOT_TELEGRAM__USERNAME may be left out)."""
    telegram = platforms.get(Platform.TELEGRAM)
    if config.telegram_username or telegram is None:
        return config
    from adapters.telegram.platform import TelegramPlatform

    if not isinstance(telegram, TelegramPlatform) or not telegram.identity.username:
        return config
    log.info("telegram: links name the bot by the username getMe gave")
    return dataclasses.replace(config, telegram_username=telegram.identity.username)


def build_platforms(settings: Settings, db: Database) -> dict[Platform, PlatformPort]:
    """The adapters the settings enable."""
    platforms: dict[Platform, PlatformPort] = {}
    if settings.telegram.enabled:
        from adapters.telegram.platform import TelegramPlatform

        platforms[Platform.TELEGRAM] = TelegramPlatform(settings.telegram)
    if settings.matrix.enabled:
        from adapters.matrix.platform import MatrixPlatform

        settings.data_dir.mkdir(parents=True, exist_ok=True)
        matrix, prefix, folder = settings.matrix, "matrix:", settings.data_dir / "matrix"
        if not matrix.sync:
            # A sending process is a Matrix device of its own: its own login, encryption keys
            # and sync token, so that it never skips events for, or shares keys with, the
            # process that hands Matrix events to the core.
            name = settings.process_name
            matrix = matrix.model_copy(
                update={
                    "access_token": None,
                    "device_id": None,
                    "device_name": f"{matrix.device_name} ({name})",
                }
            )
            prefix, folder = f"matrix-sender:{name}:", settings.data_dir / f"matrix-{name}"
        platforms[Platform.MATRIX] = MatrixPlatform(
            matrix, DbKeyValue(db, prefix), folder, is_linked=_linked_room(db)
        )
    return platforms


def _linked_room(db: Database) -> Callable[[str], Awaitable[bool]]:
    """Whether a Matrix room is (still) a BIN group: rooms nobody links are left again."""

    async def is_linked(chat_id: str) -> bool:
        async with db.unit_of_work() as uow:
            group = await uow.groups.group_by_chat(Platform.MATRIX.value, chat_id)
        return group is not None and group.active

    return is_linked


async def _ignore(event: Event) -> None:
    """The sink of a platform that only sends in this process (BINBOT_MATRIX__SYNC=false)."""


def _sink(core: Core, settings: Settings, platform: Platform) -> EventSink:
    if platform == Platform.MATRIX and not settings.matrix.sync:
        return _ignore
    return core.handle


def tune_gc() -> None:
    """Collect cyclic garbage less often than Python's default (every 700 net allocations).

    Each update allocates thousands of short-lived objects (SQLAlchemy statements and rows,
    events, texts), so the default ran the youngest collection several times per update and
    the full one often, each full one walking every object the process holds; that took a
    quarter of the time answering updates. With these thresholds garbage still goes within
    some milliseconds of work, and memory stays within a few MB of the default.
    """
    gc.set_threshold(*GC_THRESHOLDS)


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """`binbot run`: every configured platform on one event loop until stopped."""
    from bot.health import Health

    tune_gc()

    db = await open_database(settings.database_url)
    config = dataclasses.replace(
        core_config(settings), context_reuse_seconds=CONTEXT_REUSE_SECONDS
    )
    bot = assemble(settings, db, build_platforms(settings, db), config=config)
    core, services = bot.core, bot.services
    leadership = None
    if settings.run_scheduler:
        from bot.leader import lead_scheduler
        from storage.locks import AdvisoryLock

        # With several processes on PostgreSQL only the holder of this lock runs the jobs.
        leadership = lead_scheduler(core, AdvisoryLock(db, "scheduler"), retry=LEADER_RETRY)
        services.append(leadership)
    health = Health(core, process=settings.process_name, leadership=leadership)
    front: list[Any] = []
    if settings.http.port:
        front.append(http_server(settings, core, health))
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    started: list[Any] = []
    try:
        for part in front:  # first, so that /healthz says 503 while the platforms start
            await part.start()
            started.append(part)
        for platform in core.platforms.values():
            await platform.start(_sink(core, settings, platform.platform))
            started.append(platform)
            health.started(platform.platform)
            log.info("platform %s started", platform.platform.value)
        core.config = with_accounts(core.config, core.platforms)
        await publish_commands(core)
        for service in services:
            await service.start()
            started.append(service)
        log.info("binbot running")
        if front:
            # In the log (one JSON object per line where so configured), like every other
            # start-up line of `binbot run`.
            log.info("desk at %s/desk/ (send /desk in a private chat)", core.config.desk_url)
        await stop.wait()
    finally:
        health.running.clear()
        for part in reversed(started):
            try:
                await part.stop()
            except Exception:
                log.exception("stopping %s failed", type(part).__name__)
        await db.dispose()
        log.info("binbot stopped")


def http_server(settings: Settings, core: Core, health: Any) -> Any:
    """The HTTP server of /healthz, /metrics and the desk."""
    from adapters.http.desk import Desk
    from adapters.http.health import HealthServer

    return HealthServer(
        health,
        listen=settings.http.listen,
        port=settings.http.port,
        desk=Desk(core, settings.http.desk_url),
    )


async def publish_commands(core: Core) -> None:
    """Give each platform the command menu, per language, from the registry."""
    from bot import texts
    from bot.model import LANGUAGES

    menu = {
        lang: [
            (c.name, texts.text(c.help_key, lang, p="/"))
            for c in core.registry.visible_to(frozenset())
        ]
        for lang in LANGUAGES
    }
    for platform in core.platforms.values():
        try:
            await platform.set_commands(menu)
        except Exception as exc:  # a menu is a nicety; never fail start-up over it
            log.warning("publishing commands on %s failed: %s", platform.platform.value, exc)


async def console(
    settings: Settings,
    stream: TextIO = sys.stdin,
    out: Callable[[str], None] | None = None,
    *,
    clock: Clock | None = None,
    rng: random.Random | None = None,
    prompt: bool | None = None,
) -> int:
    """`binbot console`: the same core in a terminal, with simulated people and chats."""
    from adapters.console.platform import ConsolePlatform
    from adapters.console.runner import ConsoleSession, read_lines
    from bot.admin import run_admin
    from bot.cli import admin_parser

    is_tty = stream.isatty() if prompt is None else prompt
    write = out or (lambda line: print(line, flush=True))
    db = await open_database(settings.database_url)
    session: ConsoleSession | None = None

    def emit(line: str) -> None:
        write(line)
        if session is not None:
            session.seen(line)

    platform = ConsolePlatform(emit)
    # The console serves the desk only when asked to (BINBOT_HTTP__PORT set), so that a
    # console run never takes a port by surprise.
    serve_desk = bool(settings.http.port) and "port" in settings.http.model_fields_set
    config = core_config(settings)
    if not serve_desk:
        config = dataclasses.replace(config, desk_url="")
    bot = assemble(settings, db, {Platform.CONSOLE: platform}, config=config, clock=clock, rng=rng)
    core, services = bot.core, bot.services
    front: list[Any] = []
    if serve_desk:
        from bot.health import Health

        front.append(http_server(settings, core, Health(core, process=settings.process_name)))
    parser = admin_parser()

    async def admin(argv: list[str]) -> int:
        try:
            args = parser.parse_args(argv)
        except SystemExit:
            emit("error: unknown admin command (try $ zone list, $ invite police --zone Z)")
            return 2
        return await run_admin(args, db, emit, core.clock, core.rng)

    session = ConsoleSession(platform, core.handle, admin, core.idle, emit, echo=not is_tty)
    await platform.start(core.handle)
    for service in services:
        await service.start()
    for part in front:
        await part.start()
        write(f"desk: {core.config.desk_url}/desk/ (send NAME@dm: /desk for a login link)")
    if is_tty:
        write("binbot console — type NAME@dm: /help, or NAME@GROUP: text; Ctrl-D to quit")
    try:
        await read_lines(stream, session.feed, prompt=is_tty)
        await core.idle()
    finally:
        for part in reversed(front):
            await part.stop()
        for service in reversed(services):
            await service.stop()
        await platform.stop()
        await db.dispose()
    return 0


def run_sync(coro: Awaitable[Any]) -> Any:
    return asyncio.run(coro)  # type: ignore[arg-type]
