"""The composition root: what it builds from settings."""

from __future__ import annotations

from pathlib import Path

from bot.app import _linked_room, build_platforms
from bot.model import Platform
from config.settings import load_settings
from storage.tables import Group
from tests.fakes import Harness


async def test_matrix_rooms_nobody_linked_are_known_as_such(h: Harness) -> None:
    await h.admin("zone add Beringen")
    await h.admin("bin add Noord --zone Beringen")
    async with h.db.session() as s:
        s.add(Group(bin_id=1, platform="matrix", chat_id="!linked:hs", linked_at=h.clock.now()))
        s.add(
            Group(
                bin_id=1,
                platform="matrix",
                chat_id="!old:hs",
                linked_at=h.clock.now(),
                active=False,
            )
        )
    is_linked = _linked_room(h.db)
    assert await is_linked("!linked:hs") is True
    assert await is_linked("!old:hs") is False
    assert await is_linked("!never:hs") is False


async def test_no_platform_without_settings(h: Harness, tmp_path: Path) -> None:
    assert build_platforms(load_settings(data_dir=tmp_path), h.db) == {}


async def test_both_platforms_from_settings(h: Harness, tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path,
        telegram={"token": "1:x", "base_url": "http://127.0.0.1:9/bot"},
        matrix={"homeserver": "http://127.0.0.1:9", "user_id": "@b:hs", "password": "pw"},
    )
    platforms = build_platforms(settings, h.db)
    assert set(platforms) == {Platform.TELEGRAM, Platform.MATRIX}
