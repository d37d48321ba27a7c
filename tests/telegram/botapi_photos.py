"""Photos in the fake Bot API: `sendPhoto` (a multipart upload, or a `file_id` the server gave
before), its limits and errors as Telegram words them, `getFile` and file downloads for photos
people send the bot, and a count of uploads (to check a fan-out uploads a photo once)."""

from __future__ import annotations

import hashlib
import io
from typing import Any

from PIL import Image, UnidentifiedImageError

from tests.telegram.botapi_html import EntityError, parse_html, utf16_len
from tests.telegram.botapi_params import Params
from tests.telegram.botapi_state import (
    JSON,
    RESTRICTED,
    ApiError,
    FakeChat,
    FakeMessage,
    FakeUser,
    bad_request,
)
from tests.telegram.botapi_world import World

MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_CAPTION = 1024  # UTF-16 units, after entities are parsed
MAX_SIDES = 10_000  # width + height
MAX_RATIO = 20


class PhotoMethods(World):
    """sendPhoto, getFile and the files behind them. `photo_uploads` counts the photos that
    came as bytes (not by file_id)."""

    files: dict[str, bytes]
    photo_uploads: int
    _sizes: dict[str, JSON]

    def _photo_state(self) -> None:
        if not hasattr(self, "files"):
            self.files = {}
            self.photo_uploads = 0
            self._sizes = {}  # file_id -> its PhotoSize list: decoded once, as Telegram does

    def _store(self, data: bytes) -> JSON:
        """Keep a photo and describe it as Telegram's PhotoSize list (a thumbnail, the photo)."""
        self._photo_state()
        try:
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
                img.load()
        except (UnidentifiedImageError, OSError):
            raise bad_request("IMAGE_PROCESS_FAILED") from None
        if width + height > MAX_SIDES or max(width, height) > MAX_RATIO * min(width, height):
            raise bad_request("PHOTO_INVALID_DIMENSIONS")
        unique = hashlib.sha256(data).hexdigest()[:16]
        file_id = f"AgACAgQAAx{unique}"
        if file_id in self._sizes:
            return self._sizes[file_id]
        self.files[file_id] = data
        scale = 90 / max(width, height)
        small = {
            "file_id": file_id + "-s",
            "file_unique_id": unique + "s",
            "width": max(1, round(width * scale)),
            "height": max(1, round(height * scale)),
            "file_size": 1500,
        }
        full = {
            "file_id": file_id,
            "file_unique_id": unique,
            "width": width,
            "height": height,
            "file_size": len(data),
        }
        self._sizes[file_id] = {"sizes": [small, full]}
        return self._sizes[file_id]

    def _photo_param(self, raw: Any) -> list[JSON]:
        self._photo_state()
        if isinstance(raw, bytes):
            if len(raw) > MAX_PHOTO_BYTES:
                raise ApiError(413, "Request Entity Too Large")
            self.photo_uploads += 1
            sizes: list[JSON] = self._store(raw)["sizes"]
            return sizes
        if not raw:
            raise bad_request("there is no photo in the request")
        file_id = str(raw)
        known = self._sizes.get(file_id)
        if known is None:
            data = self.files.get(file_id)
            if data is None:
                raise bad_request("wrong file identifier/HTTP URL specified")
            known = self._store(data)
        return list(known["sizes"])

    def _caption(self, q: Params) -> tuple[str, list[JSON]]:
        raw = str(q.get("caption", "") or "")
        mode = str(q.get("parse_mode", "")).lower()
        if mode == "html":
            try:
                text, entities = parse_html(raw)
            except EntityError as exc:
                raise bad_request(f"can't parse entities: {exc}") from None
        else:
            text, entities = raw, q.json("caption_entities") or []
        if utf16_len(text) > MAX_CAPTION:
            raise bad_request("message caption is too long")
        return text, entities

    async def m_sendPhoto(self, p: JSON) -> JSON:
        """Post a photo (uploaded, or by file_id) with an optional caption, keyboard, reply."""
        q = Params(p)
        chat: FakeChat = self.chat_for_bot(q.required("chat_id"))
        if chat.user is not None and not self.may_write_first(chat.user):
            raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        me = chat.member(self.bot)
        if chat.is_group and me.status == RESTRICTED and not me.can_send_messages:
            raise bad_request("not enough rights to send photos to the chat")
        caption, entities = self._caption(q)
        from tests.telegram.botapi_methods import _check_keyboard

        markup = _check_keyboard(q.json("reply_markup"))
        reply = q.json("reply_parameters") or {}
        reply_to = reply.get("message_id") or q.int("reply_to_message_id")
        if reply_to is not None:
            target = chat.messages.get(int(reply_to))
            if target is None or target.deleted:
                if not reply.get("allow_sending_without_reply"):
                    raise bad_request("message to be replied not found")
                reply_to = None
        wait = self.flood.admit(chat.id, chat.is_group)
        if wait is not None:
            raise ApiError(429, f"Too Many Requests: retry after {wait}", {"retry_after": wait})
        sizes = self._photo_param(p.get("photo"))
        service: JSON = {"photo": sizes}
        if caption:
            service["caption"] = caption
            if entities:
                service["caption_entities"] = entities
        message = chat.new_message(
            self.bot,
            text="",
            html=str(q.get("caption", "") or "") or None,
            reply_to=int(reply_to) if reply_to is not None else None,
            reply_markup=markup,
            disable_notification=q.bool("disable_notification"),
            service=service,
        )
        message.text = caption  # what the chat reads under the photo (texts() shows it)
        return _as_photo(chat, message)

    async def m_getFile(self, p: JSON) -> JSON:
        """Where to download a file someone sent the bot."""
        self._photo_state()
        file_id = str(Params(p).required("file_id"))
        data = self.files.get(file_id)
        if data is None:
            raise bad_request("invalid file_id")
        return {
            "file_id": file_id,
            "file_unique_id": file_id[-16:],
            "file_size": len(data),
            "file_path": f"photos/{file_id}.jpg",
        }

    def file_bytes(self, path: str) -> bytes | None:
        """The bytes behind a `file_path` getFile gave."""
        self._photo_state()
        name = path.rsplit("/", 1)[-1].removesuffix(".jpg")
        return self.files.get(name)

    # -- what tests do ---------------------------------------------------------------------

    def user_sends_photo(
        self, user: FakeUser, data: bytes, caption: str = "", *, document: bool = False
    ) -> FakeMessage:
        """`user` sends the bot a photo (or, `document`, an image file) in private."""
        self._photo_state()
        chat = self.private_chat(user)
        user.started = True
        unique = hashlib.sha256(data).hexdigest()[:16]
        file_id = f"BQACAgQAAx{unique}"
        self.files[file_id] = data  # as uploaded: whatever it is, Telegram keeps it
        item = {"file_id": file_id, "file_unique_id": unique, "file_size": len(data)}
        if document:
            service: JSON = {
                "document": item | {"file_name": "upload.jpg", "mime_type": "image/jpeg"}
            }
        else:
            service = {"photo": [item | {"width": 1280, "height": 960}]}
        if caption:
            service["caption"] = caption
        message = chat.new_message(user, service=service)
        self.updates.push("message", chat.message_json(message))
        return message

    def photos_in(self, chat: Any) -> list[FakeMessage]:
        """The bot's live photo messages in a chat."""
        target = self.find_chat(chat.id if isinstance(chat, FakeChat) else chat)
        return [
            m
            for m in target.messages.values()
            if m.sender is self.bot and "photo" in m.service and not m.deleted
        ]


def _as_photo(chat: FakeChat, message: FakeMessage) -> JSON:
    out = chat.message_json(message)
    out.pop("text", None)
    return out
