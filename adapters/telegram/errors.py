"""Mapping python-telegram-bot exceptions onto the core's PlatformError family.

Reasons are short slugs derived from Telegram's description; Telegram's descriptions name
no person, and nothing from the request (text, names) ever goes into a reason.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Awaitable
from datetime import timedelta
from typing import TypeVar

from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.warnings import PTBDeprecationWarning

from bot.ports import (
    BotRemoved,
    ChatMoved,
    MissingRights,
    PermanentError,
    PlatformError,
    RetryLater,
    TransientError,
)

T = TypeVar("T")

# Names the core sees in MissingRights.rights and BotRights.missing.
RIGHT_ADMIN = "admin"
RIGHT_INVITE = "invite"
RIGHT_PIN = "pin"
RIGHT_RESTRICT = "restrict"
RIGHT_SEND = "send"
RIGHT_DELETE = "delete"

_RIGHT_WORDS: tuple[tuple[str, str], ...] = (
    ("pinned", RIGHT_PIN),
    ("pin ", RIGHT_PIN),
    ("invite", RIGHT_INVITE),
    ("restrict", RIGHT_RESTRICT),
    ("send", RIGHT_SEND),
    ("delete", RIGHT_DELETE),
)


def retry_after_seconds(exc: RetryAfter) -> float:
    """The wait Telegram asked for, in seconds, whatever PTB_TIMEDELTA says."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


def slug(description: str) -> str:
    """A short machine-readable reason from a Telegram description ("chat_not_found")."""
    head = description.split(":", 1)[0]
    return re.sub(r"[^a-z0-9]+", "_", head.lower()).strip("_")[:48] or "bad_request"


def _missing_rights(message: str) -> MissingRights | None:
    if "chat_admin_required" in message:
        return MissingRights((RIGHT_ADMIN,))
    if "not enough rights" in message or "have no rights" in message:
        for word, right in _RIGHT_WORDS:
            if word in message:
                return MissingRights((right,))
        return MissingRights((RIGHT_ADMIN,))
    return None


def map_error(exc: TelegramError) -> PlatformError:
    """The PlatformError that says what `exc` means for the core."""
    message = exc.message.lower()
    if isinstance(exc, RetryAfter):
        return RetryLater(retry_after_seconds(exc))
    if isinstance(exc, ChatMigrated):
        return ChatMoved(str(exc.new_chat_id))
    if isinstance(exc, Forbidden):
        return _missing_rights(message) or BotRemoved("forbidden")
    if isinstance(exc, BadRequest):
        if "chat not found" in message:
            return BotRemoved("chat_not_found")
        if "message is too long" in message:
            return PermanentError("message_too_long")
        rights = _missing_rights(message)
        if rights is not None:
            return rights
        return PermanentError(slug(message))
    if isinstance(exc, InvalidToken):
        return PermanentError("invalid_token")
    if isinstance(exc, Conflict):
        # Another process polls the same token, or a webhook is set: worth retrying later.
        return TransientError("conflict")
    if isinstance(exc, TimedOut):
        return TransientError("timed_out")
    if isinstance(exc, NetworkError):
        # 5xx answers arrive as NetworkError too.
        return TransientError("network_error")
    return TransientError("telegram_error")


async def call(action: Awaitable[T]) -> T:
    """Await a Bot API call, raising the core's PlatformError instead of PTB's exceptions."""
    try:
        return await action
    except TelegramError as exc:
        raise map_error(exc) from exc
