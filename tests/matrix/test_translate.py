"""Matrix events recorded from Synapse (record_fixtures.py) become the right core events."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import pytest
from nio import MatrixRoom
from PIL import Image

from adapters.matrix.translate import (
    InviteReceived,
    chat_ref,
    parse_command,
    strip_reply_fallback,
    translate_raw,
)
from bot.events import (
    BotAddedToChat,
    BotRemovedFromChat,
    CommandIssued,
    JoinRequested,
    MemberJoined,
    MemberLeft,
    MessagePosted,
    PhotoPosted,
    ReactionAdded,
)
from bot.model import ChatRef, Platform, UserRef
from bot.ports import PermanentError

FIXTURES = Path(__file__).parent / "fixtures"
BOT = "@binbot:localhost"
JAN = "@jan:localhost"
PIET = "@piet:localhost"
ROOM = "!room:localhost"


def recorded(name: str) -> dict[str, Any]:
    """One recorded event."""
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf8"))


def group() -> MatrixRoom:
    """A named BIN room with the bot, Jan and Piet."""
    room = MatrixRoom(ROOM, BOT)
    room.name = "BIN Noord"
    room.add_member(BOT, "binbot", None)
    room.add_member(JAN, "Jan Peeters", None)
    room.add_member(PIET, "Piet Janssens", None)
    return room


def direct() -> MatrixRoom:
    """An unnamed room with the bot and Jan: a private chat."""
    room = MatrixRoom("!dm:localhost", BOT)
    room.add_member(BOT, "binbot", None)
    room.add_member(JAN, "Jan Peeters", None)
    return room


GROUP = ChatRef(Platform.MATRIX, ROOM, is_private=False, title="BIN Noord")
JAN_REF = UserRef(Platform.MATRIX, JAN, "Jan Peeters")
PIET_REF = UserRef(Platform.MATRIX, PIET, "Piet Janssens")


def test_bang_command_becomes_command_issued() -> None:
    event = translate_raw(recorded("command"), group(), BOT)
    assert event == CommandIssued(GROUP, JAN_REF, "help", "", recorded("command")["event_id"])


def test_slash_command_passed_through_by_a_client_is_a_command() -> None:
    event = translate_raw(recorded("slash_command"), group(), BOT)
    assert isinstance(event, CommandIssued)
    assert (event.name, event.args) == ("numbers", "")


def test_plain_text_becomes_message_posted() -> None:
    source = recorded("message")
    event = translate_raw(source, group(), BOT)
    assert event == MessagePosted(
        GROUP, JAN_REF, "Verdachte wagen in de Kerkstraat", source["event_id"], reply_to=None
    )


def test_reply_keeps_its_target_and_drops_the_quoted_fallback() -> None:
    source = recorded("reply")
    event = translate_raw(source, group(), BOT)
    assert isinstance(event, CommandIssued)
    assert (event.name, event.args) == ("check", "A-7K2Q")
    target = source["content"]["m.relates_to"]["m.in_reply_to"]["event_id"]
    message = translate_raw(
        {**source, "content": {**source["content"], "body": "ok"}}, group(), BOT
    )
    assert isinstance(message, MessagePosted) and message.reply_to == target


def test_edits_and_the_bots_own_messages_are_ignored() -> None:
    assert translate_raw(recorded("edit"), group(), BOT) is None
    assert translate_raw(recorded("bot_message"), group(), BOT) is None


def test_reaction_names_the_message_and_key() -> None:
    source = recorded("reaction")
    event = translate_raw(source, group(), BOT)
    target = source["content"]["m.relates_to"]["event_id"]
    assert event == ReactionAdded(GROUP, PIET_REF, target, "👍")


class Repository:
    """The media repository as `download` sees it: recorded content by mxc URI."""

    def __init__(self, content: dict[str, bytes]) -> None:
        self.content = content
        self.asked: list[str] = []

    async def __call__(self, mxc: str) -> bytes:
        self.asked.append(mxc)
        return self.content[mxc]


def test_an_image_in_a_private_chat_is_a_photo_fetched_only_when_asked() -> None:
    source = recorded("image")
    url = source["content"]["url"]
    repo = Repository({url: b"\xff\xd8 jpeg"})
    event = translate_raw(source, direct(), BOT, download=repo)
    assert isinstance(event, PhotoPosted)
    assert event.chat == ChatRef(Platform.MATRIX, "!dm:localhost", is_private=True)
    assert (event.sender, event.message_id) == (JAN_REF, source["event_id"])
    # The size announced in `info`, so an oversized image is refused before any download.
    assert (event.size, event.mime) == (3301, "image/jpeg")
    assert event.caption == ""  # the file's name in `body` is no caption
    assert repo.asked == []
    assert asyncio.run(event.fetch()) == b"\xff\xd8 jpeg"
    assert repo.asked == [url]


def test_an_image_with_a_caption_carries_it_as_an_update_would_need() -> None:
    event = translate_raw(recorded("image_caption"), direct(), BOT, download=Repository({}))
    assert isinstance(event, PhotoPosted)
    assert event.caption == "!update A-7K2Q foto erbij"


def test_an_encrypted_attachment_is_downloaded_and_decrypted() -> None:
    source = recorded("image_encrypted")
    url = source["content"]["file"]["url"]
    ciphertext = (FIXTURES / "image_encrypted.bin").read_bytes()
    event = translate_raw(source, direct(), BOT, download=Repository({url: ciphertext}))
    assert isinstance(event, PhotoPosted) and event.caption == ""
    assert (event.size, event.mime) == (3301, "image/jpeg")
    data = asyncio.run(event.fetch())
    assert data != ciphertext and data.startswith(b"\xff\xd8")  # the JPEG itself
    assert Image.open(io.BytesIO(data)).size == (64, 48)


def test_a_damaged_encrypted_attachment_is_refused_not_handed_over() -> None:
    source = recorded("image_encrypted")
    url = source["content"]["file"]["url"]
    ciphertext = bytearray((FIXTURES / "image_encrypted.bin").read_bytes())
    ciphertext[100] ^= 0xFF
    event = translate_raw(source, direct(), BOT, download=Repository({url: bytes(ciphertext)}))
    assert isinstance(event, PhotoPosted)
    with pytest.raises(PermanentError, match="attachment_damaged"):
        asyncio.run(event.fetch())


def test_images_are_ignored_without_a_way_to_download_and_from_the_bot() -> None:
    assert translate_raw(recorded("image"), direct(), BOT) is None
    from_bot = {**recorded("image"), "sender": BOT}
    assert translate_raw(from_bot, direct(), BOT, download=Repository({})) is None


def test_invite_of_the_bot_asks_the_adapter_to_join() -> None:
    for name in ("bot_invite", "invite_state_member"):
        event = translate_raw(recorded(name), group(), BOT)
        assert isinstance(event, InviteReceived)
        assert event.room_id == ROOM and event.inviter.user_id == JAN
        assert not event.is_direct
    dm_invite = recorded("invite_state_member")
    dm_invite["content"]["is_direct"] = True
    event = translate_raw(dm_invite, direct(), BOT)
    assert isinstance(event, InviteReceived) and event.is_direct


def test_the_bot_joining_a_group_is_bot_added_but_not_in_a_private_chat() -> None:
    assert translate_raw(recorded("bot_join"), group(), BOT) == BotAddedToChat(GROUP)
    assert translate_raw(recorded("bot_join"), direct(), BOT) is None


def test_knock_is_a_join_request_with_the_knockers_name() -> None:
    room = group()
    room.remove_member(PIET)
    event = translate_raw(recorded("knock"), room, BOT)
    assert event == JoinRequested(GROUP, PIET_REF)


def test_memberships_of_others() -> None:
    assert translate_raw(recorded("member_join"), group(), BOT) == MemberJoined(GROUP, PIET_REF)
    assert translate_raw(recorded("rename"), group(), BOT) is None
    left = translate_raw(recorded("member_leave"), group(), BOT)
    assert left == MemberLeft(GROUP, UserRef(Platform.MATRIX, PIET, "Piet J."))
    # A declined knock and a ban after leaving are not someone leaving the group.
    assert translate_raw(recorded("knock_declined"), group(), BOT) is None
    assert translate_raw(recorded("member_ban"), group(), BOT) is None


def test_the_bot_kicked_is_bot_removed() -> None:
    assert translate_raw(recorded("bot_kicked"), group(), BOT) == BotRemovedFromChat(GROUP)


def test_a_direct_room_is_private() -> None:
    assert chat_ref(direct()).is_private
    assert not chat_ref(group()).is_private
    assert chat_ref(group(), direct_rooms={ROOM}).is_private


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("!help", ("help", "")),
        ("!Join noord", ("join", "noord")),
        ("/decline 3 geen adres\nsorry", ("decline", "3 geen adres\nsorry")),
        ("  !numbers  ", ("numbers", "")),
        ("!!! inbraak", None),
        ("! help", None),
        ("hello !help", None),
        ("/", None),
    ],
)
def test_parse_command(text: str, expected: tuple[str, str] | None) -> None:
    assert parse_command(text) == expected


def test_strip_reply_fallback() -> None:
    assert strip_reply_fallback("> <@a:x> hi\n> there\n\n!help") == "!help"
    assert strip_reply_fallback("!help") == "!help"
