"""Matrix events (matrix-nio objects or raw JSON) to the core's events: pure functions.

One Matrix event becomes at most one core event, or an `InviteReceived` signal that asks the
adapter to accept an invite. Nothing here talks to the network, logs or keeps state: the room
(`nio.MatrixRoom`, as synced) and the set of rooms known to be direct chats are passed in, and
so is `download` (media repository content by `mxc://` URI), which a photo's `fetch` calls only
when the core wants the bytes.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from nio import (
    Event as NioEvent,
)
from nio import (
    InviteEvent,
    InviteMemberEvent,
    MatrixRoom,
    ReactionEvent,
    RoomEncryptedFile,
    RoomEncryptedImage,
    RoomEncryptedMedia,
    RoomMemberEvent,
    RoomMessageFile,
    RoomMessageImage,
    RoomMessageMedia,
    RoomMessageText,
)
from nio.crypto.attachments import decrypt_attachment
from nio.exceptions import EncryptionError

from bot.events import (
    BotAddedToChat,
    BotRemovedFromChat,
    CommandIssued,
    Event,
    JoinRequested,
    MemberJoined,
    MemberLeft,
    MessagePosted,
    PhotoPosted,
    ReactionAdded,
)
from bot.model import ChatRef, Platform, UserRef
from bot.ports import PermanentError


@dataclass(frozen=True, slots=True)
class InviteReceived:
    """The bot was invited into a room; the adapter joins, and reports BotAddedToChat then."""

    room_id: str
    inviter: UserRef
    is_direct: bool = False


Translated = Event | InviteReceived | None
Download = Callable[[str], Awaitable[bytes]]

# `!word args` (Matrix) and `/word args` (clients that pass unknown slash commands through).
_COMMAND_RE = re.compile(r"^[!/]([A-Za-z][A-Za-z0-9_]{0,31})(?:@\S*)?(?:\s+(.*))?$", re.DOTALL)
_GONE = ("leave", "ban")
_MEDIA = (RoomMessageImage, RoomMessageFile, RoomEncryptedImage, RoomEncryptedFile)


def parse_command(text: str) -> tuple[str, str] | None:
    """`("help", "args")` for `!help args` or `/help args`; None for ordinary text."""
    match = _COMMAND_RE.match(text.strip())
    if match is None:
        return None
    return match.group(1).lower(), (match.group(2) or "").strip()


def strip_reply_fallback(body: str) -> str:
    """Drop the `> <@user> quoted` lines older clients put in front of a reply's body."""
    if not body.startswith("> "):
        return body
    lines = body.split("\n")
    index = 0
    while index < len(lines) and lines[index].startswith(">"):
        index += 1
    if index < len(lines) and lines[index] == "":
        index += 1
    return "\n".join(lines[index:])


def is_direct_room(room: MatrixRoom, direct_rooms: Collection[str] = ()) -> bool:
    """A private chat: flagged direct (`m.direct`, an `is_direct` invite) or unnamed with two."""
    if room.room_id in direct_rooms:
        return True
    return not room.is_named and room.member_count <= 2


def chat_ref(room: MatrixRoom, direct_rooms: Collection[str] = ()) -> ChatRef:
    """The core's reference to a room."""
    private = is_direct_room(room, direct_rooms)
    title = "" if private else (room.named_room_name() or "")
    return ChatRef(platform=Platform.MATRIX, chat_id=room.room_id, is_private=private, title=title)


def user_ref(room: MatrixRoom | None, user_id: str, display_name: str | None = None) -> UserRef:
    """The core's reference to a Matrix account, with its display name in that room."""
    name = display_name or (room.user_name(user_id) if room is not None else None) or ""
    return UserRef(platform=Platform.MATRIX, user_id=user_id, display_name=name)


def reply_target(content: Mapping[str, Any]) -> str | None:
    """The event id a message replies to (`m.relates_to.m.in_reply_to.event_id`)."""
    relates = content.get("m.relates_to")
    if not isinstance(relates, Mapping):
        return None
    in_reply_to = relates.get("m.in_reply_to")
    if not isinstance(in_reply_to, Mapping):
        return None
    event_id = in_reply_to.get("event_id")
    return event_id if isinstance(event_id, str) else None


def _is_edit(content: Mapping[str, Any]) -> bool:
    relates = content.get("m.relates_to")
    return "m.new_content" in content or (
        isinstance(relates, Mapping) and relates.get("rel_type") == "m.replace"
    )


def _text(event: RoomMessageText, room: MatrixRoom, direct_rooms: Collection[str]) -> Event | None:
    content = event.source.get("content", {})
    if _is_edit(content):
        # Acting on edits would run a command twice; the core sees the original only.
        return None
    reply_to = reply_target(content)
    body = strip_reply_fallback(event.body) if reply_to else event.body
    chat = chat_ref(room, direct_rooms)
    sender = user_ref(room, event.sender)
    command = parse_command(body)
    if command is not None:
        name, args = command
        return CommandIssued(chat, sender, name, args, event.event_id)
    return MessagePosted(chat, sender, body, event.event_id, reply_to=reply_to)


