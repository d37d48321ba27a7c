"""TelegramPlatform's inbound side and lifecycle, real python-telegram-bot against the fake
Bot API: polling, button answers, failures while polling, webhook mode, a clean stop."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket

import httpx
import pytest
from pydantic import SecretStr

from adapters.telegram.platform import TelegramPlatform
from adapters.telegram.webhook import SECRET_HEADER, derive_secret
from bot.events import (
    BotAddedToChat,
    BotRemovedFromChat,
    BotRightsChanged,
    ButtonPressed,
    ChatMigrated,
    CommandIssued,
    Event,
    JoinRequested,
    MemberJoined,
    MemberLeft,
    MessagePosted,
)
from bot.model import Button, ChatRef, Outgoing, Platform, Rich
from bot.ports import PermanentError
from config.settings import TelegramSettings
from tests.telegram.botapi import FakeBotApi
from tests.telegram.recording import RecordingSink


async def test_people_acting_reach_the_core_as_events(
    platform: TelegramPlatform, botapi: FakeBotApi, sink: RecordingSink
) -> None:
    els, jan, lucia = botapi.add_user("Els"), botapi.add_user("Jan"), botapi.add_user("Lucía")
    noord = botapi.add_group("BIN Noord", owner=els, members=[jan])
    zuid = botapi.add_group("BIN Zuid", supergroup=False, owner=els, bot_status="left")

    botapi.user_writes(jan, "/start INV-7K2Q")
    command = await sink.next(CommandIssued)
    assert (command.name, command.args, command.chat.is_private) == ("start", "INV-7K2Q", True)

    botapi.user_writes(jan, "Verdachte wagen in de <b>Kerkstraat</b>", noord)
    posted = await sink.next(MessagePosted)
    assert posted.text == "Verdachte wagen in de <b>Kerkstraat</b>"
    assert posted.chat.chat_id == str(noord.id) and posted.sender.user_id == str(jan.id)

    botapi.request_join(lucia, noord)
    request = await sink.next(JoinRequested)
    assert request.user.user_id == str(lucia.id)

    botapi.add_bot(zuid, els)
    added = await sink.next(BotAddedToChat)
    assert added.chat.chat_id == str(zuid.id) and added.by is not None
    assert added.by.user_id == str(els.id)
    botapi.promote_bot(zuid, els)
    assert (await sink.next(BotRightsChanged)).is_admin

    botapi.member_leaves(noord, jan)  # chat_member update, and the service message
    left = {await sink.next(MemberLeft), await sink.next(MemberLeft)}
    assert {(e.chat.chat_id, e.user.user_id) for e in left} == {(str(noord.id), str(jan.id))}
    botapi.member_joins(noord, jan)
    assert (await sink.next(MemberJoined)).user.user_id == str(jan.id)

    new = botapi.migrate(zuid)
    migrated = await sink.next(ChatMigrated)
    assert (migrated.chat.chat_id, migrated.new_chat_id) == (str(zuid.id), str(new.id))

    botapi.remove_bot(noord, els)
    assert (await sink.next(BotRemovedFromChat)).chat.chat_id == str(noord.id)


async def test_button_press_is_answered_while_the_core_is_still_busy(
    settings: TelegramSettings, botapi: FakeBotApi
) -> None:
    release = asyncio.Event()
    seen: list[Event] = []

    async def slow_core(event: Event) -> None:
        seen.append(event)
        await release.wait()

    telegram = TelegramPlatform(settings)
    await telegram.start(slow_core)
    try:
        marie = botapi.add_user("Marie")
        group = botapi.add_group("BIN Noord", members=[marie])
        await telegram.send(
            ChatRef(Platform.TELEGRAM, str(group.id)),
            Outgoing(Rich.of("BIN-bericht A-7K2Q"), buttons=((Button("Gezien", "seen:A"),),)),
        )
        query = botapi.press_button(marie, botapi.last_message(group), data="forged:admin")
        await botapi.wait_for_call("answerCallbackQuery")
        assert botapi.answer_of(query) is not None
        assert not release.is_set()  # the core has not finished: the answer did not wait
        [pressed] = seen
        assert isinstance(pressed, ButtonPressed)
        assert pressed.data == "forged:admin"  # handed on as is, for the core to distrust
        assert pressed.message_id == str(botapi.last_message(group).message_id)
    finally:
        release.set()
        await telegram.stop()


async def test_a_failing_core_does_not_stop_polling(
    settings: TelegramSettings, botapi: FakeBotApi
) -> None:
    got: list[str] = []
    both = asyncio.Event()

    async def flaky_core(event: Event) -> None:
        assert isinstance(event, MessagePosted)
        got.append(event.text)
        if len(got) == 2:
            both.set()
        if event.text == "eerste":
            raise RuntimeError("the core broke")

    telegram = TelegramPlatform(settings)
    await telegram.start(flaky_core)
    try:
        jan = botapi.add_user("Jan")
        botapi.user_writes(jan, "eerste")
        botapi.user_writes(jan, "tweede")
        await asyncio.wait_for(both.wait(), 5)
        assert got == ["eerste", "tweede"]
    finally:
        await telegram.stop()


async def test_polling_survives_server_errors_without_losing_updates(
    platform: TelegramPlatform, botapi: FakeBotApi, sink: RecordingSink
) -> None:
    jan = botapi.add_user("Jan")
    await botapi.wait_for_call("getUpdates")
    botapi.fail_next("getUpdates", 2, status=502, description="Bad Gateway")
    botapi.user_writes(jan, "voor de storing")  # answers the long poll that is waiting
    assert (await sink.next(MessagePosted)).text == "voor de storing"
    polls = len(botapi.calls_to("getUpdates"))
    await botapi.wait_for_call("getUpdates", polls + 1)  # the first failing poll
    botapi.user_writes(jan, "tijdens de storing")
    assert (await sink.next(MessagePosted, within=8)).text == "tijdens de storing"
    await asyncio.sleep(0.1)
    assert sink.events == []  # each message once
    assert len(botapi.calls_to("getUpdates")) >= polls + 3


async def test_updates_sent_while_down_arrive_at_start(
    settings: TelegramSettings, botapi: FakeBotApi, sink: RecordingSink
) -> None:
    jan = botapi.add_user("Jan")
    botapi.user_writes(jan, "/help")
    telegram = TelegramPlatform(settings)
    await telegram.start(sink)
    try:
        assert (await sink.next(CommandIssued)).name == "help"
    finally:
        await telegram.stop()
    assert botapi.updates.pending == []  # confirmed on stop: not delivered twice


def free_port() -> int:
    """A port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_webhook_mode_receives_updates_pushed_to_it(
    botapi: FakeBotApi, sink: RecordingSink
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/hook"
    settings = TelegramSettings(
        token=SecretStr(botapi.token),
        base_url=botapi.base_url,
        webhook_url=url,
        webhook_listen="127.0.0.1",
        webhook_port=port,
        webhook_secret=SecretStr("s3cr3t-hook"),
    )
    telegram = TelegramPlatform(settings)
    await telegram.start(sink)
    try:
        [hook] = botapi.calls_to("setWebhook")
        assert hook["url"] == url and hook["secret_token"] == "s3cr3t-hook"
        assert "chat_member" in json.loads(hook["allowed_updates"])
        jan = botapi.add_user("Jan")
        botapi.user_writes(jan, "/numbers")  # the fake server POSTs it to the webhook
        assert (await sink.next(CommandIssued)).name == "numbers"
        assert botapi.calls_to("getUpdates") == []

        chat = {"id": jan.id, "type": "private"}
        message = {"message_id": 5, "date": 0, "chat": chat, "from": jan.json(), "text": "nep"}
        update = {"update_id": 1, "message": message}
        async with httpx.AsyncClient() as http:
            forged = await http.post(url, json=update)
            assert forged.status_code == 403  # no secret: not from Telegram
            real = await http.post(url, json=update, headers={SECRET_HEADER: "s3cr3t-hook"})
            assert real.status_code == 200
        assert (await sink.next(MessagePosted)).text == "nep"
    finally:
        await telegram.stop()
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as http:
            await http.post(url, json={})


async def test_stop_is_quick_and_leaves_nothing_running(
    settings: TelegramSettings, botapi: FakeBotApi, sink: RecordingSink
) -> None:
    before = asyncio.all_tasks()
    telegram = TelegramPlatform(settings)
    await telegram.start(sink)
    await botapi.wait_for_call("getUpdates")  # a 10 s long poll is waiting
    loop = asyncio.get_running_loop()
    started = loop.time()
    await telegram.stop()
    assert loop.time() - started < 2
    await asyncio.sleep(0)
    left = [
        task
        for task in asyncio.all_tasks() - before
        if "RequestHandler" not in repr(task.get_coro())  # the fake server's side
    ]
    assert left == []
    polls = len(botapi.calls_to("getUpdates"))
    botapi.user_writes(botapi.add_user("Jan"), "na de stop")
    await asyncio.sleep(0.2)
    assert len(botapi.calls_to("getUpdates")) == polls and sink.events == []


async def test_a_wrong_token_refuses_to_start(botapi: FakeBotApi, sink: RecordingSink) -> None:
    settings = TelegramSettings(token=SecretStr("42:revoked"), base_url=botapi.base_url)
    with pytest.raises(PermanentError) as refused:
        await TelegramPlatform(settings).start(sink)
    assert refused.value.reason == "invalid_token"
    with pytest.raises(ValueError, match="BINBOT_TELEGRAM__TOKEN"):
        TelegramPlatform(TelegramSettings())


async def test_logs_hold_ids_and_reasons_but_no_names_or_texts(
    platform: TelegramPlatform,
    botapi: FakeBotApi,
    sink: RecordingSink,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="adapters.telegram")
    jan = botapi.add_user("Jantje", "Geheimnaam")
    group = botapi.add_group("BIN Noord", members=[jan])
    botapi.user_writes(jan, "mijn adres is Dorpsstraat 12", group)
    await sink.next(MessagePosted)
    botapi.fail_next("sendMessage", status=502)
    with pytest.raises(Exception, match="network_error"):
        await platform.send(ChatRef(Platform.TELEGRAM, str(group.id)), Outgoing(Rich.of("x")))
    botapi.request_join(jan, group)
    await platform.decline_join(ChatRef(Platform.TELEGRAM, str(group.id)), str(jan.id))
    await platform.decline_join(ChatRef(Platform.TELEGRAM, str(group.id)), str(jan.id))
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("adapters"))
    assert logged, "the adapter should log something here"
    for secret in ("Jantje", "Geheimnaam", "Dorpsstraat", botapi.token):
        assert secret not in logged


def test_a_webhook_secret_is_derived_from_the_token_when_none_is_set() -> None:
    token = "5550001234:AAFakeTokenForTheBinbotTestSuite_0123"
    secret = derive_secret(token)
    assert secret == derive_secret(token) != derive_secret(token + "x")  # same in every process
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret) and token not in secret
