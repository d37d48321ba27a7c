"""TelegramPlatform's outbound side, real python-telegram-bot against the fake Bot API:
what members see in the chat, and how Telegram's refusals reach the core."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from adapters.telegram.errors import map_error
from adapters.telegram.platform import TelegramPlatform
from bot.model import Button, ChatRef, MessageRef, Outgoing, Platform, Rich, Span
from bot.ports import (
    BotRemoved,
    ChatMoved,
    MissingRights,
    PermanentError,
    PlatformError,
    PlatformPort,
    RetryLater,
    TransientError,
)
from tests.telegram.botapi import FakeBotApi
from tests.telegram.botapi_state import FakeChat

# python-telegram-bot warns about its own RetryAfter.retry_after type change when raising it.
pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")


def ref(chat: FakeChat) -> ChatRef:
    """The core's reference to a fake chat."""
    return ChatRef(Platform.TELEGRAM, str(chat.id), is_private=chat.user is not None)


def text(body: str, **options: object) -> Outgoing:
    """A plain outgoing message."""
    return Outgoing(Rich.of(body), **options)  # type: ignore[arg-type]


async def test_it_is_a_platform_port(platform: TelegramPlatform, botapi: FakeBotApi) -> None:
    assert isinstance(platform, PlatformPort)
    assert platform.capabilities.max_text_length == 4096
    assert platform.capabilities.join_requests and not platform.capabilities.reactions
    assert platform.identity.username == "binbot_test_bot"
    poll = await botapi.wait_for_call("getUpdates")
    allowed = set(json.loads(poll["allowed_updates"]))
    assert {"message", "callback_query", "chat_join_request", "chat_member"} <= allowed
    assert "my_chat_member" in allowed


async def test_send_escapes_what_people_typed_and_styles_the_rest(
    platform: TelegramPlatform, botapi: FakeBotApi
) -> None:
    jan = botapi.add_user("Jan")
    group = botapi.add_group("BIN Noord", members=[jan])
    typed = botapi.user_writes(jan, "kijk <b>x</b> & <i>y</i>", group)
    body = Rich(
        (
            Span("OFFICIEEL", bold=True),
            Span(" A-7K2Q ", code=False),
            Span("A-7K2Q", code=True),
            Span("\nJan schreef: "),
            Span(typed.text, italic=True),
        )
    )
    buttons = ((Button("Gezien", "seen:A-7K2Q"), Button("101 gebeld", "called:A-7K2Q")),)
    sent = await platform.send(
        ref(group), Outgoing(body, buttons=buttons, silent=True, reply_to=str(typed.message_id))
    )
    message = botapi.last_message(group)
    assert sent == MessageRef(ref(group), str(message.message_id))
    assert message.text == "OFFICIEEL A-7K2Q A-7K2Q\nJan schreef: kijk <b>x</b> & <i>y</i>"
    assert message.styled("bold") == ["OFFICIEEL"]
    assert message.styled("code") == ["A-7K2Q"]
    assert message.styled("italic") == ["kijk <b>x</b> & <i>y</i>"]
    assert message.buttons == [[("Gezien", "seen:A-7K2Q"), ("101 gebeld", "called:A-7K2Q")]]
    assert message.disable_notification is True
    assert message.reply_to == typed.message_id


async def test_reply_to_a_deleted_message_still_sends(
    platform: TelegramPlatform, botapi: FakeBotApi
) -> None:
    group = botapi.add_group("BIN Noord")
    await platform.send(ref(group), text("Update", reply_to="999"))
    assert botapi.texts(group) == ["Update"]
    assert botapi.last_message(group).reply_to is None


async def test_send_direct_reaches_the_private_chat(
    platform: TelegramPlatform, botapi: FakeBotApi
) -> None:
    jan = botapi.add_user("Jan")
    sent = await platform.send_direct(str(jan.id), text("Welkom in BIN Noord"))
    assert sent.chat.is_private and sent.chat.chat_id == str(jan.id)
    assert botapi.texts(jan.id) == ["Welkom in BIN Noord"]


async def test_edit_replaces_text_and_buttons_and_tolerates_no_change(
    platform: TelegramPlatform, botapi: FakeBotApi
) -> None:
    group = botapi.add_group("BIN Noord")
    sent = await platform.send(ref(group), text("Stemming", buttons=((Button("Ja", "y"),),)))
    await platform.edit(sent, text("Stemming gesloten"))
    message = botapi.last_message(group)
    assert (message.text, message.buttons, message.edited) == ("Stemming gesloten", [], True)
    await platform.edit(sent, text("Stemming gesloten"))  # "message is not modified"
    assert botapi.last_message(group).edits == 1