def caption(content: Mapping[str, Any]) -> str:
    """The text sent with an image: its `body` when a separate `filename` is given (MSC2530);
    without one, clients put the file's name in `body`, which is no caption."""
    body, name = content.get("body"), content.get("filename")
    if not isinstance(body, str) or not isinstance(name, str) or body == name:
        return ""
    return body


def _photo(
    event: RoomMessageMedia | RoomEncryptedMedia,
    room: MatrixRoom,
    direct_rooms: Collection[str],
    download: Download,
) -> PhotoPosted | None:
    """An image (or any file: a non-image is refused by the core, with a reason); the bytes
    are downloaded, and decrypted in an encrypted room, only when the core asks for them."""
    content = event.source.get("content", {})
    if _is_edit(content):
        return None
    info = content.get("info")
    info = info if isinstance(info, Mapping) else {}
    size, mime = info.get("size"), info.get("mimetype")
    url = event.url

    if isinstance(event, RoomEncryptedMedia):
        key, digest, iv = event.key.get("k"), event.hashes.get("sha256"), event.iv
        mime = mime or event.mimetype

        async def fetch() -> bytes:
            ciphertext = await download(url)
            try:
                return await asyncio.to_thread(decrypt_attachment, ciphertext, key, digest, iv)
            except (EncryptionError, ValueError, TypeError) as exc:
                # A wrong hash or key: the attachment is damaged or not what was announced.
                raise PermanentError("attachment_damaged") from exc

    else:

        async def fetch() -> bytes:
            return await download(url)

    caption_text = caption(content)
    return PhotoPosted(
        chat=chat_ref(room, direct_rooms),
        sender=user_ref(room, event.sender),
        caption=strip_reply_fallback(caption_text) if reply_target(content) else caption_text,
        message_id=event.event_id,
        fetch=fetch,
        size=size if isinstance(size, int) and size > 0 else 0,
        mime=mime if isinstance(mime, str) else "",
    )


def _display_name(*contents: Mapping[str, Any] | None) -> str | None:
    for content in contents:
        if content and isinstance(content.get("displayname"), str):
            return str(content["displayname"])
    return None


def _membership(
    event: RoomMemberEvent, room: MatrixRoom, bot_user_id: str, direct_rooms: Collection[str]
) -> Translated:
    now, before = event.membership, event.prev_membership
    chat = chat_ref(room, direct_rooms)
    if event.state_key == bot_user_id:
        if now == "invite":
            return InviteReceived(
                room.room_id,
                user_ref(room, event.sender),
                bool(event.content.get("is_direct")),
            )
        if now == "join" and before == "invite":
            return None if chat.is_private else BotAddedToChat(chat)
        if now in _GONE and before not in ("invite", "knock", "leave", "ban"):
            return BotRemovedFromChat(chat)
        return None
    user = user_ref(room, event.state_key, _display_name(event.content, event.prev_content))
    if now == "knock":
        return JoinRequested(chat, user)
    if now == "join" and before != "join":
        return MemberJoined(chat, user)
    if now in _GONE and before in ("join", None):
        return MemberLeft(chat, user)
    return None


def translate(
    event: NioEvent | InviteEvent,
    room: MatrixRoom,
    bot_user_id: str,
    direct_rooms: Collection[str] = (),
    download: Download | None = None,
) -> Translated:
    """One synced event of `room` as at most one core event (or an invite to accept); images
    and files become photos only when `download` can fetch them."""
    if isinstance(event, InviteMemberEvent):
        if event.state_key == bot_user_id and event.membership == "invite":
            return InviteReceived(
                room.room_id, user_ref(room, event.sender), bool(event.content.get("is_direct"))
            )
        return None
    if isinstance(event, RoomMemberEvent):
        return _membership(event, room, bot_user_id, direct_rooms)
    if getattr(event, "sender", None) == bot_user_id:
        return None
    if isinstance(event, RoomMessageText):
        return _text(event, room, direct_rooms)
    if isinstance(event, _MEDIA) and download is not None:
        return _photo(event, room, direct_rooms, download)
    if isinstance(event, ReactionEvent):
        return ReactionAdded(
            chat_ref(room, direct_rooms),
            user_ref(room, event.sender),
            event.reacts_to,
            event.key,
        )
    return None


def parse_event(source: Mapping[str, Any]) -> NioEvent | InviteEvent:
    """A nio event from raw JSON: a timeline event, a decrypted one (an attachment with its
    key, as nio hands it over after decrypting), or a stripped invite-state event."""
    data = dict(source)
    if "event_id" not in data:
        return InviteEvent.parse_event(data)
    content = data.get("content")
    if data.get("type") == "m.room.message" and isinstance(content, Mapping) and "file" in content:
        return NioEvent.parse_decrypted_event(data)
    return NioEvent.parse_event(data)


def translate_raw(
    source: Mapping[str, Any],
    room: MatrixRoom,
    bot_user_id: str,
    direct_rooms: Collection[str] = (),
    download: Download | None = None,
) -> Translated:
    """`translate` for an event given as JSON (recorded, or from `/messages`)."""
    return translate(parse_event(source), room, bot_user_id, direct_rooms, download)
