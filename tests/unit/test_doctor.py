"""`binbot doctor`: one line per check, what to fix, and a non-zero exit when something is wrong."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.cli import main
from bot.doctor import doctor
from bot.model import BotRights, ChatRef, Platform
from bot.ports import BotRemoved, PlatformPort, TransientError
from config.settings import Settings
from storage.db import Database
from storage.tables import Group
from tests.fakes import Harness, RecordingPlatform
from tests.unit.test_groups_support import audit, linked_group, ready, rows

TOKEN = "5550001234:AAFakeTokenForTheBinbotTestSuite_0123"


@contextlib.asynccontextmanager
async def reachable(platform: PlatformPort) -> AsyncIterator[str]:
    yield "bot @binbot_test_bot"


@contextlib.asynccontextmanager
async def unreachable(platform: PlatformPort) -> AsyncIterator[str]:
    raise TransientError("network_error")
    yield ""  # pragma: no cover


async def run_doctor(
    h: Harness, monkeypatch: pytest.MonkeyPatch, connect: object = reachable
) -> tuple[int, list[str]]:
    """The doctor on the harness's database, with its recording platform as Telegram."""
    monkeypatch.setenv("BINBOT_DATABASE_URL", h.db.url)
    monkeypatch.setenv("BINBOT_TELEGRAM__TOKEN", TOKEN)
    lines: list[str] = []

    def build(settings: Settings, db: Database) -> dict[Platform, PlatformPort]:
        return {Platform.TELEGRAM: h.platform}

    code = await doctor(None, lines.append, build=build, connect=connect)  # type: ignore[arg-type]
    return code, lines


def test_a_broken_setting_is_named_and_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BINBOT_TELEGRAM__WEBHOOK_PORT", "99999")
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAIL settings: invalid setting BINBOT_TELEGRAM__WEBHOOK_PORT")
    assert "set it in the environment or the --config file" in out


def test_a_misspelt_setting_that_would_be_ignored_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BINBOT_DATABASE_URL", str(tmp_path / "x.db"))
    monkeypatch.setenv("BINBOT_TELEGRAM__TOKN", TOKEN)  # the token is not set after all
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert (
        "FAIL settings: unknown setting BINBOT_TELEGRAM__TOKN is ignored — correct its name "
        "(README lists every setting) or remove it"
    ) in out


async def test_a_database_not_migrated_says_to_run_db_upgrade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty.db"
    db = Database(f"sqlite+aiosqlite:///{empty}")
    await db.current_revision()  # the file exists, the schema does not
    await db.dispose()
    monkeypatch.setenv("BINBOT_DATABASE_URL", str(empty))
    monkeypatch.setenv("BINBOT_TELEGRAM__TOKEN", TOKEN)
    lines: list[str] = []
    code = await doctor(None, lines.append, build=lambda s, d: {}, connect=reachable)
    assert code == 1
    [line] = [x for x in lines if "database" in x]
    assert line.startswith("FAIL database: SQLite schema at nothing, newest is ")
    assert line.endswith("run `binbot db upgrade`")


async def test_a_missing_sqlite_file_is_not_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BINBOT_DATABASE_URL", str(tmp_path / "nowhere.db"))
    lines: list[str] = []
    assert await doctor(None, lines.append, build=lambda s, d: {}, connect=reachable) == 1
    assert any("no SQLite database at" in x and "binbot db upgrade" in x for x in lines)
    assert not (tmp_path / "nowhere.db").exists()


async def test_an_unreachable_postgresql_names_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("BINBOT_DATABASE_URL", f"postgresql://binbot@127.0.0.1:{port}/binbot")
    lines: list[str] = []
    assert await doctor(None, lines.append, build=lambda s, d: {}, connect=reachable) == 1
    [line] = [x for x in lines if "database" in x]
    assert line.startswith("FAIL database: cannot reach PostgreSQL")
    assert "BINBOT_DATABASE_URL" in line


