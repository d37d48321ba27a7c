"""`binbot doctor`: checks a deployment and says what to fix, one line per check.

Settings, the database and its schema, each configured platform, and for every linked group
whether the bot holds the rights it needs there. What it finds lacking (or back) in a group
is recorded, so that the desk shows it as well. Exits 1 when a check fails.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.model import ChatRef, Platform
from bot.ports import BotRemoved, PlatformError, PlatformPort, SystemClock
from config.settings import Settings, SettingsError, load_settings, unknown_variables

if TYPE_CHECKING:
    from storage.db import Database
    from storage.ops import LinkedGroup

Connect = Callable[[PlatformPort], AbstractAsyncContextManager[str]]
Record = Callable[[int, Sequence[str]], Awaitable[None]]
BuildPlatforms = Callable[[Settings, "Database"], dict[Platform, PlatformPort]]

DB_TIMEOUT = 10.0
PLATFORM_TIMEOUT = 30.0

# What to do about a missing right, per platform (names as the adapters report them).
GRANT = {
    Platform.TELEGRAM: "make the bot an administrator of the group that may {rights}",
    Platform.MATRIX: "raise the bot's power level in the room so that it may {rights}",
}
SETTINGS = {
    Platform.TELEGRAM: "BINBOT_TELEGRAM__TOKEN (and __BASE_URL, if set)",
    Platform.MATRIX: "BINBOT_MATRIX__HOMESERVER, __USER_ID and __PASSWORD or __ACCESS_TOKEN",
}


@dataclass(frozen=True)
class Finding:
    """One check's outcome: `level` is ok, warn or FAIL; `fix` says what to do about it."""

    level: str
    what: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        """The finding as the one line the operator reads."""
        text = f"{self.level:<4} {self.what}: {self.detail}"
        return f"{text} — {self.fix}" if self.fix else text


def ok(what: str, detail: str) -> Finding:
    return Finding("ok", what, detail)


def fail(what: str, detail: str, fix: str) -> Finding:
    return Finding("FAIL", what, detail, fix)


def warn(what: str, detail: str, fix: str = "") -> Finding:
    return Finding("warn", what, detail, fix)


async def doctor(
    config_file: str | Path | None,
    out: Callable[[str], None],
    *,
    build: BuildPlatforms,
    connect: Connect,
) -> int:
    """Run every check, print one line each, and return the exit code (1 when one failed).

    `build` makes the configured platforms (bot.app.build_platforms) and `connect` readies one
    for checks without receiving (adapters.probe.connected); cli.py wires both.
    """
    findings: list[Finding] = []

    def report(finding: Finding) -> None:
        findings.append(finding)
        out(finding.line())

    try:
        settings = load_settings(config_file)
    except SettingsError as exc:
        report(fail("settings", str(exc), "set it in the environment or the --config file"))
        return 1
    names = ", ".join(settings.platforms_enabled) or "none"
    report(ok("settings", f"loaded; platforms: {names}"))
    for name in unknown_variables():
        report(
            fail(
                "settings",
                f"unknown setting {name} is ignored",
                "correct its name (README lists every setting) or remove it",
            )
        )
    if not settings.platforms_enabled:
        report(
            fail(
                "platforms",
                "no platform is configured, so `binbot run` will refuse to start",
                f"set {SETTINGS[Platform.TELEGRAM]} or {SETTINGS[Platform.MATRIX]}",
            )
        )
    if settings.telegram.enabled and not settings.telegram.webhook_url:
        if settings.database_url.startswith("postgresql"):
            report(
                warn(
                    "telegram",
                    "long polling: only one process at a time may take this bot's updates",
                    "set BINBOT_TELEGRAM__WEBHOOK_URL when several processes share the database",
                )
            )
    await _check_all(settings, report, build, connect)
    return 1 if any(f.level == "FAIL" for f in findings) else 0


async def _check_all(
    settings: Settings,
    report: Callable[[Finding], None],
    build: BuildPlatforms,
    connect: Connect,
) -> None:
    from storage.db import Database

    db = Database(settings.database_url)
    try:
        groups = await _check_database(db, report)
        try:
            platforms = build(settings, db)
        except ValueError as exc:
            report(fail("platforms", str(exc), "complete the platform's settings"))
            return

        async def record(group_id: int, missing: Sequence[str]) -> None:
            from bot.services.group_rights import change

            try:
                async with db.unit_of_work() as uow:
                    now = SystemClock().now()
                    await change(uow, group_id, "found", missing, now, actor="doctor")
                    await uow.commit()
            except Exception as exc:  # the check itself stands; only the desk misses it
                report(
                    warn(
                        "database",
                        f"could not record the rights of group {group_id}: {_first_line(exc)}",
                        "check that the database user may write",
                    )
                )

        for platform in platforms.values():
            mine = [g for g in groups or () if g.platform == platform.platform.value]
            await _check_platform(platform, mine, connect, report, record)
        for name in sorted({g.platform for g in groups or ()} - {p.value for p in platforms}):
            count = sum(1 for g in groups or () if g.platform == name)
            report(
                warn(
                    name,
                    f"{count} linked group(s), but {name} is not configured in this process",
                    f"configure it ({SETTINGS.get(Platform(name), 'its settings')}) "
                    "in the process that delivers there",
                )
            )
    finally:
        await db.dispose()


