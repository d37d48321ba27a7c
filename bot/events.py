"""What adapters hand to the core: one platform update becomes one of these events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.model import ChatRef, UserRef


@dataclass(frozen=True, slots=True)
class MessagePosted:
    """Someone wrote ordinary text (not a command) in a chat the bot sees.

    The text is classified in memory (nudges, conversation answers) and never stored.
    `reply_to` is the platform id of the message this one replies to, if any.
    """

    chat: ChatRef
    sender: UserRef
    text: str
    message_id: str
    reply_to: str | None = None


@dataclass(frozen=True, slots=True)
class PhotoPosted:
    """Someone sent a photo (or an image file) with an optional caption.

    The bytes are not in the event: `fetch` downloads them from the platform, so a photo
    nobody needs (chatter in a group) is never downloaded. `size` is what the platform
    announced (0: unknown), so an oversized file is refused before it is fetched.
    """

    chat: ChatRef
    sender: UserRef
    caption: str
    message_id: str
    fetch: Callable[[], Awaitable[bytes]] = field(compare=False, repr=False)
    size: int = 0
    mime: str = ""


@dataclass(frozen=True, slots=True)
class CommandIssued:
    """Someone issued `/name args` (Telegram, console) or `!name args` (Matrix).

    `name` is lower case without prefix or `@botname`; `args` is the rest, stripped.
    """

    chat: ChatRef
    sender: UserRef
    name: str
    args: str
    message_id: str


@dataclass(frozen=True, slots=True)
class ButtonPressed:
    """Someone pressed an inline button (or a Matrix reaction mapped to one).

    `data` is whatever the button carried: untrusted input, re-checked by the core.
    `message_id` is the message that carried the button.
    `acknowledge`, where the platform has one, shows a short notice to the presser alone
    (Telegram's pop-up); the adapter answers the press itself when it is not used.
    """

    chat: ChatRef
    sender: UserRef
    data: str
    message_id: str | None = None
    acknowledge: Callable[[str], Awaitable[None]] | None = field(
        default=None, compare=False, repr=False
    )


@dataclass(frozen=True, slots=True)
class ReactionAdded:
    """Someone reacted to a message (Matrix `m.reaction`)."""

    chat: ChatRef
    sender: UserRef
    message_id: str
    key: str


@dataclass(frozen=True, slots=True)
class JoinRequested:
    """Someone asked to join a group (Telegram chat join request, Matrix knock)."""

    chat: ChatRef
    user: UserRef


@dataclass(frozen=True, slots=True)
class BotAddedToChat:
    """The bot was added to (or invited into and joined) a group."""

    chat: ChatRef
    by: UserRef | None = None


@dataclass(frozen=True, slots=True)
class BotRemovedFromChat:
    """The bot was removed, kicked or banned from a group."""

    chat: ChatRef


@dataclass(frozen=True, slots=True)
class BotRightsChanged:
    """The bot's own rights in a group changed (promoted, demoted)."""

    chat: ChatRef
    is_admin: bool


@dataclass(frozen=True, slots=True)
class MemberJoined:
    """Someone joined a group."""

    chat: ChatRef
    user: UserRef


@dataclass(frozen=True, slots=True)
class MemberLeft:
    """Someone left a group or was removed from it."""

    chat: ChatRef
    user: UserRef


@dataclass(frozen=True, slots=True)
class ChatMigrated:
    """A group got a new id on its platform (Telegram group to supergroup)."""

    chat: ChatRef
    new_chat_id: str


Event = (
    MessagePosted
    | PhotoPosted
    | CommandIssued
    | ButtonPressed
    | ReactionAdded
    | JoinRequested
    | BotAddedToChat
    | BotRemovedFromChat
    | BotRightsChanged
    | MemberJoined
    | MemberLeft
    | ChatMigrated
)