async def test_all_well_is_all_ok_and_exit_zero(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await ready(h)
    code, lines = await run_doctor(h, monkeypatch)
    assert code == 0, lines
    assert [line.split()[0] for line in lines] == ["ok"] * len(lines)
    assert "ok   telegram: reachable as bot @binbot_test_bot" in lines
    assert "ok   group 1 (telegram buurt, BIN noord): the bot has the rights it needs" in lines


async def test_a_group_where_the_bot_lacks_rights_is_named_with_what_to_fix(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await ready(h)
    await linked_group(h, chat="straat")
    h.platform.missing_rights["straat"] = ("pin", "invite")
    code, lines = await run_doctor(h, monkeypatch)
    assert code == 1
    assert "ok   group 1 (telegram buurt, BIN noord): the bot has the rights it needs" in lines
    assert (
        "FAIL group 2 (telegram straat, BIN noord): the bot lacks: pin, invite — "
        "make the bot an administrator of the group that may pin, invite"
    ) in lines


async def test_what_the_doctor_finds_lacking_is_kept_for_the_desk_until_it_is_back(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await ready(h)
    await linked_group(h, chat="straat")
    h.platform.missing_rights["straat"] = ("pin", "invite")
    await run_doctor(h, monkeypatch)
    [buurt, straat] = await rows(h, Group, Group.id.in_([1, 2]))
    assert (buurt.missing_rights, straat.missing_rights) == (None, "invite,pin")
    assert straat.rights_checked_at is not None
    del h.platform.missing_rights["straat"]  # granted
    code, _ = await run_doctor(h, monkeypatch)
    assert code == 0
    [straat] = await rows(h, Group, Group.id == 2)
    assert straat.missing_rights is None
    found = [(e.actor, (e.detail or {})["missing"]) for e in await audit(h, "group.rights")]
    assert found == [("doctor", ["invite", "pin"]), ("doctor", [])]


async def test_a_group_the_bot_was_removed_from(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await ready(h)

    class Removed(RecordingPlatform):
        async def check_rights(self, chat: ChatRef) -> BotRights:
            raise BotRemoved("forbidden")

    h.platform = Removed()
    code, lines = await run_doctor(h, monkeypatch)
    assert code == 1
    assert (
        "FAIL group 1 (telegram buurt, BIN noord): the bot is no longer in this group — "
        "add the bot to the group again, or unlink it (/unlink)"
    ) in lines


async def test_an_unreachable_platform_says_which_settings_to_check(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await ready(h)
    code, lines = await run_doctor(h, monkeypatch, connect=unreachable)
    assert code == 1
    assert (
        "FAIL telegram: unreachable: network_error — check BINBOT_TELEGRAM__TOKEN "
        "(and __BASE_URL, if set) and the network"
    ) in lines


async def test_groups_on_a_platform_this_process_does_not_run_are_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    matrix = RecordingPlatform(Platform.MATRIX)
    h = await Harness.create(tmp_path, platform=matrix)
    try:
        await ready(h)
        monkeypatch.setenv("BINBOT_DATABASE_URL", h.db.url)
        monkeypatch.setenv("BINBOT_TELEGRAM__TOKEN", TOKEN)
        lines: list[str] = []
        telegram = RecordingPlatform()
        code = await doctor(
            None,
            lines.append,
            build=lambda s, d: {Platform.TELEGRAM: telegram},
            connect=reachable,
        )
    finally:
        await h.close()
    assert code == 0, lines
    assert (
        "warn matrix: 1 linked group(s), but matrix is not configured in this process — "
        "configure it (BINBOT_MATRIX__HOMESERVER, __USER_ID and __PASSWORD or "
        "__ACCESS_TOKEN) in the process that delivers there"
    ) in lines


async def test_polling_beside_postgresql_is_a_warning(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(pg_url)
    await db.upgrade()
    await db.dispose()
    monkeypatch.setenv("BINBOT_DATABASE_URL", pg_url)
    monkeypatch.setenv("BINBOT_TELEGRAM__TOKEN", TOKEN)
    lines: list[str] = []
    code = await doctor(None, lines.append, build=lambda s, d: {}, connect=reachable)
    assert code == 0, lines
    assert (
        "warn telegram: long polling: only one process at a time may take this bot's updates "
        "— set BINBOT_TELEGRAM__WEBHOOK_URL when several processes share the database"
    ) in lines
    assert "ok   database: PostgreSQL reachable, schema at the newest migration" in lines[-1]