async def test_delete_and_delete_again(platform: TelegramPlatform, botapi: FakeBotApi) -> None:
    group = botapi.add_group("BIN Noord")
    sent = await platform.send(ref(group), text("Ingetrokken bericht"))
    await platform.delete(sent)
    assert botapi.texts(group) == []
    await platform.delete(sent)  # already gone counts as deleted


async def test_pin_is_silent_and_needs_the_right(
    platform: TelegramPlatform, botapi: FakeBotApi
) -> None:
    group = botapi.add_group("BIN Noord", bot_rights={"can_pin_messages": False})
    sent = await platform.send(ref(group), text("Groepsregels: bel eerst 101"))
    with pytest.raises(MissingRights) as refused:
        await platform.pin(sent)
    assert refused.value.rights == ("pin",)
    botapi.set_bot_rights(group, can_pin_messages=True)
    await platform.pin(sent)
    [pinned] = botapi.pinned(group)
    assert pinned.text == "Groepsregels: bel eerst 101" and pinned.pin_silent


async def test_join_requests_approved_declined_and_already_settled(
    platform: TelegramPlatform, botapi: FakeBotApi
) -> None:
    group = botapi.add_group("BIN Noord")
    lucia, piet = botapi.add_user("Lucía"), botapi.add_user("Piet")
    botapi.request_join(lucia, group)
    botapi.request_join(piet, group)
    await platform.approve_join(ref(group), str(lucia.id))
    await platform.decline_join(ref(group), str(piet.id))
    assert botapi.member_status(group, lucia) == "member"
    assert botapi.member_status(group, piet) == "left"
    assert group.join_requests == {}
    await platform.approve_join(ref(group), str(lucia.id))  # USER_ALREADY_PARTICIPANT
    await platform.decline_join(ref(group), str(piet.id))  # HIDE_REQUESTER_MISSING
    botapi.set_bot_rights(group, can_invite_users=False)
    botapi.request_join(piet, group)
    with pytest.raises(MissingRights):
        await platform.approve_join(ref(group), str(piet.id))


async def test_remove_member_lets_them_ask_again(
    platform: TelegramPlatform, botapi: FakeBotApi
) -> None:
    marie = botapi.add_user("Marie")
    group = botapi.add_group("BIN Noord", members=[marie])
    await platform.remove_member(ref(group), str(marie.id))
    assert botapi.member_status(group, marie) == "left"  # out, and not banned
    botapi.request_join(marie, group)
    await platform.approve_join(ref(group), str(marie.id))
    assert botapi.member_status(group, marie) == "member"


async def test_secure_group_reports_rights_and_makes_an_approval_link(
    platform: TelegramPlatform, botapi: FakeBotApi
) -> None:
    full = botapi.add_group("BIN Noord")
    setup = await platform.secure_group(ref(full))
    assert setup.rights.ok and setup.invite_link is not None
    [link] = full.invite_links
    assert link["invite_link"] == setup.invite_link and link["creates_join_request"]

    no_pin = botapi.add_group("BIN Oost", bot_rights={"can_pin_messages": False})
    setup = await platform.secure_group(ref(no_pin))
    assert setup.rights.missing == ("pin",) and setup.invite_link

    plain = botapi.add_group("BIN West", bot_status="member")
    setup = await platform.secure_group(ref(plain))
    assert setup.rights.missing == ("admin", "invite", "pin", "restrict")
    assert setup.invite_link is None and plain.invite_links == []
    assert await platform.check_rights(ref(plain)) == setup.rights


async def test_leave_and_leave_again(platform: TelegramPlatform, botapi: FakeBotApi) -> None:
    group = botapi.add_group("BIN Noord")
    await platform.leave(ref(group))
    assert botapi.member_status(group, botapi.bot) == "left"
    await platform.leave(ref(group))
    with pytest.raises(BotRemoved):
        await platform.check_rights(ref(group))


async def test_set_commands_per_language_with_english_as_fallback(
    platform: TelegramPlatform, botapi: FakeBotApi
) -> None:
    await platform.set_commands(
        {
            "nl": [("help", "Wat kan ik hier doen?"), ("numbers", "Noodnummers")],
            "en": [("help", "What can I do here?"), ("numbers", "Emergency numbers")],
        }
    )
    assert botapi.menu("nl") == [("help", "Wat kan ik hier doen?"), ("numbers", "Noodnummers")]
    assert (
        botapi.menu("en")
        == botapi.menu("")
        == [
            ("help", "What can I do here?"),
            ("numbers", "Emergency numbers"),
        ]
    )
    with pytest.raises(PermanentError):
        await platform.set_commands({"fr": [("Aide!", "Aide")]})


# -- errors ------------------------------------------------------------------------------


