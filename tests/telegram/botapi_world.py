"""The state behind the fake Bot API, and the rules shared by its methods and test helpers:
who may do what in which chat, and which updates a membership change produces."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

from tests.telegram.botapi_flood import FloodControl
from tests.telegram.botapi_state import (
    JSON,
    KICKED,
    LEFT,
    ApiError,
    FakeChat,
    FakeMember,
    FakeMessage,
    FakeUser,
    bad_request,
)
from tests.telegram.botapi_updates import UpdateQueue

DM_WINDOW = 300.0
"""Seconds a join request lets the bot write to the requester first (Bot API: 5 minutes)."""


class World:
    """Users, chats and the bot's own account; shared by the methods and the test helpers."""

    def __init__(self, *, token: str, bot_username: str, clock: Callable[[], float]) -> None:
        self.token = token
        self.clock = clock
        self.bot = FakeUser(
            id=int(token.split(":", 1)[0]),
            first_name="BIN bot",
            username=bot_username,
            is_bot=True,
        )
        self.users: dict[int, FakeUser] = {self.bot.id: self.bot}
        self.chats: dict[int, FakeChat] = {}
        self.updates = UpdateQueue()
        self.flood = FloodControl(clock)
        self.commands: dict[tuple[str, str], list[JSON]] = {}
        self.callback_queries: dict[str, JSON] = {}
        self.privacy_mode = False
        self._user_ids = itertools.count(7_000_001)
        self._group_ids = itertools.count(4_000_001)
        self._supergroup_ids = itertools.count(1_001_234_567)
        self._query_ids = itertools.count(880_000_001)

    # -- identities ----------------------------------------------------------------------

    def new_user_id(self) -> int:
        """A fresh user id."""
        return next(self._user_ids)

    def new_chat_id(self, supergroup: bool) -> int:
        """A fresh group id: -100… for supergroups, a plain negative id for basic groups."""
        if supergroup:
            return -(1_000_000_000_000 + next(self._supergroup_ids))
        return -next(self._group_ids)

    def new_query_id(self) -> str:
        """A fresh callback query id."""
        return str(next(self._query_ids))

    # -- lookups -------------------------------------------------------------------------

    def user(self, raw: Any) -> FakeUser:
        """The user a `user_id` parameter names."""
        try:
            user = self.users.get(int(raw))
        except (TypeError, ValueError):
            raise bad_request("invalid user_id specified") from None
        if user is None:
            raise bad_request("PARTICIPANT_ID_INVALID")
        return user

    def private_chat(self, user: FakeUser) -> FakeChat:
        """The private chat between the bot and `user` (its id is the user's id)."""
        chat = self.chats.get(user.id)
        if chat is None:
            chat = self.chats[user.id] = FakeChat(id=user.id, type="private", user=user)
        return chat

    def find_chat(self, raw: Any) -> FakeChat:
        """The chat a `chat_id` parameter names, whatever the bot's standing in it."""
        if isinstance(raw, str) and raw.startswith("@"):
            for chat in self.chats.values():
                if chat.user is not None and chat.user.username == raw[1:]:
                    return chat
            raise bad_request("chat not found")
        try:
            chat_id = int(raw)
        except (TypeError, ValueError):
            raise bad_request("chat not found") from None
        found = self.chats.get(chat_id)
        if found is not None:
            return found
        user = self.users.get(chat_id)
        if user is None or user.is_bot:
            raise bad_request("chat not found")
        return self.private_chat(user)

    def chat_for_bot(self, raw: Any) -> FakeChat:
        """The chat a `chat_id` names, refusing as Telegram does when the bot is not in it."""
        chat = self.find_chat(raw)
        if chat.migrated_to is not None:
            raise bad_request(
                "group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": chat.migrated_to},
            )
        if chat.forbidden:
            raise ApiError(403, chat.forbidden)
        if chat.user is not None:
            if chat.user.blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            return chat
        me = chat.member(self.bot)
        if me.status == KICKED:
            raise ApiError(403, f"Forbidden: bot was kicked from the {chat.type} chat")
        if not me.present:
            raise ApiError(403, f"Forbidden: bot is not a member of the {chat.type} chat")
        return chat

    def may_write_first(self, user: FakeUser) -> bool:
        """Whether the bot may write to `user` in private (started, or a recent join request)."""
        return user.started or self.clock() < user.dm_until

    def require(self, chat: FakeChat, right: str, description: str) -> None:
        """Refuse with `description` unless the bot holds `right` in a group."""
        if chat.is_group and not chat.member(self.bot).can(right):
            raise bad_request(description)

    def message(self, chat: FakeChat, raw: Any, description: str) -> FakeMessage:
        """The live message a `message_id` names, or `description` as a Bad Request."""
        try:
            message = chat.messages.get(int(raw))
        except (TypeError, ValueError):
            raise bad_request(description) from None
        if message is None or message.deleted:
            raise bad_request(description)
        return message

    # -- updates -------------------------------------------------------------------------

    def bot_sees(self, chat: FakeChat) -> bool:
        """Whether the bot receives updates from `chat` right now."""
        return chat.user is not None or chat.member(self.bot).present

    def post(self, chat: FakeChat, sender: FakeUser | None, **fields: Any) -> FakeMessage:
        """Store a message someone (not the bot) posted, and deliver it when the bot sees it."""
        message = chat.new_message(sender, **fields)
        if self.bot_sees(chat):
            self.updates.push("message", chat.message_json(message))
        return message

    def change_member(
        self,
        chat: FakeChat,
        user: FakeUser,
        status: str,
        *,
        by: FakeUser,
        rights: dict[str, bool] | None = None,
        via_join_request: bool = False,
    ) -> FakeMember:
        """Move `user` to `status` in `chat`, with the updates and service message it causes."""
        old = chat.member(user)
        new = FakeMember(user=user, status=status, rights=dict(rights or {}))
        chat.members[user.id] = new
        payload: JSON = {
            "chat": chat.json(),
            "from": by.json(),
            "date": int(time.time()),
            "old_chat_member": old.json(),
            "new_chat_member": new.json(),
        }
        if via_join_request:
            payload["via_join_request"] = True
        self.updates.push("my_chat_member" if user is self.bot else "chat_member", payload)
        if not old.present and new.present:
            self.post(chat, by, service={"new_chat_members": [user.json()]})
        elif old.present and not new.present and status in (LEFT, KICKED):
            self.post(chat, by, service={"left_chat_member": user.json()})
        return new
