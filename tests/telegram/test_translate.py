"""Translation of recorded Bot API updates into core events (a pure function: no network)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from telegram import Bot, Update

from adapters.telegram.translate import BotIdentity, translate
from bot.events import (
    BotAddedToChat,
    BotRemovedFromChat,
    BotRightsChanged,
    ButtonPressed,
    ChatMigrated,
    CommandIssued,
    JoinRequested,
    MemberJoined,
    MemberLeft,
    MessagePosted,
    PhotoPosted,
)
from bot.model import ChatRef, Platform, UserRef

FIXTURES = Path(__file__).parent / "fixtures"
ME = BotIdentity(user_id=5550001234, username="binbot_test_bot")
BOT = Bot("5550001234:AAFakeTokenForTheBinbotTestSuite_0123")

NOORD = ChatRef(Platform.TELEGRAM, "-1001001234567", is_private=False, title="BIN Noord")
ZUID = ChatRef(Platform.TELEGRAM, "-4000001", is_private=False, title="BIN Zuid")
JAN_CHAT = ChatRef(Platform.TELEGRAM, "7000001", is_private=True, title="")
JAN = UserRef(Platform.TELEGRAM, "7000001", "Jan Peeters", language_hint="nl")
MARIE = UserRef(Platform.TELEGRAM, "7000002", "Marie Dubois", language_hint="fr")
ELS = UserRef(Platform.TELEGRAM, "7000003", "Els Vermeulen", language_hint="en")
LUCIA = UserRef(Platform.TELEGRAM, "7000004", "Lucía", language_hint=None)


def load(name: str) -> dict[str, Any]:
    """A recorded update, as Telegram sent it."""
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text("utf-8"))
    return data


def run(data: dict[str, Any]) -> object:
    """Parse the JSON as python-telegram-bot does and translate it."""
    update = Update.de_json(copy.deepcopy(data), BOT)
    return translate(update, ME)


def event(name: str) -> object:
    """The event one fixture translates to."""
    return run(load(name))


def test_private_text_is_a_message_in_a_private_chat() -> None:
    assert event("private_text") == MessagePosted(
        chat=JAN_CHAT, sender=JAN, text="Goeiemiddag, hoe werkt dit?", message_id="41"
    )


def test_group_reply_keeps_the_text_as_typed_and_the_replied_message() -> None:
    assert event("group_reply") == MessagePosted(
        chat=NOORD,
        sender=MARIE,
        text="Verdachte wagen <b>hier</b> ook gezien, Kerkstraat",
        message_id="1207",
        reply_to="1201",
    )


def test_deep_link_start_carries_the_invite_code() -> None:
    assert event("start_deep_link") == CommandIssued(
        chat=JAN_CHAT, sender=JAN, name="start", args="INV-7K2QX9", message_id="42"
    )


def test_command_addressed_to_this_bot_is_lowercased_and_stripped() -> None:
    assert event("group_command_addressed") == CommandIssued(
        chat=NOORD, sender=ELS, name="link", args="noord", message_id="1208"
    )


def test_command_for_another_bot_is_ignored() -> None:
    assert event("group_command_other_bot") is None


@pytest.mark.parametrize(
    ("text", "name", "args"),
    [
        ("/help", "help", ""),
        ("/HELP@BinBot_Test_Bot", "help", ""),
        ("/decline 3 geen adres in de wijk", "decline", "3 geen adres in de wijk"),
        ("/alert\nInbraak in de Stationsstraat", "alert", "Inbraak in de Stationsstraat"),
    ],
)
def test_command_shapes(text: str, name: str, args: str) -> None:
    data = load("start_deep_link")
    data["message"]["text"] = text
    result = run(data)
    assert isinstance(result, CommandIssued)
    assert (result.name, result.args) == (name, args)


@pytest.mark.parametrize("text", ["/", "/ hallo", "/usr/bin is een map", "/ik-ben-er"])
def test_slash_text_that_is_no_command_is_a_message(text: str) -> None:
    data = load("private_text")
    data["message"]["text"] = text
    result = run(data)
    assert isinstance(result, MessagePosted)
    assert result.text == text


def test_button_press_names_the_message_that_carried_the_button() -> None:
    assert event("callback_query") == ButtonPressed(
        chat=NOORD, sender=MARIE, data="seen:A-7K2Q", message_id="1201"
    )


def test_join_request_user_id_is_also_the_private_chat_to_write_to() -> None:
    data = load("chat_join_request")
    result = run(data)
    assert result == JoinRequested(chat=NOORD, user=LUCIA)
    assert isinstance(result, JoinRequested)
    assert result.user.user_id == str(data["chat_join_request"]["user_chat_id"])


def test_bot_added_to_a_group_by_a_coordinator() -> None:
    assert event("bot_added") == BotAddedToChat(chat=ZUID, by=ELS)


def test_bot_promoted_and_demoted() -> None:
    assert event("bot_promoted") == BotRightsChanged(chat=NOORD, is_admin=True)
    assert event("bot_demoted") == BotRightsChanged(chat=NOORD, is_admin=False)


def test_bot_kicked_from_a_group() -> None:
    assert event("bot_kicked") == BotRemovedFromChat(chat=NOORD)


def test_bot_blocked_in_private_is_not_a_group_event() -> None:
    assert event("bot_blocked_in_private") is None


def test_member_left_from_chat_member_update() -> None:
    assert event("chat_member_left") == MemberLeft(chat=NOORD, user=MARIE)


def test_member_joined_from_chat_member_update() -> None:
    assert event("chat_member_joined_via_request") == MemberJoined(chat=NOORD, user=LUCIA)


def test_left_chat_member_service_message() -> None:
    assert event("left_chat_member") == MemberLeft(chat=ZUID, user=MARIE)


def test_new_chat_members_reports_a_person_not_the_bot() -> None:
    assert event("new_chat_members") == MemberJoined(chat=ZUID, user=JAN)
    assert event("new_chat_members_bot_only") is None


def test_group_migrated_to_a_supergroup() -> None:
    assert event("migrate_to") == ChatMigrated(chat=ZUID, new_chat_id="-1001987654321")
    assert event("migrate_from") is None


@pytest.mark.parametrize("name", ["edited_message", "channel_post"])
def test_other_updates_mean_nothing_to_the_core(name: str) -> None:
    assert event(name) is None


def test_a_photo_is_a_photo_whose_caption_is_never_a_command() -> None:
    photo = event("photo_with_caption")
    assert isinstance(photo, PhotoPosted)
    assert (photo.caption, photo.message_id, photo.size) == ("/numbers", "1214", 1432)
    assert not photo.chat.is_private  # in a group: the core never downloads it


def test_anonymous_administrator_is_a_bot_sender() -> None:
    result = event("anonymous_admin_text")
    assert isinstance(result, MessagePosted)
    assert result.sender.is_bot and result.sender.user_id == "1087968824"


@pytest.mark.parametrize(
    ("code", "hint"),
    [("nl", "nl"), ("fr-BE", "fr"), ("DE", "de"), ("en-GB", "en"), ("es", None), (None, None)],
)
def test_language_hint_only_for_the_bot_languages(code: str | None, hint: str | None) -> None:
    data = load("private_text")
    if code is None:
        del data["message"]["from"]["language_code"]
    else:
        data["message"]["from"]["language_code"] = code
    result = run(data)
    assert isinstance(result, MessagePosted)
    assert result.sender.language_hint == hint
