"""A recording fake platform and a harness so core tests read like conversations (STYLE 9).

h = await Harness.create(tmp_path)
await h.admin("zone add Beringen")
await h.say("jan", "/redeem " + code)
assert "politie" in h.last("jan")
"""

from __future__ import annotations

import itertools
import logging
import random
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.admin import run_admin
from bot.cli import admin_parser
from bot.core_config import CoreConfig
from bot.dispatch import Core
from bot.events import (
    BotAddedToChat,
    BotRemovedFromChat,
    ButtonPressed,
    CommandIssued,
    Event,
    JoinRequested,
    MemberLeft,
    MessagePosted,
)
from bot.model import (
    BotRights,
    Capabilities,
    ChatRef,
    MessageRef,
    Outgoing,
    Picture,
    Platform,
    UserRef,
    utf16_units,
)
from bot.ports import (
    BotRemoved,
    EventSink,
    GroupSetup,
    PermanentError,
    SentPhoto,
    Unsupported,
)
from storage import uow as units
from storage.db import Database, open_database
from tests.clock import ManualClock


@dataclass
class Sent:
    """One message the bot posted, as the fake platform recorded it."""

    chat: ChatRef
    message: Outgoing
    ref: MessageRef
    txn_id: str | None = None
    deleted: bool = False
    edits: list[Outgoing] = field(default_factory=list)
    photo: Picture | None = None
    uploaded: bool = False  # the photo's bytes went with it (not sent by a known upload)

    @property
    def text(self) -> str:
        """The text as it reads now (after edits)."""
        return (self.edits[-1] if self.edits else self.message).body.plain

    @property
    def buttons(self) -> list[tuple[str, str]]:
        msg = self.edits[-1] if self.edits else self.message
        return [(b.label, b.data) for row in msg.buttons for b in row]


