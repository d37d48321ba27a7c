"""Matrix with several processes: one syncs and hands events to its core, another only sends,
as a device of its own, into encrypted rooms too. Real Synapse, real MatrixPlatform, the
composition root's build_platforms."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.app import _ignore, _sink, build_platforms
from bot.dispatch import Core
from bot.model import ChatRef, Outgoing, Platform, Rich
from config.settings import Settings, load_settings
from storage.db import open_database
from tests.matrix.conftest import UserFactory
from tests.matrix.harness import MatrixUser, eventually
from tests.matrix.synapse import SynapseServer


def settings_for(
    monkeypatch: pytest.MonkeyPatch, synapse: SynapseServer, account: Any, db: str, **env: str
) -> Settings:
    for key in [*env, "PROCESS_NAME"]:
        monkeypatch.delenv(f"BINBOT_{key}", raising=False)
    values = {
        "DATABASE_URL": db,
        "MATRIX__HOMESERVER": synapse.base_url,
        "MATRIX__USER_ID": account.user_id,
        "MATRIX__PASSWORD": account.password,
        "MATRIX__MAX_RETRIES": "2",
        **env,
    }
    for key, value in values.items():
        monkeypatch.setenv(f"BINBOT_{key}", value)
    return load_settings()


async def readable(user: MatrixUser, room_id: str, event_id: str) -> dict[str, Any] | None:
    await user.sync_once()
    for event in await user.timeline(room_id):
        if event.get("event_id") == event_id and event.get("type") == "m.room.message":
            return dict(event["content"])
    return None


async def test_one_process_syncs_and_another_only_sends_as_its_own_device(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    synapse: SynapseServer,
    make_user: UserFactory,
) -> None:
    account = await synapse.create_user("bot", displayname="binbot")
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    syncing = settings_for(
        monkeypatch, synapse, account, url, DATA_DIR=str(tmp_path / "mx"), PROCESS_NAME="mx"
    )
    sending = settings_for(
        monkeypatch,
        synapse,
        account,
        url,
        DATA_DIR=str(tmp_path / "web1"),
        PROCESS_NAME="web1",
        MATRIX__SYNC="false",
    )
    db = await open_database(url)
    a = build_platforms(syncing, db)[Platform.MATRIX]
    b = build_platforms(sending, db)[Platform.MATRIX]
    core_a, core_b = Core(db, {Platform.MATRIX: a}), Core(db, {Platform.MATRIX: b})
    assert _sink(core_b, sending, Platform.MATRIX) is _ignore
    await a.start(_sink(core_a, syncing, Platform.MATRIX))
    await b.start(_sink(core_b, sending, Platform.MATRIX))
    try:
        assert a.device_id and b.device_id and a.device_id != b.device_id  # type: ignore[attr-defined]
        jan = await make_user("jan", encryption=True)
        await jan.start_sync()
        room = await jan.create_room(invite=(account.user_id,), encrypted=True)

        async def joined() -> bool:
            return await jan.membership(room, account.user_id) == "join"

        await eventually(joined)
        await jan.say(room, "!numbers")

        async def from_bot() -> list[str]:
            await jan.sync_once()
            found = [m for m in await jan.messages(room) if m["sender"] == account.user_id]
            return [str(m["content"].get("body", "")) for m in found]

        async def answered() -> bool:
            return any("112" in body for body in await from_bot())

        await eventually(answered)
        await asyncio.sleep(3)  # time for second answers, were both processes answering
        said = await from_bot()  # the greeting on joining, then the answer to !numbers
        assert len(said) == 2 and len(set(said)) == 2, said

        # The sending process can post into the encrypted room: its own keys, its own device.
        await b.wait_sync()  # type: ignore[attr-defined]
        sent = await b.send(ChatRef(Platform.MATRIX, room), Outgoing(Rich.of("Officieel bericht")))
        content = await eventually(lambda: readable(jan, room, sent.message_id))
        assert content["body"] == "Officieel bericht"
    finally:
        await b.stop()
        await a.stop()
        await db.dispose()
    keys = {k for k in await kv_keys(url)}
    assert f"matrix:matrix:{account.user_id}:device_id" in keys
    assert f"matrix-sender:web1:matrix:{account.user_id}:device_id" in keys


async def kv_keys(url: str) -> list[str]:
    from sqlalchemy import select

    from storage.tables import KeyValue

    db = await open_database(url)
    try:
        async with db.session() as s:
            return list((await s.execute(select(KeyValue.key))).scalars())
    finally:
        await db.dispose()


def test_a_sending_process_needs_a_password(monkeypatch: pytest.MonkeyPatch) -> None:
    from config.settings import SettingsError

    monkeypatch.setenv("BINBOT_MATRIX__HOMESERVER", "https://matrix.example.org")
    monkeypatch.setenv("BINBOT_MATRIX__USER_ID", "@binbot:example.org")
    monkeypatch.setenv("BINBOT_MATRIX__ACCESS_TOKEN", "syt_x")
    monkeypatch.setenv("BINBOT_MATRIX__SYNC", "false")
    with pytest.raises(SettingsError, match="set BINBOT_MATRIX__PASSWORD"):
        load_settings()
