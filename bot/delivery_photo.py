"""Sending a delivery row whose message has a photo (bot/delivery_send.py hands it here).

One row is one logical message. Where the whole official frame fits under the photo as its
caption (Telegram: 1,024 UTF-16 units), it is one message. Otherwise it is two: the photo,
then the text as a reply to it. The photo's id is recorded as soon as the photo is out, so a
retry after a crash or a failed text sends the text only; the text's id is recorded too, so
that a withdrawal deletes both. The photo is uploaded once per process at most (the adapter
keeps what the platform gave back) and once overall where a row of `photos` remembers it.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from bot.model import ChatRef, MessageRef, Outgoing, Rich
from bot.ports import PlatformPort
from bot.services import photos

if TYPE_CHECKING:
    from bot.dispatch import Core
    from storage.tables import Delivery, Photo


@dataclasses.dataclass(frozen=True)
class PhotoSent:
    """What a row with a photo left in its chat."""

    ref: MessageRef  # the photo (the message updates reply to)
    text_id: str | None = None  # the text, when it followed as a reply
    parts: int = 1


class PhotoSender:
    """Sends rows with photos for one delivery worker; reads each photo's row once."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self._rows: dict[int, Photo | None] = {}
        self._remembered: set[tuple[int, str]] = set()

    async def photo(self, photo_id: int) -> Photo | None:
        """The photo's row (None once it was released: the text goes alone)."""
        if photo_id not in self._rows:
            async with self.core.uow() as uow:
                self._rows[photo_id] = await uow.media.photo(photo_id)
            if len(self._rows) > 1000:  # a long-running worker keeps the recent ones only
                self._rows.pop(next(iter(self._rows)))
        return self._rows[photo_id]

    async def send(
        self,
        port: PlatformPort,
        chat: ChatRef,
        msg: Outgoing,
        row: Delivery,
        token: str,
        photo: Photo,
    ) -> PhotoSent:
        """Send `msg` with `photo` as one message, or two when the caption cannot hold it."""
        pic = photos.picture(self.core, photo, port.platform.value)
        txn = f"binbot-d{row.id}"
        if port.capabilities.caption_fits(msg.body):
            sent = await port.send_photo(chat, pic, msg, txn_id=txn)
            await self._remember(photo, port, pic.upload, sent.upload)
            return PhotoSent(sent.ref)
        if row.platform_message_id:  # the photo went out before; the text is missing
            first = MessageRef(chat, row.platform_message_id)
        else:
            bare = Outgoing(Rich(), silent=msg.silent, reply_to=msg.reply_to)
            sent = await port.send_photo(chat, pic, bare, txn_id=txn + "p")
            await self._remember(photo, port, pic.upload, sent.upload)
            first = sent.ref
            await self._part(row, token, photo_message_id=first.message_id)
        text = dataclasses.replace(msg, reply_to=first.message_id)
        second = await port.send(chat, text, txn_id=txn)
        await self._part(row, token, text_message_id=second.message_id)
        return PhotoSent(first, second.message_id, parts=2)

    async def _part(self, row: Delivery, token: str, **ids: str) -> None:
        async with self.core.uow() as uow:
            await uow.alerts.record_part(row.id, token, **ids)
            await uow.commit()

    async def _remember(
        self, photo: Photo, port: PlatformPort, known: str | None, upload: str | None
    ) -> None:
        key = (photo.id, port.platform.value)
        if upload is None or upload == known or key in self._remembered:
            return
        self._remembered.add(key)
        await photos.remember_upload(self.core, photo.id, port.platform.value, upload)
