"""What people do on Telegram, as the fake Bot API's test helpers: each changes the world the
way Telegram would and queues the updates the bot would receive."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from tests.telegram.botapi_state import (
    ADMIN,
    BOT_ADMIN_RIGHTS,
    JSON,
    KICKED,
    LEFT,
    MEMBER,
    OWNER,
    FakeChat,
    FakeMember,
    FakeMessage,
    FakeUser,
)
from tests.telegram.botapi_world import DM_WINDOW, World

ChatLike = FakeChat | int
MessageLike = FakeMessage | int


class Injections(World):
    """Test helpers that set up the world and make people act in it."""

    def _chat(self, chat: ChatLike) -> FakeChat:
        return chat if isinstance(chat, FakeChat) else self.chats[int(chat)]

    # -- setting up ----------------------------------------------------------------------

    def add_user(
        self,
        first_name: str,
        last_name: str | None = None,
        *,
        username: str | None = None,
        language_code: str | None = "nl",
        is_bot: bool = False,
        started: bool = True,
    ) -> FakeUser:
        """A new account; `started=False` for one that never opened a chat with the bot."""
        user = FakeUser(
            id=self.new_user_id(),
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
            is_bot=is_bot,
            started=started,
        )
        self.users[user.id] = user
        return user

    def add_group(
        self,
        title: str,
        *,
        supergroup: bool = True,
        owner: FakeUser | None = None,
        members: Iterable[FakeUser] = (),
        bot_status: str = ADMIN,
        bot_rights: dict[str, bool] | None = None,
    ) -> FakeChat:
        """A group as it already is (no updates): the owner, members, and the bot's standing."""
        chat = FakeChat(
            id=self.new_chat_id(supergroup),
            type="supergroup" if supergroup else "group",
            title=title,
        )
        self.chats[chat.id] = chat
        if owner is not None:
            chat.members[owner.id] = FakeMember(user=owner, status=OWNER)
        for user in members:
            chat.members[user.id] = FakeMember(user=user, status=MEMBER)
        rights = BOT_ADMIN_RIGHTS | (bot_rights or {}) if bot_status == ADMIN else {}
        chat.members[self.bot.id] = FakeMember(user=self.bot, status=bot_status, rights=rights)
        return chat

    def set_bot_rights(self, chat: ChatLike, **rights: bool) -> None:
        """Change the bot's administrator rights quietly (no update): can_pin_messages=False."""
        member = self._chat(chat).members[self.bot.id]
        member.rights.update(rights)

    def forbid(
        self, chat: ChatLike, description: str = "Forbidden: bot was kicked from the group chat"
    ) -> None:
        """Make every call about `chat` answer 403 with `description`."""
        self._chat(chat).forbidden = description

    def push_update(self, kind: str, payload: JSON) -> JSON | None:
        """Queue a raw update of `kind` (dropped if the bot did not ask for that type)."""
        return self.updates.push(kind, payload)

    # -- people acting -------------------------------------------------------------------

    def user_writes(
        self,
        user: FakeUser,
        text: str,
        chat: ChatLike | None = None,
        *,
        reply_to: MessageLike | None = None,
    ) -> FakeMessage:
        """`user` writes `text` in a group, or to the bot in private when `chat` is None."""
        target = self.private_chat(user) if chat is None else self._chat(chat)
        if target.user is not None:
            user.started = True
        elif not target.member(user).present:
            raise AssertionError("the user is not in that group")
        entities: list[JSON] = []
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            entities.append({"type": "bot_command", "offset": 0, "length": len(command)})
        reply_id = reply_to.message_id if isinstance(reply_to, FakeMessage) else reply_to
        message = target.new_message(user, text=text, entities=entities, reply_to=reply_id)
        if self._delivers(target, message):
            self.updates.push("message", target.message_json(message))
        return message

    def _delivers(self, chat: FakeChat, message: FakeMessage) -> bool:
        """Whether the bot gets this message (group privacy mode hides ordinary talk)."""
        if not self.bot_sees(chat):
            return False
        if chat.user is not None or not self.privacy_mode:
            return True
        if chat.member(self.bot).status in (ADMIN, OWNER) or message.text.startswith("/"):
            return True
        replied = chat.messages.get(message.reply_to or 0)
        return replied is not None and replied.sender is self.bot

    def press_button(self, user: FakeUser, message: FakeMessage, data: str | None = None) -> str:
        """`user` taps a button under `message`; returns the callback query id.

        The first button's data is sent unless `data` is given, which may be data no button
        carries, as a modified client can send."""
        if data is None:
            data = message.buttons[0][0][1]
        chat = self.chats[message.chat_id]
        query_id = self.new_query_id()
        self.callback_queries[query_id] = {
            "user_id": user.id,
            "chat_id": chat.id,
            "message_id": message.message_id,
            "data": data,
            "answer": None,
        }
        self.updates.push(
            "callback_query",
            {
                "id": query_id,
                "from": user.json(),
                "message": chat.message_json(message),
                "chat_instance": str(abs(chat.id) * 7 + 3),
                "data": data,
            },
        )
        return query_id

    def request_join(self, user: FakeUser, chat: ChatLike, *, bio: str | None = None) -> JSON:
        """`user` asks to join through an invite link that needs approval."""
        group = self._chat(chat)
        links = [link for link in group.invite_links if link["creates_join_request"]]
        request: JSON = {
            "chat": group.json(),
            "from": user.json(),
            "user_chat_id": user.id,
            "date": int(time.time()),
        }
        if bio:
            request["bio"] = bio
        if links:
            request["invite_link"] = links[-1]
        group.join_requests[user.id] = request
        user.dm_until = self.clock() + DM_WINDOW
        self.updates.push("chat_join_request", request)
        return request

    def member_joins(self, chat: ChatLike, user: FakeUser) -> None:
        """`user` joins the group (through a link that needs no approval)."""
        self.change_member(self._chat(chat), user, MEMBER, by=user)

    def member_leaves(self, chat: ChatLike, user: FakeUser) -> None:
        """`user` leaves the group."""
        self.change_member(self._chat(chat), user, LEFT, by=user)

    def kick_member(self, chat: ChatLike, user: FakeUser, by: FakeUser) -> None:
        """An administrator `by` removes `user` from the group."""
        self.change_member(self._chat(chat), user, KICKED, by=by)

    def add_bot(
        self, chat: ChatLike, by: FakeUser, *, admin: bool = False, **rights: bool
    ) -> None:
        """`by` adds the bot to the group, as a member or directly as an administrator."""
        status = ADMIN if admin else MEMBER
        granted = BOT_ADMIN_RIGHTS | rights if admin else {}
        self.change_member(self._chat(chat), self.bot, status, by=by, rights=granted)

    def remove_bot(self, chat: ChatLike, by: FakeUser, *, ban: bool = True) -> None:
        """`by` removes the bot from the group."""
        self.change_member(self._chat(chat), self.bot, KICKED if ban else LEFT, by=by)

    def promote_bot(self, chat: ChatLike, by: FakeUser, **rights: bool) -> None:
        """`by` makes the bot an administrator (usual rights, overridden by `rights`)."""
        self.change_member(
            self._chat(chat), self.bot, ADMIN, by=by, rights=BOT_ADMIN_RIGHTS | rights
        )

    def demote_bot(self, chat: ChatLike, by: FakeUser) -> None:
        """`by` takes the bot's administrator rights away."""
        self.change_member(self._chat(chat), self.bot, MEMBER, by=by)

    def block_bot(self, user: FakeUser) -> None:
        """`user` blocks the bot: private sends now fail with 403."""
        chat = self.private_chat(user)
        user.blocked = True
        self.updates.push(
            "my_chat_member",
            {
                "chat": chat.json(),
                "from": user.json(),
                "date": int(time.time()),
                "old_chat_member": {"status": MEMBER, "user": self.bot.json()},
                "new_chat_member": {"status": KICKED, "user": self.bot.json(), "until_date": 0},
            },
        )

    def migrate(self, chat: ChatLike, by: FakeUser | None = None) -> FakeChat:
        """A basic group becomes a supergroup with a new id; the old id stops working."""
        old = self._chat(chat)
        new = FakeChat(id=self.new_chat_id(True), type="supergroup", title=old.title)
        new.members = {
            uid: FakeMember(m.user, m.status, dict(m.rights)) for uid, m in old.members.items()
        }
        self.chats[new.id] = new
        actor = by or next((m.user for m in old.members.values() if m.status == OWNER), self.bot)
        self.post(old, actor, service={"migrate_to_chat_id": new.id})
        old.migrated_to = new.id
        self.post(new, actor, service={"migrate_from_chat_id": old.id})
        return new

    # -- reading what people see ---------------------------------------------------------

    def messages(self, chat: ChatLike, *, include_deleted: bool = False) -> list[FakeMessage]:
        """Every message in the chat, oldest first (service messages included)."""
        found = self._chat(chat).messages.values()
        return [m for m in found if include_deleted or not m.deleted]

    def bot_messages(self, chat: ChatLike, *, include_deleted: bool = False) -> list[FakeMessage]:
        """The messages the bot posted in the chat, oldest first."""
        found = self.messages(chat, include_deleted=include_deleted)
        return [
            m for m in found if m.sender is self.bot and (not m.service or "photo" in m.service)
        ]

    def texts(self, chat: ChatLike) -> list[str]:
        """What a member sees of the bot in the chat: the plain text of each live message."""
        return [m.text for m in self.bot_messages(chat)]

    def last_message(self, chat: ChatLike) -> FakeMessage:
        """The bot's latest live message in the chat."""
        return self.bot_messages(chat)[-1]

    def pinned(self, chat: ChatLike) -> list[FakeMessage]:
        """The messages pinned in the chat."""
        return [m for m in self.messages(chat) if m.pinned]

    def member_status(self, chat: ChatLike, user: FakeUser) -> str:
        """A user's status in a group ("member", "left", "kicked", ...)."""
        return self._chat(chat).member(user).status

    def answer_of(self, query_id: str) -> dict[str, Any] | None:
        """How the bot answered a button press (None while unanswered)."""
        answer: dict[str, Any] | None = self.callback_queries[query_id]["answer"]
        return answer

    def menu(self, language_code: str = "", scope: str = "default") -> list[tuple[str, str]]:
        """The command menu set for one language ("" for the fallback) as (name, description)."""
        entries = self.commands.get((scope, language_code), [])
        return [(c["command"], c["description"]) for c in entries]
