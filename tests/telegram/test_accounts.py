"""Without BINBOT_TELEGRAM__USERNAME, `binbot run` names the bot in its links as Telegram's
getMe does: the join links on the desk and the QR code of the printed poster."""

from __future__ import annotations

import asyncio
import random
import re
import socket
from pathlib import Path

import aiohttp
import pypdfium2 as pdfium
import pytest
import zxingcpp

from adapters.telegram.platform import TelegramPlatform
from bot.admin import run_admin
from bot.app import serve, with_accounts
from bot.cli import admin_parser
from bot.core_config import CoreConfig
from bot.model import Platform
from bot.ports import SystemClock
from bot.services import links
from config.settings import load_settings
from storage.db import open_database
from tests.telegram.botapi import DEFAULT_USERNAME, FakeBotApi
from tests.telegram.botapi_state import FakeUser

LOGIN = re.compile(r"http://127\.0\.0\.1:\d+/desk/login/[0-9a-f]+")


def test_the_username_is_taken_from_getme_unless_the_settings_name_it(
    platform: TelegramPlatform,
) -> None:
    learnt = with_accounts(CoreConfig(), {Platform.TELEGRAM: platform})
    assert learnt.telegram_username == DEFAULT_USERNAME
    assert links.join(learnt, "noord").telegram == (
        f"https://t.me/{DEFAULT_USERNAME}?start=join-noord"
    )
    named = CoreConfig(telegram_username="zone_bin_bot")
    assert with_accounts(named, {Platform.TELEGRAM: platform}) is named
    assert with_accounts(CoreConfig(), {}).telegram_username == ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def admin(url: str, *lines: str) -> list[str]:
    """`binbot LINE` for each line, on the database at `url`; the last line's output."""
    db = await open_database(url)
    out: list[str] = []
    try:
        for line in lines:
            out = []
            args = admin_parser().parse_args(line.split())
            code = await run_admin(args, db, out.append, SystemClock(), random.Random(7))
            assert code == 0, out
    finally:
        await db.dispose()
    return out


async def answer(api: FakeBotApi, user: FakeUser, text: str, pattern: re.Pattern[str]) -> str:
    """`user` writes `text` to the bot; the first match of `pattern` in the bot's answer."""
    chat = api.private_chat(user)
    before = len(api.bot_messages(chat))
    api.user_writes(user, text)
    for _ in range(400):
        for message in api.bot_messages(chat)[before:]:
            if found := pattern.search(message.text):
                return found.group(0)
        await asyncio.sleep(0.025)
    raise AssertionError(f"no answer to {text!r}: {[m.text for m in api.bot_messages(chat)]}")


async def test_binbot_run_puts_the_getme_username_in_the_join_links_and_the_poster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, botapi: FakeBotApi
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'run.db'}"
    await admin(
        url, "zone add Beringen --language en", "bin add Noord --zone Beringen --code noord"
    )
    [code] = (await admin(url, "invite police --zone Beringen"))[-1:]
    port = free_port()
    for name, value in {
        "BINBOT_DATABASE_URL": url,
        "BINBOT_DATA_DIR": str(tmp_path / "data"),
        "BINBOT_HTTP__PORT": str(port),
        "BINBOT_RUN_SCHEDULER": "false",
        "BINBOT_TELEGRAM__TOKEN": botapi.token,
        "BINBOT_TELEGRAM__BASE_URL": botapi.base_url,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("BINBOT_TELEGRAM__USERNAME", raising=False)
    assert load_settings().telegram.username is None
    stop = asyncio.Event()
    task = asyncio.create_task(serve(load_settings(), stop))
    jan = botapi.add_user("Jan")
    join = f"https://t.me/{DEFAULT_USERNAME}?start=join-noord"
    try:
        await answer(botapi, jan, f"/start {code}", re.compile("Beringen"))
        login = await answer(botapi, jan, "/desk", LOGIN)
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as browser:
            async with browser.get(login) as r:
                assert r.status == 200
            async with browser.get(f"http://127.0.0.1:{port}/desk/bins/1") as r:
                page = await r.text()
            assert f'href="{join}"' in page
            async with browser.get(f"http://127.0.0.1:{port}/desk/bins/1/poster.pdf") as r:
                assert r.content_type == "application/pdf"
                body = await r.read()
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    pdf = pdfium.PdfDocument(body)
    try:
        image = pdf[0].render(scale=150 / 72).to_pil()
    finally:
        pdf.close()
    assert [found.text for found in zxingcpp.read_barcodes(image)] == [join]
