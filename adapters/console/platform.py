"""A terminal platform: simulated people and chats, for `binbot console`, demos and tests.

Input lines (see `parse`): `NAME@CHAT: TEXT` is NAME writing TEXT in CHAT (`dm` is NAME's
private chat with the bot, anything else a group, created when first used);
`NAME@CHAT: [LABEL]` presses a button the bot offered NAME there; `NAME@CHAT: +join` /
`+leave` asks to join / leaves the group; `NAME@CHAT: +removebot` removes the bot;
`NAME@CHAT: +photo FILE [CAPTION]` sends the image file FILE with a caption.

Output: one line per bot action. `bot→CHAT: TEXT` in a group, `bot→NAME: TEXT` in a private
chat (buttons as `[LABEL]`), a photo as `bot→CHAT: [photo WxH] CAPTION`, other actions as
`bot⇒CHAT: ACTION DETAILS`.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.events import (
    BotAddedToChat,
    BotRemovedFromChat,
    ButtonPressed,
    CommandIssued,
    Event,
    JoinRequested,
    MemberLeft,
    MessagePosted,
    PhotoPosted,
)
from bot.model import (
    BotRights,
    Button,
    Capabilities,
    ChatRef,
    MessageRef,
    Outgoing,
    Picture,
    Platform,
    Rich,
    UserRef,
)
from bot.ports import (
    BotRemoved,
    EventSink,
    GroupSetup,
    PermanentError,
    SentPhoto,
    TransientError,
)

LINE = re.compile(r"^(?P<name>[^\s@:]+)@(?P<chat>[^\s@:]+):\s?(?P<text>.*)$")
DM = "dm"


@dataclass
class _Posted:
    text: str
    buttons: tuple[tuple[Button, ...], ...]
    deleted: bool = False


@dataclass
class _Chat:
    ref: ChatRef
    members: set[str] = field(default_factory=set)
    posted: dict[str, _Posted] = field(default_factory=dict)
    bot_present: bool = True


def render(body: Rich) -> str:
    """Rich text as one console line."""
    return " ⏎ ".join(part.rstrip() for part in body.plain.split("\n"))


class ConsolePlatform:
    """The PlatformPort for the terminal. Everything it does is written through `out`."""

    platform = Platform.CONSOLE
    capabilities = Capabilities(
        max_text_length=4096, reactions=False, photos=True, max_caption_length=4096
    )

    def __init__(self, out: Callable[[str], None]) -> None:
        self.out = out
        self.chats: dict[str, _Chat] = {}
        self.names: dict[str, str] = {}
        self._ids = itertools.count(1)
        self._sink: EventSink | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, sink: EventSink) -> None:
        self._sink = sink

    async def stop(self) -> None:
        self._sink = None

    # -- input -----------------------------------------------------------------------------

    def _user(self, name: str) -> UserRef:
        uid = name.lower()
        self.names.setdefault(uid, name)
        return UserRef(Platform.CONSOLE, uid, display_name=self.names[uid])

    def _dm(self, uid: str) -> _Chat:
        key = f"dm:{uid}"
        if key not in self.chats:
            self.chats[key] = _Chat(ChatRef(Platform.CONSOLE, key, True, self.names.get(uid, uid)))
        return self.chats[key]

    def parse(self, line: str) -> list[Event] | str:
        """The events one input line stands for, or an explanation of what is wrong."""
        m = LINE.match(line.strip())
        if not m:
            return "expected NAME@CHAT: TEXT (CHAT is dm or a group name)"
        user = self._user(m["name"])
        text = m["text"].strip()
        events: list[Event] = []
        if m["chat"].lower() == DM:
            chat = self._dm(user.user_id)
        else:
            key = m["chat"].lower()
            if key not in self.chats:
                self.chats[key] = _Chat(ChatRef(Platform.CONSOLE, key, False, m["chat"]))
                self.chats[key].members.add(user.user_id)
                events.append(BotAddedToChat(self.chats[key].ref, by=user))
            chat = self.chats[key]
            if not chat.bot_present and text != "+join":
                return f"the bot is not in {chat.ref.title} any more"
        if not text:
            return "empty message"
        if text == "+join" and not chat.ref.is_private:
            events.append(JoinRequested(chat.ref, user))
        elif text == "+leave" and not chat.ref.is_private:
            chat.members.discard(user.user_id)
            events.append(MemberLeft(chat.ref, user))
        elif text == "+removebot" and not chat.ref.is_private:
            chat.bot_present = False
            events.append(BotRemovedFromChat(chat.ref))
        elif text == "+photo" or text.startswith("+photo "):
            photo = self._photo(chat.ref, user, text.removeprefix("+photo").strip())
            if isinstance(photo, str):
                return photo
            events.append(photo)
        elif text.startswith("[") and text.endswith("]"):
            found = self._button(chat, text[1:-1].strip())
            if found is None:
                return f"no button [{text[1:-1]}] for {user.display_name} in {chat.ref.title}"
            mid, data = found
            events.append(ButtonPressed(chat.ref, user, data, mid))
        else:
            mid = str(next(self._ids))
            chat.posted[mid] = _Posted(text, ())  # so that the bot may delete it, as admins can
            if not chat.ref.is_private:
                chat.members.add(user.user_id)
            if text.startswith("/") and len(text) > 1:
                word, _, args = text[1:].partition(" ")
                name = word.split("@", 1)[0].lower()
                events.append(CommandIssued(chat.ref, user, name, args.strip(), mid))
            else:
                events.append(MessagePosted(chat.ref, user, text, mid))
        return events

    def _photo(self, chat: ChatRef, user: UserRef, rest: str) -> PhotoPosted | str:
        """`+photo FILE [CAPTION]`: FILE is read when the bot fetches it, as on a platform."""
        name, _, caption = rest.partition(" ")
        if not name:
            return "expected +photo FILE [CAPTION]"
        path = Path(name).expanduser()
        size = path.stat().st_size if path.is_file() else 0

        async def fetch() -> bytes:
            try:
                return await asyncio.to_thread(path.read_bytes)
            except OSError as exc:
                raise TransientError("file_unreadable") from exc

        mid = str(next(self._ids))
        return PhotoPosted(chat, user, caption.strip(), mid, fetch, size=size)

    def _button(self, chat: _Chat, label: str) -> tuple[str, str] | None:
        for mid in reversed(list(chat.posted)):
            posted = chat.posted[mid]
            if posted.deleted:
                continue
            for row in posted.buttons:
                for b in row:
                    if b.label.lower() == label.lower():
                        return mid, b.data
        return None

    # -- output ----------------------------------------------------------------------------

    def _where(self, chat: ChatRef) -> str:
        if chat.is_private:
            return self.names.get(chat.chat_id.removeprefix("dm:"), chat.title)
        return chat.title or chat.chat_id

    def _chat(self, ref: ChatRef) -> _Chat:
        chat = self.chats.get(ref.chat_id)
        if chat is None:
            raise PermanentError("chat_not_found")
        if not chat.bot_present:
            raise BotRemoved("bot_removed")
        return chat

    async def send(
        self, chat: ChatRef, message: Outgoing, *, txn_id: str | None = None
    ) -> MessageRef:
        target = self._chat(chat)
        if not self.capabilities.fits(message):
            raise PermanentError("message_too_long")
        mid = str(next(self._ids))
        target.posted[mid] = _Posted(message.body.plain, message.buttons)
        buttons = " ".join(f"[{b.label}]" for row in message.buttons for b in row)
        reply = "↪ " if message.reply_to else ""
        line = f"bot→{self._where(chat)}: {reply}{render(message.body)}"
        self.out(line + (f" {buttons}" if buttons else ""))
        return MessageRef(chat, mid)

    async def send_direct(self, user_id: str, message: Outgoing) -> MessageRef:
        return await self.send(self._dm(user_id).ref, message)

    async def direct_chat(self, user_id: str) -> ChatRef:
        return self._dm(user_id).ref

    async def send_photo(
        self, chat: ChatRef, photo: Picture, caption: Outgoing, *, txn_id: str | None = None
    ) -> SentPhoto:
        target = self._chat(chat)
        mid = str(next(self._ids))
        target.posted[mid] = _Posted(f"[photo] {caption.body.plain}", caption.buttons)
        buttons = " ".join(f"[{b.label}]" for row in caption.buttons for b in row)
        reply = "↪ " if caption.reply_to else ""
        text = render(caption.body)
        line = f"bot→{self._where(chat)}: {reply}[photo {photo.width}x{photo.height}]"
        line += f" {text}" if text else ""
        self.out(line + (f" {buttons}" if buttons else ""))
        return SentPhoto(MessageRef(chat, mid), f"console:{photo.sha256[:12]}")

    async def edit(self, ref: MessageRef, message: Outgoing) -> None:
        target = self._chat(ref.chat)
        posted = target.posted.get(ref.message_id)
        if posted is None or posted.deleted:
            raise PermanentError("message_not_found")
        target.posted[ref.message_id] = _Posted(message.body.plain, message.buttons)
        buttons = " ".join(f"[{b.label}]" for row in message.buttons for b in row)
        line = f"bot⇒{self._where(ref.chat)}: edit {render(message.body)}"
        self.out(line + (f" {buttons}" if buttons else ""))

    def _quote(self, ref: MessageRef) -> str:
        posted = self._chat(ref.chat).posted.get(ref.message_id)
        if posted is None:
            raise PermanentError("message_not_found")
        first = posted.text.split("\n", 1)[0]
        return first if len(first) <= 40 else first[:39] + "…"

    async def delete(self, ref: MessageRef) -> None:
        quote = self._quote(ref)
        self._chat(ref.chat).posted[ref.message_id].deleted = True
        self.out(f'bot⇒{self._where(ref.chat)}: delete "{quote}"')

    async def pin(self, ref: MessageRef) -> None:
        self.out(f'bot⇒{self._where(ref.chat)}: pin "{self._quote(ref)}"')

    async def approve_join(self, chat: ChatRef, user_id: str) -> None:
        self._chat(chat).members.add(user_id)
        self.out(f"bot⇒{self._where(chat)}: approve {self.names.get(user_id, user_id)}")

    async def decline_join(self, chat: ChatRef, user_id: str) -> None:
        self._chat(chat)
        self.out(f"bot⇒{self._where(chat)}: decline {self.names.get(user_id, user_id)}")

    async def remove_member(self, chat: ChatRef, user_id: str) -> None:
        self._chat(chat).members.discard(user_id)
        self.out(f"bot⇒{self._where(chat)}: remove {self.names.get(user_id, user_id)}")

    async def secure_group(self, chat: ChatRef) -> GroupSetup:
        self._chat(chat)
        self.out(f"bot⇒{self._where(chat)}: approval-only")
        return GroupSetup(BotRights(), None)

    async def check_rights(self, chat: ChatRef) -> BotRights:
        self._chat(chat)
        return BotRights()

    async def leave(self, chat: ChatRef) -> None:
        self._chat(chat).bot_present = False
        self.out(f"bot⇒{self._where(chat)}: leave")

    async def set_commands(self, commands: Mapping[str, Sequence[tuple[str, str]]]) -> None:
        """The console has no command menu; /help lists the commands."""
