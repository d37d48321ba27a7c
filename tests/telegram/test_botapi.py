"""The fake Bot API server itself, spoken to with plain HTTP (httpx), as Telegram is."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiohttp import web

from tests.telegram.botapi import FakeBotApi
from tests.telegram.botapi_flood import FloodLimits


class ManualClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def http(botapi: FakeBotApi) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client aimed at the fake server's bot endpoint."""
    async with httpx.AsyncClient(base_url=f"{botapi.base_url}{botapi.token}/") as client:
        yield client


async def call(http: httpx.AsyncClient, method: str, **params: Any) -> tuple[int, Any]:
    """POST a method with a JSON body; (HTTP status, parsed body)."""
    response = await http.post(method, json=params)
    return response.status_code, response.json()


async def test_get_me_and_wrong_token_and_unknown_method(
    botapi: FakeBotApi, http: httpx.AsyncClient
) -> None:
    status, body = await call(http, "getMe")
    assert status == 200 and body["ok"]
    assert body["result"]["username"] == "binbot_test_bot"
    assert body["result"]["is_bot"] is True
    async with httpx.AsyncClient() as other:
        wrong = await other.post(f"{botapi.base_url}123:nope/getMe")
    assert wrong.status_code == 401
    assert wrong.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    status, body = await call(http, "sendTelepathy")
    assert (status, body["description"]) == (404, "Not Found")


async def test_clients_with_their_own_base_url_are_told_apart(
    botapi: FakeBotApi, http: httpx.AsyncClient
) -> None:
    async with httpx.AsyncClient(base_url=botapi.base_url_for("web2") + botapi.token + "/") as b:
        assert (await call(b, "getMe"))[0] == 200
    assert (await call(http, "getMe"))[0] == 200
    assert [c.caller for c in botapi.calls] == ["web2", ""]
    assert len(botapi.calls_to("getMe")) == 2 and len(botapi.calls_to("getMe", "web2")) == 1


async def test_send_message_parses_html_into_text_and_entities(
    botapi: FakeBotApi, http: httpx.AsyncClient
) -> None:
    jan = botapi.add_user("Jan")
    html = "<b>Politie</b> meldt: &lt;b&gt;geen&lt;/b&gt; <i>paniek</i> &amp; <code>A-7K2Q</code>"
    status, body = await call(http, "sendMessage", chat_id=jan.id, text=html, parse_mode="HTML")
    assert status == 200
    message = botapi.last_message(jan.id)
    assert message.text == "Politie meldt: <b>geen</b> paniek & A-7K2Q"
    assert message.styled("bold") == ["Politie"]
    assert message.styled("italic") == ["paniek"]
    assert message.styled("code") == ["A-7K2Q"]
    assert body["result"]["text"] == message.text
    assert message.html == html


async def test_form_encoded_parameters_like_python_telegram_bot_sends(
    botapi: FakeBotApi, http: httpx.AsyncClient
) -> None:
    jan = botapi.add_user("Jan")
    markup = {"inline_keyboard": [[{"text": "Gezien", "callback_data": "seen:1"}]]}
    response = await http.post(
        "sendMessage",
        data={
            "chat_id": str(jan.id),
            "text": "Hallo",
            "reply_markup": json.dumps(markup),
            "disable_notification": "true",
        },
    )
    assert response.json()["ok"]
    message = botapi.last_message(jan.id)
    assert message.buttons == [[("Gezien", "seen:1")]]
    assert message.disable_notification is True