class RecordingPlatform:
    """A PlatformPort that records every call. Failures can be queued per chat."""

    def __init__(
        self,
        platform: Platform = Platform.TELEGRAM,
        capabilities: Capabilities | None = None,
    ) -> None:
        self.platform = platform
        # Telegram's limit, counted as Telegram counts it (UTF-16 code units).
        self.capabilities = capabilities or Capabilities(max_text_length=4096, measure=utf16_units)
        self.sent: list[Sent] = []
        self.actions: list[tuple[str, str, str]] = []  # (action, chat_id, detail)
        self.failures: dict[str, list[Exception]] = {}
        self.removed: set[str] = set()
        self.missing_rights: dict[str, tuple[str, ...]] = {}
        self.commands: Mapping[str, Sequence[tuple[str, str]]] = {}
        self._ids = itertools.count(100)
        self.sink: EventSink | None = None
        self.uploads: dict[str, str] = {}  # sha256 -> the "file id" it was uploaded as

    async def start(self, sink: EventSink) -> None:
        self.sink = sink

    async def stop(self) -> None:
        self.sink = None

    def fail(self, chat_id: str, *errors: Exception) -> None:
        """Make the next sends/actions in `chat_id` raise these errors, in order."""
        self.failures.setdefault(chat_id, []).extend(errors)

    def _check(self, chat_id: str) -> None:
        if units.current() is not None:
            # A platform call while a transaction is open holds it (and SQLite's write lock)
            # across a network call: replies wait until the unit of work is over.
            raise AssertionError("platform called while a unit of work is open")
        queued = self.failures.get(chat_id)
        if queued:
            raise queued.pop(0)
        if chat_id in self.removed:
            raise BotRemoved("forbidden")

    async def send(
        self, chat: ChatRef, message: Outgoing, *, txn_id: str | None = None
    ) -> MessageRef:
        self._check(chat.chat_id)
        if not self.capabilities.fits(message):
            raise PermanentError("message_too_long")
        if txn_id is not None:
            for s in self.sent:
                if s.txn_id == txn_id and s.chat.chat_id == chat.chat_id:
                    return s.ref  # idempotent, like a Matrix transaction id
        ref = MessageRef(chat, str(next(self._ids)))
        self.sent.append(Sent(chat, message, ref, txn_id))
        return ref

    async def send_direct(self, user_id: str, message: Outgoing) -> MessageRef:
        return await self.send(ChatRef(self.platform, user_id, True), message)

    async def direct_chat(self, user_id: str) -> ChatRef:
        if units.current() is not None:
            raise AssertionError("platform called while a unit of work is open")
        return ChatRef(self.platform, user_id, True)

    async def send_photo(
        self, chat: ChatRef, photo: Picture, caption: Outgoing, *, txn_id: str | None = None
    ) -> SentPhoto:
        self._check(chat.chat_id)
        if not self.capabilities.photos:
            raise Unsupported("photos")
        if not self.capabilities.caption_fits(caption.body):
            raise PermanentError("caption_too_long")
        known = photo.upload or self.uploads.get(photo.sha256)
        loaded = known is None
        if known is None:
            await photo.load()
            known = self.uploads[photo.sha256] = f"file-{photo.sha256[:8]}"
        ref = MessageRef(chat, str(next(self._ids)))
        self.sent.append(Sent(chat, caption, ref, txn_id, photo=photo, uploaded=loaded))
        return SentPhoto(ref, known)

    def _find(self, ref: MessageRef) -> Sent:
        for s in self.sent:
            if s.ref.message_id == ref.message_id and s.chat.chat_id == ref.chat.chat_id:
                return s
        raise PermanentError("message_not_found")

    async def edit(self, ref: MessageRef, message: Outgoing) -> None:
        self._check(ref.chat.chat_id)
        self._find(ref).edits.append(message)

    async def delete(self, ref: MessageRef) -> None:
        """Delete one of the bot's messages, or someone's in a group (as an admin may)."""
        self._check(ref.chat.chat_id)
        for s in self.sent:
            if s.ref.message_id == ref.message_id and s.chat.chat_id == ref.chat.chat_id:
                s.deleted = True
        self.actions.append(("delete", ref.chat.chat_id, ref.message_id))

    async def pin(self, ref: MessageRef) -> None:
        self._check(ref.chat.chat_id)
        self.actions.append(("pin", ref.chat.chat_id, ref.message_id))

    async def approve_join(self, chat: ChatRef, user_id: str) -> None:
        self._check(chat.chat_id)
        self.actions.append(("approve", chat.chat_id, user_id))

    async def decline_join(self, chat: ChatRef, user_id: str) -> None:
        self._check(chat.chat_id)
        self.actions.append(("decline", chat.chat_id, user_id))

    async def remove_member(self, chat: ChatRef, user_id: str) -> None:
        self._check(chat.chat_id)
        self.actions.append(("remove", chat.chat_id, user_id))

    async def secure_group(self, chat: ChatRef) -> GroupSetup:
        self._check(chat.chat_id)
        missing = self.missing_rights.get(chat.chat_id, ())
        if not missing:
            self.actions.append(("secure", chat.chat_id, ""))
        return GroupSetup(BotRights(missing), None if missing else f"https://t.me/+{chat.chat_id}")

    async def check_rights(self, chat: ChatRef) -> BotRights:
        return BotRights(self.missing_rights.get(chat.chat_id, ()))

    async def leave(self, chat: ChatRef) -> None:
        self.actions.append(("leave", chat.chat_id, ""))

    async def set_commands(self, commands: Mapping[str, Sequence[tuple[str, str]]]) -> None:
        self.commands = commands

    # -- reading ---------------------------------------------------------------------------

    def in_chat(self, chat_id: str) -> list[Sent]:
        return [s for s in self.sent if s.chat.chat_id == chat_id]


