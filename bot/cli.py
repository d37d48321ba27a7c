"""The `binbot` command: run, console, db, and the admin's commands."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from bot.admin import ADMIN_COMMANDS, add_admin_parsers, run_admin
from config.settings import Settings, SettingsError, load_settings

NO_PLATFORM = (
    "no platform is configured: set BINBOT_TELEGRAM__TOKEN for Telegram, or "
    "BINBOT_MATRIX__HOMESERVER, BINBOT_MATRIX__USER_ID and BINBOT_MATRIX__PASSWORD "
    "(or BINBOT_MATRIX__ACCESS_TOKEN) for Matrix; `binbot console` needs none"
)


def admin_parser() -> argparse.ArgumentParser:
    """A parser for admin lines alone (used by `$ ...` lines in the console)."""
    parser = argparse.ArgumentParser(prog="$", add_help=False, exit_on_error=False)
    sub = parser.add_subparsers(dest="command", required=True)
    add_admin_parsers(sub)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="binbot",
        description="Official police and prevention messages for neighbourhood groups.",
    )
    parser.add_argument("--config", help="a TOML settings file (or set BINBOT_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("run", help="run the bot on every configured platform")
    con = sub.add_parser("console", help="run the bot in this terminal, no account needed")
    con.add_argument("--seed", type=int, help="repeatable codes and references (demos, tests)")
    db = sub.add_parser("db", help="the database").add_subparsers(dest="action", required=True)
    db.add_parser("upgrade", help="migrate the schema to the newest version")
    db.add_parser("status", help="show the schema version")
    purge = db.add_parser("purge", help="run the retention rules now (the daily job does too)")
    purge.add_argument(
        "--dry-run", action="store_true", help="only show what the next run would delete"
    )
    privacy = sub.add_parser("privacy", help="the register of processing")
    privacy.add_subparsers(dest="action", required=True).add_parser(
        "register", help="print what is kept, why, who sees it and for how long"
    )
    sub.add_parser("doctor", help="check settings, database, platforms and group rights")
    add_admin_parsers(sub)
    return parser


class JsonFormatter(logging.Formatter):
    """One JSON object per line; messages carry ids and reasons, never personal data."""

    def __init__(self, process: str | None = None) -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        at = datetime.fromtimestamp(record.created, UTC)
        row: dict[str, Any] = {
            "at": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        if self.process:
            row["process"] = self.process
        if record.exc_info:
            row["error"] = self.formatException(record.exc_info)
        return json.dumps(row, ensure_ascii=False)


# A Telegram bot token (the Bot API puts it in every URL): digits, a colon, 35 characters.
_BOT_TOKEN = re.compile(r"\d{5,}:[A-Za-z0-9_-]{30,}")


class RedactingFormatter(logging.Formatter):
    """Another formatter's output with the deployment's secrets and any bot token masked."""

    def __init__(self, inner: logging.Formatter, secrets: Sequence[str] = ()) -> None:
        super().__init__()
        self.inner = inner
        found = {s for s in secrets if len(s) >= 6} | {quote(s, safe="") for s in secrets}
        self.secrets = sorted((s for s in found if len(s) >= 6), key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        text = self.inner.format(record)
        for secret in self.secrets:
            text = text.replace(secret, "[redacted]")
        return _BOT_TOKEN.sub("[redacted]", text)


def secrets_of(settings: Settings) -> list[str]:
    """Every secret in the settings, as it could appear in a log line."""
    found = [
        value.get_secret_value()
        for value in (
            settings.telegram.token,
            settings.telegram.webhook_secret,
            settings.matrix.password,
            settings.matrix.access_token,
        )
        if value is not None
    ]
    password = urlsplit(settings.database_url).password
    return [*found, password] if password else found


def setup_logging(settings: Settings, *, quiet: bool = False) -> None:
    """One event per line on stderr (JSON on request), with secrets masked."""
    handler = logging.StreamHandler(sys.stderr)
    inner = (
        JsonFormatter(settings.process_name)
        if settings.log_json
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    handler.setFormatter(RedactingFormatter(inner, secrets_of(settings)))
    level = logging.WARNING if quiet else getattr(logging, settings.log_level)
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # httpx logs every URL (the Telegram token is in it) and python-telegram-bot's DEBUG lines
    # carry message texts and names: neither goes below these levels, whatever LOG_LEVEL says.
    for noisy, floor in NOISY_LOGGERS.items():
        logging.getLogger(noisy).setLevel(max(level, floor))


NOISY_LOGGERS = {
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "telegram": logging.INFO,
    "apscheduler": logging.WARNING,
    "aiosqlite": logging.WARNING,
    "alembic": logging.WARNING,
    "nio": logging.WARNING,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `binbot` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "doctor":
        return asyncio.run(_doctor(args.config))
    try:
        settings = load_settings(args.config)
    except SettingsError as exc:
        print(f"binbot: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings, quiet=args.command != "run")
    try:
        return asyncio.run(_main(args, settings))
    except KeyboardInterrupt:
        return 130


async def _doctor(config_file: str | None) -> int:
    from adapters.probe import connected
    from bot.app import build_platforms
    from bot.doctor import doctor

    logging.basicConfig(level=logging.ERROR, force=True)  # the checks speak for themselves
    return await doctor(config_file, print, build=build_platforms, connect=connected)


async def _main(args: argparse.Namespace, settings: Settings) -> int:
    from bot import app
    from storage.db import Database, head_revision

    if args.command == "run":
        if not settings.platforms_enabled:
            print(f"binbot: {NO_PLATFORM}", file=sys.stderr)
            return 2
        await app.serve(settings)
        return 0
    if args.command == "console":
        rng = random.Random(args.seed) if args.seed is not None else None
        return await app.console(settings, rng=rng)
    if args.command == "privacy":
        from bot import register

        print(register.render(app.core_config(settings)))
        return 0
    db = Database(settings.database_url)
    try:
        if args.command == "db" and args.action == "purge":
            await db.upgrade()
            return await _purge(db, settings, dry_run=args.dry_run)
        if args.command == "db":
            if args.action == "upgrade":
                await db.upgrade()
            current = await db.current_revision()
            print(f"schema at {current or 'nothing'} (newest {head_revision()})")
            return 0
        if args.command in ADMIN_COMMANDS:
            await db.upgrade()
            from bot.ports import SystemClock

            return await run_admin(args, db, print, SystemClock(), random.SystemRandom())
    except OSError as exc:
        print(f"binbot: cannot reach the database (BINBOT_DATABASE_URL): {exc}", file=sys.stderr)
        return 2
    finally:
        await db.dispose()
    return 2


async def _purge(db: Any, settings: Settings, *, dry_run: bool) -> int:
    """`binbot db purge [--dry-run]`: one retention run now, or what it would delete."""
    from bot import app
    from bot.dispatch import Core
    from bot.services import retention

    core = Core(db, {}, config=app.core_config(settings))
    report = await retention.run(core, dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    for table, n in report.deleted.items():
        print(f"{table}\t{verb} {n}")
    for what, n in report.cleared.items():
        print(f"{what}\tcleared {n}")
    if dry_run:
        print(f"{report.total} rows would be deleted in all")
    else:
        print(f"monthly figures counted for {report.months} months")
        print(f"{report.total} rows deleted in all ({report.seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
