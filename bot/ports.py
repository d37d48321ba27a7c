"""What the core needs from outside: the Platform protocol, its errors, and a Clock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from bot.events import Event
from bot.model import (
    BotRights,
    Capabilities,
    ChatRef,
    MessageRef,
    Outgoing,
    Picture,
    Platform,
)

EventSink = Callable[[Event], Awaitable[None]]


class PlatformError(Exception):
    """An outbound action failed; `reason` is short, machine-readable, free of personal data."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RetryLater(PlatformError):
    """The platform asked us to slow down (HTTP 429); retry this chat after `retry_after` s."""

    def __init__(self, retry_after: float, reason: str = "rate_limited") -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class TransientError(PlatformError):
    """A 5xx, a timeout or a network error: worth retrying with back-off."""


class PermanentError(PlatformError):
    """Retrying will not help (chat gone, message refused, not allowed)."""


class BotRemoved(PermanentError):
    """The bot is no longer in that chat, or the person blocked it."""


class ChatMoved(PermanentError):
    """The chat has a new id (Telegram group migrated to a supergroup)."""

    def __init__(self, new_chat_id: str) -> None:
        super().__init__("chat_migrated")
        self.new_chat_id = new_chat_id


class MissingRights(PermanentError):
    """The bot lacks rights in that chat; `rights` names them (e.g. "pin", "invite")."""

    def __init__(self, rights: Sequence[str]) -> None:
        super().__init__("missing_rights:" + ",".join(rights))
        self.rights = tuple(rights)


class Unsupported(PermanentError):
    """The platform cannot do this at all (STYLE 3: say so, never drop silently)."""


@dataclass(frozen=True, slots=True)
class GroupSetup:
    """The outcome of making a group approval-only."""

    rights: BotRights
    invite_link: str | None = None


@dataclass(frozen=True, slots=True)
class SentPhoto:
    """A photo posted: the message, and where the platform now holds the photo (to send it
    again without uploading it: `Picture.upload`)."""

    ref: MessageRef
    upload: str | None = None


@runtime_checkable
class PlatformPort(Protocol):
    """One chat platform, as the core sees it. Adapters implement it; the core never
    imports a platform library. Every method raises a PlatformError subclass on failure."""

    platform: Platform
    capabilities: Capabilities

    async def start(self, sink: EventSink) -> None:
        """Connect and start handing events to `sink`; returns once running."""

    async def stop(self) -> None:
        """Stop receiving and release connections."""

    async def send(
        self, chat: ChatRef, message: Outgoing, *, txn_id: str | None = None
    ) -> MessageRef:
        """Post `message` in `chat`. `txn_id`, when given, makes the send idempotent where the
        platform supports it (Matrix transaction ids)."""

    async def send_direct(self, user_id: str, message: Outgoing) -> MessageRef:
        """Post `message` in the private chat with `user_id`, creating it where needed."""

    async def direct_chat(self, user_id: str) -> ChatRef:
        """The private chat with `user_id`, created where needed, without posting in it (so
        that what a first message there starts can be stored before it is sent)."""

    async def send_photo(
        self, chat: ChatRef, photo: Picture, caption: Outgoing, *, txn_id: str | None = None
    ) -> SentPhoto:
        """Post `photo` in `chat` with `caption` under it (its body may be empty; it must fit
        `capabilities.max_caption_length`). The photo is uploaded at most once per process
        and not at all when `photo.upload` says where the platform holds it. Raises
        Unsupported where `capabilities.photos` is False."""

    async def edit(self, ref: MessageRef, message: Outgoing) -> None:
        """Replace the text (and buttons) of a message the bot posted."""

    async def delete(self, ref: MessageRef) -> None:
        """Delete (Telegram) or redact (Matrix) a message."""

    async def pin(self, ref: MessageRef) -> None:
        """Pin a message, silently."""

    async def approve_join(self, chat: ChatRef, user_id: str) -> None:
        """Let a person in who asked to join (Telegram approve; Matrix invite)."""

    async def decline_join(self, chat: ChatRef, user_id: str) -> None:
        """Turn a join request down (Telegram decline; Matrix kick of the knock)."""

    async def remove_member(self, chat: ChatRef, user_id: str) -> None:
        """Remove a person from a group (they may ask again later)."""

    async def secure_group(self, chat: ChatRef) -> GroupSetup:
        """Make the group approval-only where the platform allows and report missing rights."""

    async def check_rights(self, chat: ChatRef) -> BotRights:
        """Which rights the bot needs in `chat` and lacks."""

    async def leave(self, chat: ChatRef) -> None:
        """Leave a group."""

    async def set_commands(self, commands: Mapping[str, Sequence[tuple[str, str]]]) -> None:
        """Publish the command menu per language code ({"nl": [(name, description)]})."""


class Clock(Protocol):
    """The time, injectable so tests can move it."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""


class SystemClock:
    """The real time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class KeyValueStore(Protocol):
    """Small durable state for adapters (the Matrix sync token, device id)."""

    async def get(self, key: str) -> str | None:
        """The value stored under `key`, or None."""

    async def put(self, key: str, value: str) -> None:
        """Store `value` under `key`, replacing any earlier value."""


class Outbox(Protocol):
    """The delivery worker as the rest of the core sees it (bot/delivery.py)."""

    def wake(self) -> None:
        """Due rows were committed: look at the outbox now rather than at the next poll."""

    def withdrawn(self, alert_id: int) -> None:
        """An official message was withdrawn: rows of it still in hand are not sent."""

    def receipt_posted(self, alert_id: int, text: str) -> None:
        """The author's receipt of an official message was posted with this text."""

    async def refresh_receipt(self, alert_id: int) -> None:
        """Bring the author's receipt up to date with the delivery figures."""


class NoOutbox:
    """Where no delivery worker runs in this process (the admin shell): rows wait for one."""

    def wake(self) -> None:
        return None

    def withdrawn(self, alert_id: int) -> None:
        return None

    def receipt_posted(self, alert_id: int, text: str) -> None:
        return None

    async def refresh_receipt(self, alert_id: int) -> None:
        return None
