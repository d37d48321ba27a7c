"""The Bot API methods the fake server answers, with Telegram's own error descriptions."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from tests.telegram.botapi_html import EntityError, parse_html, utf16_len
from tests.telegram.botapi_members import MemberMethods
from tests.telegram.botapi_params import Params
from tests.telegram.botapi_state import (
    JSON,
    RESTRICTED,
    ApiError,
    bad_request,
)

Method = Callable[[JSON], Awaitable[Any]]
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")


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


class Methods(MemberMethods):
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
        """The bot's own account."""
        return self.bot.json() | {
            "can_join_groups": True,
            "can_read_all_group_messages": not self.privacy_mode,
            "supports_inline_queries": False,
        }

    async def m_getUpdates(self, p: JSON) -> list[JSON]:
        """Long-poll for updates from `offset`, remembering `allowed_updates`."""
        q = Params(p)
        self.updates.set_allowed(q.json("allowed_updates"))
        timeout = float(q.get("timeout", 0))
        return await self.updates.get(q.int("offset", 0) or 0, q.int("limit", 100) or 100, timeout)

    async def m_setWebhook(self, p: JSON) -> bool:
        """Push updates to a loopback URL from now on (an empty URL removes it)."""
        q = Params(p)
        if q.bool("drop_pending_updates"):
            self.updates.pending.clear()
        self.updates.set_allowed(q.json("allowed_updates"))
        self.updates.set_webhook(
            q.get("url", ""), q.get("secret_token"), q.int("max_connections", 40) or 40
        )
        return True

    async def m_deleteWebhook(self, p: JSON) -> bool:
        """Stop pushing; getUpdates works again."""
        self.updates.delete_webhook(Params(p).bool("drop_pending_updates"))
        return True

    async def m_getWebhookInfo(self, p: JSON) -> JSON:
        """The webhook and the number of pending updates."""
        return self.updates.info()

    async def m_setMyCommands(self, p: JSON) -> bool:
        """Set the command menu for one scope and language."""
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
        """The command menu of one scope and language."""
        q = Params(p)
        scope = (q.json("scope") or {}).get("type", "default")
        return self.commands.get((scope, q.get("language_code", "")), [])

    async def m_deleteMyCommands(self, p: JSON) -> bool:
        """Remove the command menu of one scope and language."""
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
        """Post a text (HTML or plain) with an optional keyboard and reply."""
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
        """Replace the text and keyboard of a message the bot posted."""
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
        """Delete a message (the bot's own, or any with can_delete_messages)."""
        q = Params(p)
        chat = self.chat_for_bot(q.required("chat_id"))
        message = self.message(chat, q.required("message_id"), "message to delete not found")
        if message.sender is not self.bot and chat.is_group:
            self.require(chat, "can_delete_messages", "message can't be deleted")
        message.deleted = True
        message.pinned = False
        return True

    async def m_pinChatMessage(self, p: JSON) -> bool:
        """Pin a message (needs can_pin_messages in groups)."""
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
        """Unpin one message, or the latest ones."""
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
        """Answer a button press, once."""
        q = Params(p)
        query = self.callback_queries.get(str(q.required("callback_query_id")))
        if query is None or query["answer"] is not None:
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        query["answer"] = {"text": q.get("text"), "show_alert": q.bool("show_alert")}
        return True