async def _check_database(
    db: Database, report: Callable[[Finding], None]
) -> Sequence[LinkedGroup] | None:
    """Reachable and at head; then the linked groups (None when they cannot be read)."""
    from storage.db import head_revision
    from storage.ops import linked_groups

    kind = "PostgreSQL" if db.is_postgres else "SQLite" if db.is_sqlite else "database"
    path = _missing_sqlite_file(db)
    if path:  # connecting would create an empty file
        report(
            fail(
                "database",
                f"no SQLite database at {path}",
                "run `binbot db upgrade` to create it, or set BINBOT_DATABASE_URL",
            )
        )
        return None
    try:
        current = await asyncio.wait_for(db.current_revision(), DB_TIMEOUT)
    except Exception as exc:
        report(
            fail(
                "database",
                f"cannot reach {kind}: {type(exc).__name__}: {_first_line(exc)}",
                "check BINBOT_DATABASE_URL and that the server runs and lets this user in",
            )
        )
        return None
    head = head_revision()
    if current != head:
        report(
            fail(
                "database",
                f"{kind} schema at {current or 'nothing'}, newest is {head}",
                "run `binbot db upgrade`",
            )
        )
        return None
    report(ok("database", f"{kind} reachable, schema at the newest migration ({head})"))
    return await linked_groups(db)


async def _check_platform(
    platform: PlatformPort,
    groups: Sequence[LinkedGroup],
    connect: Connect,
    report: Callable[[Finding], None],
    record: Record,
) -> None:
    name = platform.platform.value
    try:
        async with _connected(connect, platform) as who:
            report(ok(name, f"reachable as {who}"))
            for group in groups:
                finding, missing = await _check_group(platform, group)
                report(finding)
                if missing is not None:
                    await record(group.id, missing)
            if not groups:
                report(ok(name, "no linked groups yet"))
    except _Unreachable as exc:
        report(
            fail(
                name,
                f"unreachable: {exc}",
                f"check {SETTINGS.get(platform.platform, 'its settings')} and the network",
            )
        )


class _Unreachable(Exception):
    pass


@contextlib.asynccontextmanager
async def _connected(connect: Connect, platform: PlatformPort) -> AsyncIterator[str]:
    try:
        async with asyncio.timeout(PLATFORM_TIMEOUT):
            manager = connect(platform)
            who = await manager.__aenter__()
    except PlatformError as exc:
        raise _Unreachable(exc.reason) from exc
    except Exception as exc:
        raise _Unreachable(f"{type(exc).__name__}: {_first_line(exc)}") from exc
    try:
        yield who
    finally:
        await manager.__aexit__(None, None, None)


async def _check_group(
    platform: PlatformPort, group: LinkedGroup
) -> tuple[Finding, Sequence[str] | None]:
    """The finding, and what the bot lacks there (None when the platform could not say)."""
    what = f"group {group.id} ({group.platform} {group.chat_id}, BIN {group.bin_code})"
    chat = ChatRef(platform.platform, group.chat_id, False, group.title)
    try:
        async with asyncio.timeout(PLATFORM_TIMEOUT):
            rights = await platform.check_rights(chat)
    except BotRemoved:
        found = fail(
            what,
            "the bot is no longer in this group",
            "add the bot to the group again, or unlink it (/unlink)",
        )
        return found, None
    except PlatformError as exc:
        return fail(what, f"cannot check the bot's rights: {exc.reason}", "try again later"), None
    except TimeoutError:
        return fail(what, "checking the bot's rights timed out", "try again later"), None
    if rights.ok:
        return ok(what, "the bot has the rights it needs"), ()
    missing = ", ".join(rights.missing)
    grant = GRANT.get(platform.platform, "give the bot the rights to {rights}")
    return fail(what, f"the bot lacks: {missing}", grant.format(rights=missing)), rights.missing


def _missing_sqlite_file(db: Database) -> str | None:
    path = db.url.split(":///", 1)[-1] if db.is_sqlite else ""
    if path and path != ":memory:" and not Path(path).is_file():
        return path
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else ""