async def test_flood_429_becomes_retry_later_at_once(
    platform: TelegramPlatform, botapi: FakeBotApi
) -> None:
    botapi.flood.limits.retry_after = 17
    group = botapi.add_group("BIN Noord")
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(RetryLater) as refused:
        for i in range(10):
            await platform.send(ref(group), text(f"Bericht {i}"))
    assert refused.value.retry_after == 17.0
    assert loop.time() - started < 2, "the adapter must not sleep on a 429"
    assert len(botapi.texts(group)) == botapi.flood.limits.per_chat_burst
    assert botapi.flood_429_count == 1


async def test_migrated_group_raises_chat_moved(
    platform: TelegramPlatform, botapi: FakeBotApi
) -> None:
    group = botapi.add_group("BIN Zuid", supergroup=False)
    new = botapi.migrate(group)
    with pytest.raises(ChatMoved) as moved:
        await platform.send(ref(group), text("Hallo"))
    assert moved.value.new_chat_id == str(new.id)
    await platform.send(ChatRef(Platform.TELEGRAM, moved.value.new_chat_id), text("Hallo"))
    assert botapi.texts(new) == ["Hallo"]


async def test_kicked_blocked_and_unknown_chats_raise_bot_removed(
    platform: TelegramPlatform, botapi: FakeBotApi
) -> None:
    owner = botapi.add_user("Els")
    group = botapi.add_group("BIN Noord", owner=owner)
    botapi.remove_bot(group, owner)
    blocker = botapi.add_user("Jan")
    botapi.block_bot(blocker)
    with pytest.raises(BotRemoved) as kicked:
        await platform.send(ref(group), text("Hallo"))
    assert kicked.value.reason == "forbidden"
    with pytest.raises(BotRemoved):
        await platform.send_direct(str(blocker.id), text("Hallo"))
    with pytest.raises(BotRemoved) as unknown:
        await platform.send(ChatRef(Platform.TELEGRAM, "-100999"), text("Hallo"))
    assert unknown.value.reason == "chat_not_found"


async def test_server_errors_are_transient(platform: TelegramPlatform, botapi: FakeBotApi) -> None:
    group = botapi.add_group("BIN Noord")
    botapi.fail_next("sendMessage", status=502, description="Bad Gateway")
    with pytest.raises(TransientError):
        await platform.send(ref(group), text("Hallo"))
    await platform.send(ref(group), text("Hallo"))
    assert botapi.texts(group) == ["Hallo"]


async def test_refused_before_sending(platform: TelegramPlatform, botapi: FakeBotApi) -> None:
    group = botapi.add_group("BIN Noord")
    with pytest.raises(PermanentError) as too_long:
        await platform.send(ref(group), text("x" * 4097))
    assert too_long.value.reason == "message_too_long"
    with pytest.raises(PermanentError) as data:
        await platform.send(ref(group), text("x", buttons=((Button("Gezien", "s" * 65),),)))
    assert data.value.reason == "callback_data_too_long"
    assert botapi.calls_to("sendMessage") == []
    await platform.send(ref(group), text("😀" * 2048))  # 4096 UTF-16 units is still fine
    assert botapi.texts(group) == ["😀" * 2048]


@pytest.mark.parametrize(
    ("make", "expected", "reason"),
    [
        (lambda: RetryAfter(5), RetryLater, "rate_limited"),
        (lambda: Forbidden("Forbidden: bot was blocked by the user"), BotRemoved, "forbidden"),
        (lambda: BadRequest("Bad Request: chat not found"), BotRemoved, "chat_not_found"),
        (
            lambda: BadRequest("Bad Request: message is too long"),
            PermanentError,
            "message_too_long",
        ),
        (
            lambda: BadRequest("Bad Request: CHAT_ADMIN_REQUIRED"),
            MissingRights,
            "missing_rights:admin",
        ),
        (
            lambda: BadRequest(
                "Bad Request: not enough rights to restrict/unrestrict chat member"
            ),
            MissingRights,
            "missing_rights:restrict",
        ),
        (
            lambda: Forbidden("Forbidden: not enough rights to send text messages to the chat"),
            MissingRights,
            "missing_rights:send",
        ),
        (
            lambda: BadRequest('Bad Request: can\'t parse entities: Unsupported start tag "x"'),
            PermanentError,
            "can_t_parse_entities",
        ),
        (lambda: TimedOut(), TransientError, "timed_out"),
        (lambda: NetworkError("Bad Gateway"), TransientError, "network_error"),
        (lambda: Conflict("Conflict: terminated by other getUpdates"), TransientError, "conflict"),
    ],
)
def test_error_mapping(
    make: Callable[[], TelegramError], expected: type[PlatformError], reason: str
) -> None:
    mapped = map_error(make())
    assert type(mapped) is expected
    assert mapped.reason == reason