@pytest.mark.parametrize(
    ("html", "description"),
    [
        ("<b>open", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<script>x</script>", 'Unsupported start tag "script" at byte offset 0'),
        ("1 < 2", "Unclosed start tag at byte offset 2"),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
    ],
)
async def test_malformed_html_is_refused_like_telegram(
    botapi: FakeBotApi, http: httpx.AsyncClient, html: str, description: str
) -> None:
    jan = botapi.add_user("Jan")
    status, body = await call(http, "sendMessage", chat_id=jan.id, text=html, parse_mode="HTML")
    assert status == 400
    assert body == {
        "ok": False,
        "error_code": 400,
        "description": "Bad Request: can't parse entities: " + description,
    }
    assert botapi.texts(jan.id) == []


async def test_text_limits(botapi: FakeBotApi, http: httpx.AsyncClient) -> None:
    jan = botapi.add_user("Jan")
    status, body = await call(http, "sendMessage", chat_id=jan.id, text="x" * 4097)
    assert (status, body["description"]) == (400, "Bad Request: message is too long")
    status, body = await call(
        http, "sendMessage", chat_id=jan.id, text="<b> </b>", parse_mode="HTML"
    )
    assert (status, body["description"]) == (400, "Bad Request: message text is empty")
    status, _ = await call(http, "sendMessage", chat_id=jan.id, text="x" * 4096)
    assert status == 200


async def test_who_the_bot_may_write_to(botapi: FakeBotApi, http: httpx.AsyncClient) -> None:
    stranger = botapi.add_user("Nooit", started=False)
    blocker = botapi.add_user("Blok")
    botapi.block_bot(blocker)
    kicked = botapi.add_group("Oud", bot_status="kicked")
    cases = [
        (424242, 400, "Bad Request: chat not found"),
        (stranger.id, 403, "Forbidden: bot can't initiate conversation with a user"),
        (blocker.id, 403, "Forbidden: bot was blocked by the user"),
        (kicked.id, 403, "Forbidden: bot was kicked from the supergroup chat"),
    ]
    for chat_id, code, description in cases:
        status, body = await call(http, "sendMessage", chat_id=chat_id, text="Hallo")
        assert (status, body["error_code"], body["description"]) == (code, code, description)
    group = botapi.add_group("BIN Noord")
    botapi.request_join(stranger, group)  # a join request opens the private chat for 5 minutes
    status, _ = await call(http, "sendMessage", chat_id=stranger.id, text="Welkom")
    assert status == 200


async def test_migrated_group_answers_with_the_new_id(
    botapi: FakeBotApi, http: httpx.AsyncClient
) -> None:
    group = botapi.add_group("BIN Zuid", supergroup=False)
    new = botapi.migrate(group)
    status, body = await call(http, "sendMessage", chat_id=group.id, text="Hallo")
    assert status == 400
    assert body["description"] == "Bad Request: group chat was upgraded to a supergroup chat"
    assert body["parameters"] == {"migrate_to_chat_id": new.id}
    assert str(new.id).startswith("-100")


async def test_long_polling_offsets_and_timeouts(
    botapi: FakeBotApi, http: httpx.AsyncClient
) -> None:
    jan = botapi.add_user("Jan")
    loop = asyncio.get_running_loop()
    started = loop.time()
    _, body = await call(http, "getUpdates", timeout=0.2)
    assert body["result"] == [] and loop.time() - started >= 0.2

    waiting = asyncio.create_task(call(http, "getUpdates", timeout=5))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    botapi.user_writes(jan, "Hallo")
    _, body = await asyncio.wait_for(waiting, 2)
    [update] = body["result"]
    assert update["message"]["text"] == "Hallo"

    _, again = await call(http, "getUpdates", timeout=0)
    assert again["result"] == [update]  # not confirmed yet
    _, after = await call(http, "getUpdates", offset=update["update_id"] + 1, timeout=0)
    assert after["result"] == []


async def test_a_second_poller_ends_the_first_with_conflict(
    botapi: FakeBotApi, http: httpx.AsyncClient
) -> None:
    first = asyncio.create_task(call(http, "getUpdates", timeout=5))
    await asyncio.sleep(0.1)
    await call(http, "getUpdates", timeout=0)
    status, body = await asyncio.wait_for(first, 2)
    assert status == 409
    assert body["description"].startswith("Conflict: terminated by other getUpdates request")


async def test_allowed_updates_decide_what_is_delivered(
    botapi: FakeBotApi, http: httpx.AsyncClient
) -> None:
    jan = botapi.add_user("Jan")
    group = botapi.add_group("BIN Noord", members=[jan])
    botapi.member_leaves(group, jan)  # chat_member is not delivered by default
    _, body = await call(http, "getUpdates", timeout=0)
    assert [next(k for k in u if k != "update_id") for u in body["result"]] == ["message"]

    await call(http, "getUpdates", timeout=0, allowed_updates=["chat_member", "chat_join_request"])
    botapi.member_joins(group, jan)  # the service message is not asked for now
    botapi.request_join(botapi.add_user("Marie"), group)
    _, body = await call(http, "getUpdates", timeout=0, offset=-2)
    kinds = [next(k for k in u if k != "update_id") for u in body["result"]]
    assert kinds == ["chat_member", "chat_join_request"]
    assert len(botapi.updates.dropped) == 2


async def test_flood_limits_per_chat_and_per_group() -> None:
    clock = ManualClock()
    async with FakeBotApi(clock=clock, flood=FloodLimits(per_chat_burst=3)) as api:
        jan = api.add_user("Jan")
        group = api.add_group("BIN Noord")
        async with httpx.AsyncClient(base_url=f"{api.base_url}{api.token}/") as http:
            codes = [
                (await call(http, "sendMessage", chat_id=jan.id, text="x"))[0] for _ in range(4)
            ]
            assert codes == [200, 200, 200, 429]
            _, body = await call(http, "sendMessage", chat_id=jan.id, text="x")
            assert body["description"] == "Too Many Requests: retry after 1"
            assert body["parameters"] == {"retry_after": 1}
            clock.now += 1.0
            assert (await call(http, "sendMessage", chat_id=jan.id, text="x"))[0] == 200

            sent = 0
            for _ in range(25):  # one a second is fine per chat, but only 20 a minute in a group
                clock.now += 1.0
                status, body = await call(http, "sendMessage", chat_id=group.id, text="x")
                sent += status == 200
            assert sent == 20
            assert body["error_code"] == 429 and body["parameters"]["retry_after"] >= 1
            assert api.flood_429_count == 2 + 5
            assert len(api.texts(group)) == 20


async def test_flood_limit_overall() -> None:
    clock = ManualClock()
    async with FakeBotApi(clock=clock, flood=FloodLimits(retry_after=7)) as api:
        users = [api.add_user(f"U{i}") for i in range(31)]
        async with httpx.AsyncClient(base_url=f"{api.base_url}{api.token}/") as http:
            results = [await call(http, "sendMessage", chat_id=u.id, text="x") for u in users]
    assert [status for status, _ in results].count(200) == 30
    assert results[-1][1]["parameters"] == {"retry_after": 7}


async def test_injected_failures_and_delays(botapi: FakeBotApi, http: httpx.AsyncClient) -> None:
    botapi.fail_next("getMe", 2, status=502, description="Bad Gateway")
    assert (await call(http, "getMe"))[1] == {
        "ok": False,
        "error_code": 502,
        "description": "Bad Gateway",
    }
    assert (await call(http, "getMe"))[0] == 502
    assert (await call(http, "getMe"))[0] == 200
    botapi.delay_next("getMe", 0.2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert (await call(http, "getMe"))[0] == 200
    assert loop.time() - started >= 0.2
    assert len(botapi.calls_to("getme")) == 4


async def test_a_slow_chat_is_answered_as_the_world_is_when_the_delay_ends(
    botapi: FakeBotApi, http: httpx.AsyncClient
) -> None:
    group, other = botapi.add_group("BIN Zuid", supergroup=False), botapi.add_group("BIN Oost")
    botapi.delay_chat(group, 0.3)
    slow = asyncio.ensure_future(call(http, "sendMessage", chat_id=group.id, text="Hallo"))
    await botapi.wait_for_call("sendMessage")
    assert (await call(http, "sendMessage", chat_id=other.id, text="Hallo"))[0] == 200
    assert not slow.done()  # other chats are not held up
    new = botapi.migrate(group)  # while the first request is in flight
    status, body = await slow
    assert (status, body["parameters"]) == (400, {"migrate_to_chat_id": new.id})
    assert (await call(http, "sendMessage", chat_id=new.id, text="Hallo"))[0] == 200


async def test_edit_delete_pin(botapi: FakeBotApi, http: httpx.AsyncClient) -> None:
    group = botapi.add_group("BIN Noord", bot_rights={"can_pin_messages": False})
    _, sent = await call(http, "sendMessage", chat_id=group.id, text="Eerste")
    mid = sent["result"]["message_id"]
    status, body = await call(
        http, "editMessageText", chat_id=group.id, message_id=mid, text="Eerste"
    )
    assert body["description"].startswith("Bad Request: message is not modified")
    await call(http, "editMessageText", chat_id=group.id, message_id=mid, text="Tweede")
    assert botapi.texts(group) == ["Tweede"] and botapi.last_message(group).edited
    status, body = await call(http, "pinChatMessage", chat_id=group.id, message_id=mid)
    assert status == 400 and body["description"] == (
        "Bad Request: not enough rights to manage pinned messages in the chat"
    )
    botapi.set_bot_rights(group, can_pin_messages=True)
    await call(http, "pinChatMessage", chat_id=group.id, message_id=mid, disable_notification=True)
    assert botapi.pinned(group)[0].pin_silent
    assert (await call(http, "deleteMessage", chat_id=group.id, message_id=mid))[0] == 200
    assert botapi.texts(group) == []
    _, body = await call(http, "deleteMessage", chat_id=group.id, message_id=mid)
    assert body["description"] == "Bad Request: message to delete not found"


async def test_join_requests_and_members(botapi: FakeBotApi, http: httpx.AsyncClient) -> None:
    owner, marie = botapi.add_user("Els"), botapi.add_user("Marie")
    group = botapi.add_group("BIN Noord", owner=owner)
    _, body = await call(http, "approveChatJoinRequest", chat_id=group.id, user_id=marie.id)
    assert body["description"] == "Bad Request: HIDE_REQUESTER_MISSING"
    botapi.request_join(marie, group)
    assert (await call(http, "approveChatJoinRequest", chat_id=group.id, user_id=marie.id))[
        0
    ] == 200
    assert botapi.member_status(group, marie) == "member"
    _, body = await call(http, "approveChatJoinRequest", chat_id=group.id, user_id=marie.id)
    assert body["description"] == "Bad Request: USER_ALREADY_PARTICIPANT"

    _, body = await call(http, "banChatMember", chat_id=group.id, user_id=owner.id)
    assert body["description"] == "Bad Request: can't remove chat owner"
    await call(http, "banChatMember", chat_id=group.id, user_id=marie.id)
    assert botapi.member_status(group, marie) == "kicked"
    await call(http, "unbanChatMember", chat_id=group.id, user_id=marie.id, only_if_banned=True)
    assert botapi.member_status(group, marie) == "left"

    _, body = await call(http, "getChatMember", chat_id=group.id, user_id=botapi.bot.id)
    assert body["result"]["status"] == "administrator"
    assert body["result"]["can_invite_users"] is True
    _, body = await call(http, "getChatAdministrators", chat_id=group.id)
    assert {m["status"] for m in body["result"]} == {"creator", "administrator"}
    _, body = await call(http, "createChatInviteLink", chat_id=group.id, creates_join_request=True)
    assert body["result"]["invite_link"].startswith("https://t.me/+")
    botapi.set_bot_rights(group, can_invite_users=False)
    _, body = await call(http, "declineChatJoinRequest", chat_id=group.id, user_id=marie.id)
    assert body["description"] == "Bad Request: CHAT_ADMIN_REQUIRED"


async def test_commands_per_language_and_callback_answers(
    botapi: FakeBotApi, http: httpx.AsyncClient
) -> None:
    nl = [{"command": "hulp", "description": "Wat kan ik doen?"}]
    await call(http, "setMyCommands", commands=nl, language_code="nl")
    _, body = await call(http, "getMyCommands", language_code="nl")
    assert body["result"] == nl
    assert botapi.menu("nl") == [("hulp", "Wat kan ik doen?")] and botapi.menu() == []
    _, body = await call(
        http, "setMyCommands", commands=[{"command": "Bad Name", "description": "x"}]
    )
    assert body["description"] == "Bad Request: BOT_COMMAND_INVALID"

    jan = botapi.add_user("Jan")
    markup = {"inline_keyboard": [[{"text": "Gezien", "callback_data": "seen:1"}]]}
    await call(http, "sendMessage", chat_id=jan.id, text="x", reply_markup=markup)
    query = botapi.press_button(jan, botapi.last_message(jan.id))
    assert (await call(http, "answerCallbackQuery", callback_query_id=query))[0] == 200
    assert botapi.answer_of(query) == {"text": None, "show_alert": False}
    _, body = await call(http, "answerCallbackQuery", callback_query_id=query)
    assert "query is too old" in body["description"]


async def test_webhook_push_with_secret_and_conflict(
    botapi: FakeBotApi, http: httpx.AsyncClient
) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(
            (request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json())
        )
        return web.Response(status=500 if len(received) == 1 else 200)  # first try fails

    app = web.Application()
    app.router.add_post("/tg", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        _, body = await call(http, "setWebhook", url="https://example.org/tg")
        assert body["description"].startswith("Bad Request: bad webhook")
        await call(http, "setWebhook", url=f"http://127.0.0.1:{port}/tg", secret_token="s3cr3t")
        status, body = await call(http, "getUpdates")
        assert status == 409 and "webhook is active" in body["description"]
        botapi.user_writes(botapi.add_user("Jan"), "Hallo")
        await botapi.wait_delivered(botapi.updates.pending[0])
        assert [secret for secret, _ in received] == ["s3cr3t", "s3cr3t"]
        assert received[1][1]["message"]["text"] == "Hallo"
        assert botapi.updates.webhook_failures == 1 and botapi.updates.pending == []
        await call(http, "deleteWebhook")
        assert (await call(http, "getUpdates", timeout=0))[0] == 200
    finally:
        await runner.cleanup()
