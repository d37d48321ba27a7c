"""Pure translation of one python-telegram-bot `Update` into at most one core event.

Nothing here talks to the network: `translate` only reads the update and the bot's own
identity, so it is tested from recorded Bot API JSON (STYLE 2).

Identity notes:
- `ChatRef.chat_id` and `UserRef.user_id` are the decimal Telegram ids as strings.
- A private chat's id equals the user's id, so `send_direct(user_id)` reaches a person. The same
  holds for a join request: its `user_chat_id` is the requester's private chat, and Telegram lets
  the bot write there for 5 minutes after the request even if the person never started the bot.
  `JoinRequested.user.user_id` is therefore usable with `send_direct` right away.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from telegram import (
    Chat,
    ChatMember,
    ChatMemberUpdated,
    Document,
    Message,
    PhotoSize,
    Update,
    User,
)
from telegram.constants import ChatMemberStatus, ChatType

from adapters.telegram.errors import call
from bot.events import (
    BotAddedToChat,
    BotRemovedFromChat,
    BotRightsChanged,
    ButtonPressed,
    ChatMigrated,
    CommandIssued,
    Event,
    JoinRequested,
    MemberJoined,
    MemberLeft,
    MessagePosted,
    PhotoPosted,
)
from bot.model import LANGUAGES, ChatRef, Platform, UserRef

# Telegram only marks `/name` as a bot command when the name has this shape.
_COMMAND_RE = re.compile(r"/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]{1,64}))?(?:\s+(.*))?", re.DOTALL)
_GROUP_TYPES = frozenset({ChatType.GROUP, ChatType.SUPERGROUP})


@dataclass(frozen=True, slots=True)
class BotIdentity:
    """Who the bot is on Telegram (from getMe): needed to tell its own commands and joins apart."""

    user_id: int
    username: str


def chat_ref(chat: Chat) -> ChatRef:
    """The core's reference to a Telegram chat."""
    is_private = chat.type == ChatType.PRIVATE
    return ChatRef(
        platform=Platform.TELEGRAM,
        chat_id=str(chat.id),
        is_private=is_private,
        title="" if is_private else (chat.title or ""),
    )


def user_ref(user: User) -> UserRef:
    """The core's reference to a Telegram account."""
    code = (user.language_code or "")[:2].lower()
    return UserRef(
        platform=Platform.TELEGRAM,
        user_id=str(user.id),
        display_name=user.full_name,
        language_hint=code if code in LANGUAGES else None,
        is_bot=user.is_bot,
    )


def translate(update: Update, me: BotIdentity) -> Event | None:
    """Turn one update into the core event it means, or None when the core need not know."""
    if update.message is not None:
        return _from_message(update.message, me)
    if update.callback_query is not None:
        query = update.callback_query
        message = query.message
        if message is None or query.data is None:
            return None  # inline-mode or game buttons: binbot never posts those
        return ButtonPressed(
            chat=chat_ref(message.chat),
            sender=user_ref(query.from_user),
            data=query.data,
            message_id=str(message.message_id),
        )
    if update.chat_join_request is not None:
        request = update.chat_join_request
        return JoinRequested(chat=chat_ref(request.chat), user=user_ref(request.from_user))
    if update.my_chat_member is not None:
        return _bot_membership(update.my_chat_member)
    if update.chat_member is not None:
        return _membership(update.chat_member, me)
    return None


