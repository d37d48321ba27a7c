"""Logs: one event per line, JSON on request, and never a secret, a name or a message text."""

from __future__ import annotations

import ast
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from adapters.telegram.platform import TelegramPlatform
from bot.cli import NOISY_LOGGERS, setup_logging
from bot.model import Outgoing, Rich
from config.settings import TelegramSettings, load_settings
from storage.db import open_database
from storage.tables import Identity
from tests.telegram.botapi import FakeBotApi
from tests.telegram.recording import RecordingSink

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "5550001234:AAFakeTokenForTheBinbotTestSuite_0123"
SECRET_PART = TOKEN.split(":", 1)[1]


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """setup_logging reconfigures the root logger; put it back for the other tests."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in NOISY_LOGGERS}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


def configure(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    for key, value in env.items():
        monkeypatch.setenv(f"BINBOT_{key}", value)
    setup_logging(load_settings())


async def test_the_bot_token_never_reaches_the_log_even_with_httpx_at_debug(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(monkeypatch, TELEGRAM__TOKEN=TOKEN, LOG_LEVEL="DEBUG")
    # An operator chasing a problem turns httpx up by hand: it logs every URL, token included.
    logging.getLogger("httpx").setLevel(logging.DEBUG)
    async with FakeBotApi(token=TOKEN) as api:
        jan = api.add_user("Jan", "Peeters")
        telegram = TelegramPlatform(
            TelegramSettings(token=SecretStr(TOKEN), base_url=api.base_url, poll_timeout=1.0)
        )
        await telegram.start(RecordingSink())
        try:
            await telegram.send_direct(str(jan.id), Outgoing(Rich.of("Kerkstraat 12 inbraak")))
        finally:
            await telegram.stop()
        assert api.texts(jan.id) == ["Kerkstraat 12 inbraak"]
    err = capsys.readouterr().err
    assert "HTTP Request: POST" in err and "[redacted]" in err  # the URLs were logged, masked
    assert SECRET_PART not in err
    assert "Kerkstraat" not in err and "Peeters" not in err  # PTB's DEBUG lines stay out


def test_even_at_debug_the_chatty_libraries_stay_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    configure(monkeypatch, LOG_LEVEL="DEBUG")
    assert logging.getLogger("httpx").getEffectiveLevel() == logging.WARNING
    assert logging.getLogger("telegram.ext.ExtBot").getEffectiveLevel() == logging.INFO
    assert logging.getLogger("nio.client").getEffectiveLevel() == logging.WARNING
    assert logging.getLogger("bot.dispatch").getEffectiveLevel() == logging.DEBUG


def test_secrets_in_any_message_are_masked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(
        monkeypatch,
        TELEGRAM__TOKEN=TOKEN,
        MATRIX__HOMESERVER="http://127.0.0.1:1",
        MATRIX__USER_ID="@binbot:example.org",
        MATRIX__PASSWORD="correct horse battery",
        DATABASE_URL="postgresql://binbot:s3cret-pw@127.0.0.1/binbot",
    )
    log = logging.getLogger("bot.test")
    log.warning("calling https://api.telegram.org/bot%s/getMe", TOKEN)
    log.warning("login with %s failed", "correct horse battery")
    log.warning("cannot connect to postgresql://binbot:s3cret-pw@127.0.0.1/binbot")
    log.warning("another bot's token 123456789:%s", "Z" * 35)
    err = capsys.readouterr().err
    for secret in (SECRET_PART, "correct horse battery", "s3cret-pw", "Z" * 35):
        assert secret not in err
    assert err.count("[redacted]") == 4


def test_json_logs_are_one_object_per_line_with_the_process_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(monkeypatch, LOG_JSON="true", PROCESS_NAME="web-2", TELEGRAM__TOKEN=TOKEN)
    log = logging.getLogger("bot.delivery")
    log.info("delivery %s sent", 17)
    try:
        raise RuntimeError(f"boom at https://api.telegram.org/bot{TOKEN}/sendMessage")
    except RuntimeError:
        log.exception("delivery %s failed", 18)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["event"] == "delivery 17 sent" and first["level"] == "info"
    assert first["logger"] == "bot.delivery" and first["process"] == "web-2"
    assert first["at"].endswith("Z") and "T" in first["at"]
    assert "RuntimeError" in second["error"] and SECRET_PART not in second["error"]


async def test_a_failed_statement_logs_no_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from datetime import UTC, datetime

    configure(monkeypatch)
    db = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        async with db.session() as s:
            s.add(
                Identity(
                    person_id=404,  # no such person: the foreign key refuses the row
                    platform="telegram",
                    user_id="42",
                    display_name="Jan Peeters",
                    created_at=datetime.now(UTC),
                )
            )
    except Exception:
        logging.getLogger("bot.dispatch").exception("handling CommandIssued failed")
    finally:
        await db.dispose()
    err = capsys.readouterr().err
    assert "IntegrityError" in err and "Jan Peeters" not in err


# Attribute and variable names that hold personal data or message text.
PERSONAL = {
    "display_name",
    "first_name",
    "last_name",
    "username",
    "text",
    "body",
    "plain",
    "answers",
    "title",
    "name",
    "sender",
    "user",
}


def personal_log_arguments(path: Path) -> list[str]:
    """`log.info(...)` calls in a file whose arguments name personal data."""
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in ("log", "logger", "logging")
        ):
            continue
        for arg in node.args[1:]:
            for sub in ast.walk(arg):
                name = (
                    sub.attr
                    if isinstance(sub, ast.Attribute)
                    else sub.id
                    if isinstance(sub, ast.Name)
                    else None
                )
                if name in PERSONAL and not _is_harmless(sub):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} logs {name}")
    return found


def _is_harmless(node: ast.AST) -> bool:
    # type(x).__name__ and job.name / self.name are names of code, not of people.
    return (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and (node.value.id in ("self", "job"))
    )


def test_no_log_call_in_the_code_passes_names_or_texts() -> None:
    offenders = []
    for folder in ("bot", "adapters", "storage"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            offenders.extend(personal_log_arguments(path))
    assert offenders == []


def test_the_scan_itself_finds_a_name_in_a_log_call(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text(
        "log.info('joined: %s', sender.display_name)\n"
        "log.warning('said %s in %s', event.text, group.id)\n"
        "log.info('job %s failed', job.name)\n"
    )
    global ROOT
    old, ROOT = ROOT, tmp_path
    try:
        assert personal_log_arguments(sample) == [
            "x.py:1 logs display_name",
            "x.py:1 logs sender",
            "x.py:2 logs text",
        ]
    finally:
        ROOT = old
