"""The Bot API methods the fake server answers, with Telegram's own error descriptions."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from tests.telegram.botapi_html import EntityError, parse_html, utf16_len
from tests.telegram.botapi_state import (
    ADMIN,
    JSON,
    KICKED,
    LEFT,
    MEMBER,
    OWNER,
    RESTRICTED,
    ApiError,
    FakeChat,
    bad_request,
)
from tests.telegram.botapi_world import World

Method = Callable[[JSON], Awaitable[Any]]
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")


class Params:
    """A request's parameters, typed the way the Bot API reads them (form values are strings,
    nested objects are JSON-serialized)."""

    def __init__(self, raw: JSON) -> None:
        self.raw = raw

    def get(self, name: str, default: Any = None) -> Any:
        """The raw value, or `default` when absent or empty."""
        value = self.raw.get(name)
        return default if value is None or value == "" else value

    def required(self, name: str, description: str | None = None) -> Any:
        """The raw value, or 400 "<name> is empty"."""
        value = self.get(name)
        if value is None:
            raise bad_request(description or f"{name} is empty")
        return value

    def int(self, name: str, default: int | None = None) -> int | None:
        """An integer parameter."""
        value = self.get(name)
        if value is None:
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            raise bad_request(f"invalid {name} specified") from None

    def bool(self, name: str, default: bool = False) -> bool:
        """A boolean parameter ("true"/"false" in forms, true/false in JSON)."""
        value = self.get(name)
        if value is None:
            return default
        if isinstance(value, str):
            return value.lower() in ("true", "1")
        return bool(value)

    def json(self, name: str) -> Any:
        """A JSON-serialized object or array parameter."""
        value = self.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise bad_request(f"can't parse {name} JSON object") from None
        return value


def _check_keyboard(markup: Any) -> JSON | None:
    if not markup:
        return None
    rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
    if not isinstance(rows, list):
        raise bad_request("can't parse inline keyboard button: InlineKeyboardButton expected")
    for row in rows:
        for button in row:
            data = button.get("callback_data")
            if not button.get("text"):
                raise bad_request("BUTTON_TEXT_EMPTY")
            if data is not None and not 1 <= len(str(data).encode("utf-8")) <= 64:
                raise bad_request("BUTTON_DATA_INVALID")
    return {"inline_keyboard": rows}


class Methods(World):
    """Each `m_<name>` is the Bot API method `<name>` (case-insensitive)."""

    def method(self, name: str) -> Method | None:
        """The handler for a Bot API method name, or None."""
        table: dict[str, Method] | None = getattr(self, "_method_table", None)
        if table is None:
            table = {
                attr[2:].lower(): getattr(self, attr)
                for attr in dir(self)
                if attr.startswith("m_")
            }
            self._method_table = table
        return table.get(name.lower())

    # -- the bot and its updates ---------------------------------------------------------

    async def m_getMe(self, p: JSON) -> JSON:
        return self.bot.json() | {
            "can_join_groups": True,
            "can_read_all_group_messages": not self.privacy_mode,
            "supports_inline_queries": False,
        }

    async def m_getUpdates(self, p: JSON) -> list[JSON]:
        q = Params(p)
        self.updates.set_allowed(q.json("allowed_updates"))
        timeout = float(q.get("timeout", 0))
        return await self.updates.get(q.int("offset", 0) or 0, q.int("limit", 100) or 100, timeout)

    async def m_setWebhook(self, p: JSON) -> bool:
        q = Params(p)
        if q.bool("drop_pending_updates"):
            self.updates.pending.clear()
        self.updates.set_allowed(q.json("allowed_updates"))
        self.updates.set_webhook(
            q.get("url", ""), q.get("secret_token"), q.int("max_connections", 40) or 40
        )
        return True

    async def m_deleteWebhook(self, p: JSON) -> bool:
        self.updates.delete_webhook(Params(p).bool("drop_pending_updates"))
        return True

    async def m_getWebhookInfo(self, p: JSON) -> JSON:
        return self.updates.info()

    async def m_setMyCommands(self, p: JSON) -> bool:
        q = Params(p)
        commands = q.json("commands")
        if not isinstance(commands, list):
            raise bad_request("commands is empty")
        for command in commands:
            if not _COMMAND_RE.match(str(command.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise bad_request("command description must be non-empty")
        scope = (q.json("scope") or {}).get("type", "default")
        self.commands[(scope, q.get("language_code", ""))] = commands
        return True

    async def m_getMyCommands(self, p: JSON) -> list[JSON]:
        q = Params(p)
        scope = (q.json("scope") or {}).get("type", "default")
        return self.commands.get((scope, q.get("language_code", "")), [])

    async def m_deleteMyCommands(self, p: JSON) -> bool:
        q = Params(p)
        scope = (q.json("scope") or {}).get("type", "default")
        self.commands.pop((scope, q.get("language_code", "")), None)
        return True

    # -- messages ------------------------------------------------------------------------

    def _text(self, q: Params) -> tuple[str, list[JSON], str]:
        raw = str(q.required("text", "message text is empty"))
        mode = str(q.get("parse_mode", "")).lower()
        if mode == "html":
            try:
                text, entities = parse_html(raw)
            except EntityError as exc:
                raise bad_request(f"can't parse entities: {exc}") from None
        elif mode:
            raise bad_request(f"unsupported parse_mode {mode!r} in the fake server")
        else:
            text, entities = raw, q.json("entities") or []
        if not text.strip():
            raise bad_request("message text is empty")
        if utf16_len(text) > 4096:
            raise bad_request("message is too long")
        return text, entities, raw

    async def m_sendMessage(self, p: JSON) -> JSON:
        q = Params(p)
        chat = self.chat_for_bot(q.required("chat_id"))
        if chat.user is not None and not self.may_write_first(chat.user):
            raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        me = chat.member(self.bot)
        if chat.is_group and me.status == RESTRICTED and not me.can_send_messages:
            raise bad_request("not enough rights to send text messages to the chat")
        text, entities, raw = self._text(q)
        markup = _check_keyboard(q.json("reply_markup"))
        reply = q.json("reply_parameters") or {}
        reply_to = reply.get("message_id") or q.int("reply_to_message_id")
        allow_without = reply.get(
            "allow_sending_without_reply", q.bool("allow_sending_without_reply")
        )
        if reply_to is not None:
            target = chat.messages.get(int(reply_to))
            if target is None or target.deleted:
                if not allow_without:
                    raise bad_request("message to be replied not found")
                reply_to = None
        wait = self.flood.admit(chat.id, chat.is_group)
        if wait is not None:
            raise ApiError(429, f"Too Many Requests: retry after {wait}", {"retry_after": wait})
        message = chat.new_message(
            self.bot,
            text=text,
            entities=entities,
            html=raw,
            reply_to=int(reply_to) if reply_to is not None else None,
            reply_markup=markup,
            disable_notification=q.bool("disable_notification"),
        )
        return chat.message_json(message)

    async def m_editMessageText(self, p: JSON) -> JSON:
        q = Params(p)
        if q.get("inline_message_id"):
            raise bad_request("inline messages are not kept by the fake server")
        chat = self.chat_for_bot(q.required("chat_id"))
        message = self.message(chat, q.required("message_id"), "message to edit not found")
        if message.sender is not self.bot:
            raise bad_request("message can't be edited")
        text, entities, raw = self._text(q)
        markup = _check_keyboard(q.json("reply_markup"))
        if (text, entities, markup) == (message.text, message.entities, message.reply_markup):
            raise bad_request(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        message.text, message.entities, message.html = text, entities, raw
        message.reply_markup = markup
        message.edits += 1
        return chat.message_json(message)

    async def m_deleteMessage(self, p: JSON) -> bool:
        q = Params(p)
        chat = self.chat_for_bot(q.required("chat_id"))
        message = self.message(chat, q.required("message_id"), "message to delete not found")
        if message.sender is not self.bot and chat.is_group:
            self.require(chat, "can_delete_messages", "message can't be deleted")
        message.deleted = True
        message.pinned = False
        return True

    async def m_pinChatMessage(self, p: JSON) -> bool:
        q = Params(p)
        chat = self.chat_for_bot(q.required("chat_id"))
        self.require(
            chat, "can_pin_messages", "not enough rights to manage pinned messages in the chat"
        )
        message = self.message(chat, q.required("message_id"), "message to pin not found")
        message.pinned = True
        message.pin_silent = q.bool("disable_notification")
        return True

    async def m_unpinChatMessage(self, p: JSON) -> bool:
        q = Params(p)
        chat = self.chat_for_bot(q.required("chat_id"))
        self.require(
            chat, "can_pin_messages", "not enough rights to manage pinned messages in the chat"
        )
        for message in chat.messages.values():
            if q.get("message_id") is None or message.message_id == q.int("message_id"):
                message.pinned = False
        return True

    async def m_answerCallbackQuery(self, p: JSON) -> bool:
        q = Params(p)
        query = self.callback_queries.get(str(q.required("callback_query_id")))
        if query is None or query["answer"] is not None:
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        query["answer"] = {"text": q.get("text"), "show_alert": q.bool("show_alert")}
        return True

    # -- members and join requests -------------------------------------------------------

    def _group(self, q: Params) -> FakeChat:
        chat = self.chat_for_bot(q.required("chat_id"))
        if not chat.is_group:
            raise bad_request("method is available for group and supergroup chats only")
        return chat

    async def m_approveChatJoinRequest(self, p: JSON) -> bool:
        q = Params(p)
        chat = self._group(q)
        user = self.user(q.required("user_id"))
        self.require(chat, "can_invite_users", "CHAT_ADMIN_REQUIRED")
        if chat.member(user).present:
            raise bad_request("USER_ALREADY_PARTICIPANT")
        if chat.join_requests.pop(user.id, None) is None:
            raise bad_request("HIDE_REQUESTER_MISSING")
        self.change_member(chat, user, MEMBER, by=self.bot, via_join_request=True)
        return True

    async def m_declineChatJoinRequest(self, p: JSON) -> bool:
        q = Params(p)
        chat = self._group(q)
        user = self.user(q.required("user_id"))
        self.require(chat, "can_invite_users", "CHAT_ADMIN_REQUIRED")
        if chat.join_requests.pop(user.id, None) is None:
            raise bad_request("HIDE_REQUESTER_MISSING")
        return True

    async def m_banChatMember(self, p: JSON) -> bool:
        q = Params(p)
        chat = self._group(q)
        user = self.user(q.required("user_id"))
        self.require(
            chat, "can_restrict_members", "not enough rights to restrict/unrestrict chat member"
        )
        status = chat.member(user).status
        if status == OWNER:
            raise bad_request("can't remove chat owner")
        if status == ADMIN:
            raise bad_request("user is an administrator of the chat")
        if status != KICKED:
            self.change_member(chat, user, KICKED, by=self.bot)
        return True

    async def m_unbanChatMember(self, p: JSON) -> bool:
        q = Params(p)
        chat = self._group(q)
        user = self.user(q.required("user_id"))
        self.require(
            chat, "can_restrict_members", "not enough rights to restrict/unrestrict chat member"
        )
        member = chat.member(user)
        if member.status == KICKED:
            chat.members[user.id].status = LEFT
        elif member.present and not q.bool("only_if_banned"):
            if member.status in (OWNER, ADMIN):
                raise bad_request("user is an administrator of the chat")
            self.change_member(chat, user, LEFT, by=self.bot)
        return True

    async def m_createChatInviteLink(self, p: JSON) -> JSON:
        q = Params(p)
        chat = self._group(q)
        self.require(chat, "can_invite_users", "not enough rights to manage chat invite link")
        name = q.get("name")
        if name is not None and len(str(name)) > 32:
            raise bad_request("invite link name is too long")
        join_request = q.bool("creates_join_request")
        if join_request and q.get("member_limit") is not None:
            raise bad_request(
                "member limit can't be specified for links requiring administrator approval"
            )
        link: JSON = {
            "invite_link": "https://t.me/+" + secrets.token_urlsafe(12),
            "creator": self.bot.json(),
            "creates_join_request": join_request,
            "is_primary": False,
            "is_revoked": False,
        }
        if name is not None:
            link["name"] = name
        chat.invite_links.append(link)
        return link

    async def m_getChatMember(self, p: JSON) -> JSON:
        q = Params(p)
        chat = self.chat_for_bot(q.required("chat_id"))
        user = self.user(q.required("user_id"))
        if chat.user is not None:
            status = MEMBER if user in (chat.user, self.bot) else LEFT
            return {"status": status, "user": user.json()}
        return chat.member(user).json()

    async def m_getChatAdministrators(self, p: JSON) -> list[JSON]:
        chat = self._group(Params(p))
        return [m.json() for m in chat.members.values() if m.status in (OWNER, ADMIN)]

    async def m_getChatMemberCount(self, p: JSON) -> int:
        chat = self.chat_for_bot(Params(p).required("chat_id"))
        return 2 if chat.user is not None else sum(m.present for m in chat.members.values())

    async def m_getChat(self, p: JSON) -> JSON:
        return self.chat_for_bot(Params(p).required("chat_id")).full_json()

    async def m_leaveChat(self, p: JSON) -> bool:
        chat = self._group(Params(p))
        self.change_member(chat, self.bot, LEFT, by=self.bot)
        return True

    async def m_close(self, p: JSON) -> bool:
        return True

    async def m_logOut(self, p: JSON) -> bool:
        return True
