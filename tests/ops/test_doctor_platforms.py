"""`binbot doctor` against real peers: python-telegram-bot against the fake Bot API, matrix-nio
against Synapse. It must find groups where the bot lacks rights, and leave the running bot's
updates, webhook, sync token and devices alone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from nio import DevicesResponse

from adapters.probe import connected
from bot.app import build_platforms
from bot.doctor import doctor
from storage.db import open_database
from storage.tables import Bin, Group, Zone
from tests.matrix.conftest import UserFactory
from tests.matrix.harness import MatrixUser
from tests.matrix.synapse import SynapseServer
from tests.telegram.botapi import FakeBotApi


async def linked(db_file: Path, platform: str, chats: list[tuple[str, str]]) -> None:
    """A zone, BIN `noord`, and the given (chat id, title) groups linked to it."""
    now = datetime.now(UTC)
    db = await open_database(f"sqlite+aiosqlite:///{db_file}")
    async with db.session() as s:
        zone = Zone(name="Beringen", created_at=now)
        s.add(zone)
        await s.flush()
        b = Bin(zone_id=zone.id, name="Noord", code="noord", created_at=now)
        s.add(b)
        await s.flush()
        for chat_id, title in chats:
            s.add(
                Group(bin_id=b.id, platform=platform, chat_id=chat_id, title=title, linked_at=now)
            )
    await db.dispose()


async def run(lines: list[str]) -> int:
    return await doctor(None, lines.append, build=build_platforms, connect=connected)


async def test_telegram_groups_are_checked_without_taking_the_bots_updates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with FakeBotApi() as api:
        fine = api.add_group("BIN Noord")
        no_pin = api.add_group("BIN Noord 2", bot_rights={"can_pin_messages": False})
        gone = api.add_group("BIN Noord 3", bot_status="left")
        chats = [(str(c.id), c.title) for c in (fine, no_pin, gone)]
        await linked(tmp_path / "b.db", "telegram", chats)
        monkeypatch.setenv("BINBOT_DATABASE_URL", str(tmp_path / "b.db"))
        monkeypatch.setenv("BINBOT_TELEGRAM__TOKEN", api.token)
        monkeypatch.setenv("BINBOT_TELEGRAM__BASE_URL", api.base_url)
        lines: list[str] = []
        assert await run(lines) == 1
        for method in ("getUpdates", "deleteWebhook", "setWebhook", "setMyCommands"):
            assert api.calls_to(method) == [], method
    assert "ok   telegram: reachable as bot @binbot_test_bot" in lines
    assert (
        f"ok   group 1 (telegram {fine.id}, BIN noord): the bot has the rights it needs" in lines
    )
    assert (
        f"FAIL group 2 (telegram {no_pin.id}, BIN noord): the bot lacks: pin — "
        "make the bot an administrator of the group that may pin"
    ) in lines
    assert (
        f"FAIL group 3 (telegram {gone.id}, BIN noord): the bot is no longer in this group — "
        "add the bot to the group again, or unlink it (/unlink)"
    ) in lines


async def test_a_wrong_telegram_token_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with FakeBotApi() as api:
        await linked(tmp_path / "b.db", "telegram", [])
        monkeypatch.setenv("BINBOT_DATABASE_URL", str(tmp_path / "b.db"))
        monkeypatch.setenv(
            "BINBOT_TELEGRAM__TOKEN", "5550001234:AAnotTheRightTokenForThisBotAtAll_99"
        )
        monkeypatch.setenv("BINBOT_TELEGRAM__BASE_URL", api.base_url)
        lines: list[str] = []
        assert await run(lines) == 1
    [line] = [x for x in lines if x.startswith("FAIL telegram")]
    assert "unreachable: invalid_token" in line and "BINBOT_TELEGRAM__TOKEN" in line


async def test_matrix_rooms_are_checked_with_a_device_that_is_gone_afterwards(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    synapse: SynapseServer,
    make_user: UserFactory,
) -> None:
    account = await synapse.create_user("bot", displayname="binbot")
    bot = MatrixUser(synapse, account)
    try:
        jan = await make_user("jan")
        powered = await jan.create_room(invite=(bot.user_id,), power={bot.user_id: 50})
        plain = await jan.create_room(invite=(bot.user_id,))
        for room in (powered, plain):
            await bot.join(room)
        await linked(tmp_path / "b.db", "matrix", [(powered, "BIN Noord"), (plain, "BIN 2")])
        monkeypatch.setenv("BINBOT_DATABASE_URL", str(tmp_path / "b.db"))
        monkeypatch.setenv("BINBOT_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("BINBOT_MATRIX__HOMESERVER", synapse.base_url)
        monkeypatch.setenv("BINBOT_MATRIX__USER_ID", account.user_id)
        monkeypatch.setenv("BINBOT_MATRIX__PASSWORD", account.password)
        devices_before = await devices(bot)
        lines: list[str] = []
        assert await run(lines) == 1
        assert await devices(bot) == devices_before  # the doctor's login was logged out
    finally:
        await bot.close()
    assert any(x.startswith(f"ok   matrix: reachable as {account.user_id}") for x in lines)
    assert f"ok   group 1 (matrix {powered}, BIN noord): the bot has the rights it needs" in lines
    assert (
        f"FAIL group 2 (matrix {plain}, BIN noord): the bot lacks: change join rules, pin, "
        "remove members, delete messages — raise the bot's power level in the room so that it "
        "may change join rules, pin, remove members, delete messages"
    ) in lines


async def devices(user: MatrixUser) -> set[str]:
    resp = await user.client.devices()
    assert isinstance(resp, DevicesResponse)
    return {d.id for d in resp.devices}