def _from_message(message: Message, me: BotIdentity) -> Event | None:
    chat = chat_ref(message.chat)
    if message.migrate_to_chat_id is not None:
        return ChatMigrated(chat=chat, new_chat_id=str(message.migrate_to_chat_id))
    sender = message.from_user
    if sender is None:
        return None  # channel posts carry no person
    if message.new_chat_members:
        # One event per update: when several people are added at once the first is reported;
        # the chat_member updates (bot is admin) report each of them.
        for user in message.new_chat_members:
            if user.id != me.user_id:
                return MemberJoined(chat=chat, user=user_ref(user))
        return None  # the bot itself: my_chat_member reports that
    if message.left_chat_member is not None:
        if message.left_chat_member.id == me.user_id:
            return None
        return MemberLeft(chat=chat, user=user_ref(message.left_chat_member))
    if message.text is None:
        return _photo(message, chat, sender)
    message_id = str(message.message_id)
    match = _COMMAND_RE.fullmatch(message.text)
    if match is not None:
        name, addressee, args = match.groups()
        if addressee is not None and addressee.lower() != me.username.lower():
            return None  # "/help@otherbot" in a group is for another bot
        return CommandIssued(
            chat=chat,
            sender=user_ref(sender),
            name=name.lower(),
            args=(args or "").strip(),
            message_id=message_id,
        )
    reply = message.reply_to_message
    return MessagePosted(
        chat=chat,
        sender=user_ref(sender),
        text=message.text,
        message_id=message_id,
        reply_to=str(reply.message_id) if reply is not None else None,
    )


def _photo(message: Message, chat: ChatRef, sender: User) -> PhotoPosted | None:
    """A photo, or an image sent as a file (which keeps its full size): the largest size is
    downloaded through the bot only when the core asks for it."""
    doc = message.document
    if message.photo:
        item: PhotoSize | Document = message.photo[-1]
        mime = "image/jpeg"
    elif doc is not None:  # any file: a non-image is refused by the core, with a reason
        item, mime = doc, doc.mime_type or ""
    else:
        return None
    bot = message.get_bot()
    file_id = item.file_id

    async def fetch() -> bytes:
        file = await call(bot.get_file(file_id))
        return bytes(await call(file.download_as_bytearray()))

    return PhotoPosted(
        chat=chat,
        sender=user_ref(sender),
        caption=message.caption or "",
        message_id=str(message.message_id),
        fetch=fetch,
        size=item.file_size or 0,
        mime=mime,
    )


def _is_member(member: ChatMember) -> bool:
    status = member.status
    if status == ChatMemberStatus.RESTRICTED:
        return bool(getattr(member, "is_member", False))
    return status in (
        ChatMemberStatus.MEMBER,
        ChatMemberStatus.ADMINISTRATOR,
        ChatMemberStatus.OWNER,
    )


def _is_admin(member: ChatMember) -> bool:
    return member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)


def _bot_membership(change: ChatMemberUpdated) -> Event | None:
    """The bot's own membership changed: added, removed, promoted or demoted.

    Private chats are skipped (a person blocking the bot surfaces as BotRemoved on the next
    send), and so are channels, which binbot does not serve.
    """
    if change.chat.type not in _GROUP_TYPES:
        return None
    chat = chat_ref(change.chat)
    old, new = change.old_chat_member, change.new_chat_member
    was, now = _is_member(old), _is_member(new)
    if not was and now:
        return BotAddedToChat(chat=chat, by=user_ref(change.from_user))
    if was and not now:
        return BotRemovedFromChat(chat=chat)
    if now and (_is_admin(old) or _is_admin(new)):
        # member <-> administrator, or an administrator whose rights were edited: either way
        # the core re-checks what the bot may do.
        return BotRightsChanged(chat=chat, is_admin=_is_admin(new))
    return None


def _membership(change: ChatMemberUpdated, me: BotIdentity) -> Event | None:
    """Someone else's membership changed (delivered only when the bot is an administrator).

    The same join or leave may also arrive as a service message (new_chat_members,
    left_chat_member); the core treats MemberJoined/MemberLeft as idempotent.
    """
    user = change.new_chat_member.user
    if user.id == me.user_id:
        return None
    was, now = _is_member(change.old_chat_member), _is_member(change.new_chat_member)
    chat = chat_ref(change.chat)
    if was and not now:
        return MemberLeft(chat=chat, user=user_ref(user))
    if not was and now:
        return MemberJoined(chat=chat, user=user_ref(user))
    return None