class _Failures(logging.Handler):
    """Collects what the core logged as failures while one event was handled."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class Harness:
    """The core on a recording platform, a manual clock and a real SQLite file."""

    def __init__(self, core: Core, platform: RecordingPlatform, db: Database) -> None:
        self.core = core
        self.platform = platform
        self.db = db
        self.clock: ManualClock = core.clock  # type: ignore[assignment]
        self.output: list[str] = []
        self.code = ""
        self._ids = itertools.count(1)
        self._read: dict[str, int] = {}

    @classmethod
    async def create(
        cls,
        tmp_path: Path,
        *,
        url: str | None = None,
        platform: RecordingPlatform | None = None,
        config: CoreConfig | None = None,
        seed: int = 7,
    ) -> Harness:
        db = await open_database(url or f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
        fake = platform or RecordingPlatform()
        config = config or CoreConfig(media_dir=tmp_path / "media")
        core = Core(
            db, {fake.platform: fake}, clock=ManualClock(), config=config, rng=random.Random(seed)
        )
        await fake.start(core.handle)
        return cls(core, fake, db)

    async def close(self) -> None:
        await self.db.dispose()

    # -- the admin's shell -----------------------------------------------------------------

    async def admin(self, line: str) -> list[str]:
        """Run an admin command as `binbot LINE` would; returns its output lines."""
        out: list[str] = []
        args = admin_parser().parse_args(shlex.split(line))
        code = await run_admin(args, self.db, out.append, self.core.clock, self.core.rng)
        self.output = out
        if line.startswith("invite") and code == 0 and out:
            self.code = out[-1]
        return out

    # -- people ----------------------------------------------------------------------------

    def user(self, name: str) -> UserRef:
        return UserRef(self.platform.platform, name.lower(), display_name=name.capitalize())

    def chat(self, chat: str | None, name: str) -> ChatRef:
        if chat is None:
            return ChatRef(self.platform.platform, name.lower(), True)
        return ChatRef(self.platform.platform, chat, False, chat)

    async def event(self, event: Event, *, may_fail: bool = False) -> None:
        """Hand an event to the core and wait until it is done. A failure of the core (which
        it logs and answers with a reference) fails the test unless `may_fail`."""
        caught = _Failures()
        logging.getLogger("bot").addHandler(caught)
        try:
            await self.core.handle(event)
            await self.core.idle()
        finally:
            logging.getLogger("bot").removeHandler(caught)
        if caught.records and not may_fail:
            record = caught.records[0]
            raise AssertionError(f"the core failed: {record.getMessage()}") from (
                record.exc_info[1] if record.exc_info else None
            )

    async def say(self, name: str, text: str, chat: str | None = None) -> None:
        """`name` writes `text` privately (chat None) or in group `chat`."""
        where = self.chat(chat, name)
        mid = str(next(self._ids))
        if text.startswith("/"):
            word, _, args = text[1:].partition(" ")
            await self.event(
                CommandIssued(where, self.user(name), word.lower(), args.strip(), mid)
            )
        else:
            await self.event(MessagePosted(where, self.user(name), text, mid))

    async def press(self, name: str, label: str, chat: str | None = None) -> None:
        """`name` presses the newest button labelled `label` in that chat."""
        where = self.chat(chat, name)
        for s in reversed(self.platform.in_chat(where.chat_id)):
            for lab, data in s.buttons:
                if lab.lower() == label.lower():
                    await self.event(ButtonPressed(where, self.user(name), data, s.ref.message_id))
                    return
        raise AssertionError(f"no button {label!r} in {where.chat_id}")

    async def press_data(self, name: str, data: str, chat: str | None = None) -> None:
        """Press a button with arbitrary (possibly forged) data."""
        await self.event(ButtonPressed(self.chat(chat, name), self.user(name), data, None))

    async def add_bot(self, chat: str, by: str) -> None:
        await self.event(BotAddedToChat(self.chat(chat, by), self.user(by)))

    async def remove_bot(self, chat: str) -> None:
        self.platform.removed.add(chat)
        await self.event(BotRemovedFromChat(self.chat(chat, "")))

    async def ask_join(self, name: str, chat: str) -> None:
        await self.event(JoinRequested(self.chat(chat, name), self.user(name)))

    async def leave(self, name: str, chat: str) -> None:
        await self.event(MemberLeft(self.chat(chat, name), self.user(name)))

    # -- reading what people see -----------------------------------------------------------

    def texts(self, chat_id: str) -> list[str]:
        """Everything the bot posted in a chat (private chats are the user's lower-case name)."""
        return [s.text for s in self.platform.in_chat(chat_id) if not s.deleted]

    def new(self, chat_id: str) -> list[str]:
        """What the bot posted in a chat since the last call for that chat."""
        all_ = self.texts(chat_id)
        start = self._read.get(chat_id, 0)
        self._read[chat_id] = len(all_)
        return all_[start:]

    def last(self, chat_id: str) -> str:
        texts = self.texts(chat_id)
        assert texts, f"the bot wrote nothing in {chat_id}"
        return texts[-1]
