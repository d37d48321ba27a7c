"""Value types shared by the core, the adapters and storage."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

LANGUAGES: tuple[str, ...] = ("nl", "fr", "de", "en")


class Platform(StrEnum):
    """A chat platform the bot can reach."""

    TELEGRAM = "telegram"
    MATRIX = "matrix"
    CONSOLE = "console"


class Role(StrEnum):
    """A role a person holds; every role but member is granted by a redeemed invite."""

    ADMIN = "admin"
    POLICE = "police"
    PREVENTION = "prevention"
    COORDINATOR = "coordinator"
    MEMBER = "member"


OFFICIAL_ROLES: frozenset[Role] = frozenset({Role.POLICE, Role.PREVENTION})
INVITABLE_ROLES: frozenset[Role] = frozenset({Role.POLICE, Role.PREVENTION, Role.COORDINATOR})


class Urgency(StrEnum):
    """Urgent ("warm") messages go out at once; non-urgent ("cold") wait for quiet hours."""

    URGENT = "urgent"
    NON_URGENT = "non_urgent"


@dataclass(frozen=True, slots=True)
class ChatRef:
    """A chat on one platform: a group/room, or a private chat with one person."""

    platform: Platform
    chat_id: str
    is_private: bool = False
    title: str = ""


@dataclass(frozen=True, slots=True)
class UserRef:
    """A platform account; `display_name` is only ever shown, never logged."""

    platform: Platform
    user_id: str
    display_name: str = ""
    language_hint: str | None = None
    is_bot: bool = False


@dataclass(frozen=True, slots=True)
class MessageRef:
    """A message the bot (or someone) posted, as the platform identifies it."""

    chat: ChatRef
    message_id: str


@dataclass(frozen=True, slots=True)
class Span:
    """A run of text with one style. Adapters escape `text` for their platform."""

    text: str
    bold: bool = False
    italic: bool = False
    code: bool = False


@dataclass(frozen=True, slots=True)
class Rich:
    """Platform-neutral formatted text: a sequence of spans ("\\n" inside spans breaks lines)."""

    spans: tuple[Span, ...] = ()

    @property
    def plain(self) -> str:
        """The text without any styling."""
        return "".join(s.text for s in self.spans)

    def __add__(self, other: Rich) -> Rich:
        return Rich(self.spans + other.spans)

    @staticmethod
    def of(text: str) -> Rich:
        """Plain text as rich text."""
        return Rich((Span(text),))

    @staticmethod
    def join(parts: list[Rich], sep: str = "\n") -> Rich:
        """Join rich texts with a plain separator."""
        spans: list[Span] = []
        for i, part in enumerate(parts):
            if i and sep:
                spans.append(Span(sep))
            spans.extend(part.spans)
        return Rich(tuple(spans))


@dataclass(frozen=True, slots=True)
class Button:
    """An inline button. `data` comes back in ButtonPressed and is never trusted."""

    label: str
    data: str


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message the core wants posted.

    `silent` asks for no notification sound (Telegram `disable_notification`, Matrix
    `m.notice`). `reply_to` is a platform message id in the same chat. `buttons` are rows.
    """

    body: Rich
    buttons: tuple[tuple[Button, ...], ...] = ()
    silent: bool = False
    reply_to: str | None = None


def characters(message: Outgoing) -> int:
    """A message's length in characters (code points) of its plain text."""
    return len(message.body.plain)


def utf16_units(message: Outgoing) -> int:
    """A message's length as Telegram counts it: UTF-16 code units of the text after entity
    parsing, i.e. of the plain text (an emoji outside the BMP counts two)."""
    return len(message.body.plain.encode("utf-16-le")) // 2


@dataclass(frozen=True, slots=True)
class Picture:
    """A photo the core wants posted: already cleaned (bot/media.py) and kept by its hash.

    `upload` is where this platform already holds it (a Telegram file_id, a Matrix upload),
    if anywhere; `load` reads the bytes, only when they must be uploaded after all.
    """

    sha256: str
    width: int
    height: int
    mime: str
    size: int
    load: Callable[[], Awaitable[bytes]] = field(compare=False, repr=False)
    upload: str | None = None


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a platform can do; the core asks instead of assuming (STYLE 3).

    `max_text_length` is the most a message may weigh, in what `measure` counts: the unit the
    platform itself enforces (characters, UTF-16 code units, an event's bytes). Ask `fits`
    rather than comparing `len()` with it.
    `photos`: it posts photos (`send_photo`); `max_caption_length` is how long the text under
    a photo may be (longer texts follow as a reply), counted in UTF-16 units where
    `caption_utf16` (Telegram), else in characters.
    """

    max_text_length: int
    buttons: bool = True
    edit: bool = True
    delete: bool = True
    pin: bool = True
    join_requests: bool = True
    reactions: bool = False
    measure: Callable[[Outgoing], int] = characters

    def fits(self, message: Outgoing) -> bool:
        """Whether the platform takes `message` (its text, as the platform measures it)."""
        return self.measure(message) <= self.max_text_length

    photos: bool = False
    max_caption_length: int = 0
    caption_utf16: bool = False

    def caption_fits(self, body: Rich) -> bool:
        """Whether `body` fits under a photo on this platform."""
        text = body.plain
        n = len(text.encode("utf-16-le")) // 2 if self.caption_utf16 else len(text)
        return n <= self.max_caption_length


@dataclass(frozen=True, slots=True)
class BotRights:
    """The rights the bot holds in a group; `missing` names what it needs and lacks."""

    missing: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.missing


_CODE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,31}$")


def valid_bin_code(code: str) -> bool:
    """A BIN code is 2-32 lowercase letters, digits or dashes."""
    return bool(_CODE_RE.match(code))
