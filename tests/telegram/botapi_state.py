"""The fake Bot API's world: users, chats, members, messages, join requests, invite links.

Each type renders itself as the Bot API JSON that python-telegram-bot parses.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

OWNER, ADMIN, MEMBER, RESTRICTED, LEFT, KICKED = (
    "creator",
    "administrator",
    "member",
    "restricted",
    "left",
    "kicked",
)
ADMIN_RIGHTS: tuple[str, ...] = (
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_pin_messages",
    "can_manage_topics",
)
BOT_ADMIN_RIGHTS: dict[str, bool] = {
    right: right != "can_promote_members" for right in ADMIN_RIGHTS
}
"""What a bot usually gets when a coordinator makes it an administrator."""
_RESTRICTED_FLAGS: tuple[str, ...] = (
    "can_change_info",
    "can_invite_users",
    "can_pin_messages",
    "can_send_messages",
    "can_send_polls",
    "can_send_other_messages",
    "can_add_web_page_previews",
    "can_manage_topics",
    "can_send_audios",
    "can_send_documents",
    "can_send_photos",
    "can_send_videos",
    "can_send_video_notes",
    "can_send_voice_notes",
    "can_edit_tag",
)


class ApiError(Exception):
    """A Bot API error answer: `{"ok": false, "error_code": code, "description": ...}`."""

    def __init__(self, code: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def body(self) -> JSON:
        """The JSON body Telegram answers with."""
        out: JSON = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            out["parameters"] = self.parameters
        return out


def bad_request(description: str, parameters: JSON | None = None) -> ApiError:
    """A 400 answer with Telegram's "Bad Request: " prefix."""
    return ApiError(400, "Bad Request: " + description, parameters)


@dataclass
class FakeUser:
    """A Telegram account. `started` means it has a private chat with the bot."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_bot: bool = False
    started: bool = True
    blocked: bool = False
    dm_until: float = 0.0  # a join request lets the bot write first until then (monotonic)

    @property
    def full_name(self) -> str:
        """First and last name, as clients show them."""
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    def json(self) -> JSON:
        """The Bot API `User` object."""
        out: JSON = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        if self.last_name:
            out["last_name"] = self.last_name
        if self.username:
            out["username"] = self.username
        if self.language_code and not self.is_bot:
            out["language_code"] = self.language_code
        return out


@dataclass
class FakeMember:
    """One user's standing in one group."""

    user: FakeUser
    status: str = MEMBER
    rights: dict[str, bool] = field(default_factory=dict)
    is_member: bool = True  # for "restricted" only
    can_send_messages: bool = True  # for "restricted" only

    @property
    def present(self) -> bool:
        """Whether the user is in the chat right now."""
        if self.status == RESTRICTED:
            return self.is_member
        return self.status in (OWNER, ADMIN, MEMBER)

    def can(self, right: str) -> bool:
        """Whether this member holds an administrator right (owners hold them all)."""
        return self.status == OWNER or (self.status == ADMIN and self.rights.get(right, False))

    def json(self) -> JSON:
        """The Bot API `ChatMember` object."""
        out: JSON = {"status": self.status, "user": self.user.json()}
        if self.status == OWNER:
            out["is_anonymous"] = False
        elif self.status == ADMIN:
            out |= {"can_be_edited": False, "is_anonymous": False}
            out |= {right: self.rights.get(right, False) for right in ADMIN_RIGHTS}
        elif self.status == RESTRICTED:
            out |= {flag: False for flag in _RESTRICTED_FLAGS}
            out |= {"is_member": self.is_member, "until_date": 0}
            out["can_send_messages"] = self.can_send_messages
        elif self.status == KICKED:
            out["until_date"] = 0
        return out


@dataclass
class FakeMessage:
    """A message in a chat, as the fake server keeps it (also after deletion)."""

    message_id: int
    chat_id: int
    sender: FakeUser | None
    text: str = ""
    entities: list[JSON] = field(default_factory=list)
    html: str | None = None  # exactly what the bot sent, before parsing
    reply_to: int | None = None
    reply_markup: JSON | None = None
    disable_notification: bool = False
    pinned: bool = False
    pin_silent: bool = False
    deleted: bool = False
    edits: int = 0
    service: JSON = field(default_factory=dict)  # new_chat_members, left_chat_member, ...
    date: int = field(default_factory=lambda: int(time.time()))

    @property
    def edited(self) -> bool:
        """Whether the text or buttons were changed after sending."""
        return self.edits > 0

    @property
    def buttons(self) -> list[list[tuple[str, str]]]:
        """The inline keyboard as rows of (label, callback data)."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [[(b.get("text", ""), b.get("callback_data", "")) for b in row] for row in rows]

    def styled(self, kind: str) -> list[str]:
        """The pieces of text carrying one entity type ("bold", "code", ...)."""
        raw = self.text.encode("utf-16-le")
        return [
            raw[2 * e["offset"] : 2 * (e["offset"] + e["length"])].decode("utf-16-le")
            for e in self.entities
            if e["type"] == kind
        ]


@dataclass
class FakeChat:
    """A private chat, a basic group or a supergroup."""

    id: int
    type: str
    title: str = ""
    user: FakeUser | None = None  # the other side of a private chat
    members: dict[int, FakeMember] = field(default_factory=dict)
    messages: dict[int, FakeMessage] = field(default_factory=dict)
    join_requests: dict[int, JSON] = field(default_factory=dict)
    invite_links: list[JSON] = field(default_factory=list)
    migrated_to: int | None = None
    forbidden: str | None = None  # a 403 description every call about this chat gets
    next_message_id: int = 1

    @property
    def is_group(self) -> bool:
        """Whether this is a group or supergroup (not a private chat)."""
        return self.type in ("group", "supergroup")

    def json(self) -> JSON:
        """The Bot API `Chat` object."""
        out: JSON = {"id": self.id, "type": self.type}
        if self.user is not None:
            out["first_name"] = self.user.first_name
            if self.user.last_name:
                out["last_name"] = self.user.last_name
            if self.user.username:
                out["username"] = self.user.username
        else:
            out["title"] = self.title
        return out

    def full_json(self) -> JSON:
        """The Bot API `ChatFullInfo` object (getChat)."""
        return self.json() | {
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
            },
        }

    def member(self, user: FakeUser) -> FakeMember:
        """The user's membership, "left" when they never were in the chat."""
        return self.members.get(user.id) or FakeMember(user=user, status=LEFT)

    def new_message(self, sender: FakeUser | None, **fields: Any) -> FakeMessage:
        """Store and return a new message with the chat's next id."""
        message = FakeMessage(self.next_message_id, self.id, sender, **fields)
        self.messages[message.message_id] = message
        self.next_message_id += 1
        return message

    def message_json(self, message: FakeMessage, *, with_reply: bool = True) -> JSON:
        """The Bot API `Message` object for a message of this chat."""
        out: JSON = {"message_id": message.message_id, "date": message.date, "chat": self.json()}
        if message.sender is not None:
            out["from"] = message.sender.json()
        if message.text:
            out["text"] = message.text
        if message.entities:
            out["entities"] = message.entities
        if message.reply_markup:
            out["reply_markup"] = message.reply_markup
        if message.edits:
            out["edit_date"] = int(time.time())
        if with_reply and message.reply_to is not None and message.reply_to in self.messages:
            out["reply_to_message"] = self.message_json(
                self.messages[message.reply_to], with_reply=False
            )
        out |= message.service
        return out
