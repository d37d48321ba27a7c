"""Photos on Matrix: uploaded once to the media repository, referenced from every room.

A plain room's `m.image` points at the upload (`url`); an encrypted room's carries `file`,
an attachment encrypted once (AES-CTR, with its key and hashes: nio's encryption) whose
one upload every encrypted room references. Both carry `info` (size, type, width, height)
and a thumbnail uploaded the same way. The caption is the `body` (and `formatted_body`), so a
client that shows no image still shows the text; `filename` marks it as a caption.
"""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

from nio import AsyncClient, UploadResponse

from adapters.matrix.errors import check, transport_errors
from bot import media
from bot.model import Picture
from bot.ports import PermanentError


class Uploads:
    """Where this process uploaded each photo (by SHA-256), plain and encrypted."""

    def __init__(self) -> None:
        self._known: dict[str, dict[str, Any]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.count = 0  # uploads made (the photo and its thumbnail each count)

    def _load(self, photo: Picture) -> dict[str, Any]:
        known = self._known.setdefault(photo.sha256, {})
        if photo.upload and not known:
            known.update(json.loads(photo.upload))
        return known

    async def refs(self, client: AsyncClient, photo: Picture, encrypted: bool) -> dict[str, Any]:
        """The uploads of `photo` for a plain or an encrypted room: uploaded the first time
        only (a fan-out's other sends wait for that upload and reuse it)."""
        kind = "enc" if encrypted else "plain"
        known = self._load(photo)
        if kind in known:
            return known
        lock = self._locks.setdefault(photo.sha256, asyncio.Lock())
        async with lock:
            if kind not in known:
                data = await photo.load()
                thumb = await asyncio.to_thread(media.thumbnail, data)
                known[kind] = {
                    "photo": await self._upload(client, data, photo.mime, encrypted),
                    "thumb": await self._upload(client, thumb.data, thumb.mime, encrypted),
                    "thumb_info": {
                        "w": thumb.width,
                        "h": thumb.height,
                        "mimetype": thumb.mime,
                        "size": len(thumb.data),
                    },
                }
        return known

    async def _upload(
        self, client: AsyncClient, data: bytes, mime: str, encrypted: bool
    ) -> dict[str, Any]:
        with transport_errors("upload"):
            resp, keys = await client.upload(
                io.BytesIO(data),
                content_type=mime,
                filename="photo",
                encrypt=encrypted,
                filesize=len(data),
            )
        check(resp, action="upload")
        if not isinstance(resp, UploadResponse):
            raise PermanentError("upload_failed")
        self.count += 1
        if not encrypted:
            return {"url": resp.content_uri}
        if keys is None:
            raise PermanentError("upload_not_encrypted")
        return {"file": keys | {"url": resp.content_uri, "mimetype": mime}}

    def handle(self, photo: Picture) -> str:
        """What to remember for other processes (`Picture.upload`)."""
        return json.dumps(self._known.get(photo.sha256, {}), sort_keys=True)


def image_content(
    photo: Picture, refs: dict[str, Any], encrypted: bool, text: dict[str, Any]
) -> dict[str, Any]:
    """An `m.image` event with `text` (a message's body/formatted_body) as its caption."""
    kind = refs["enc" if encrypted else "plain"]
    name = "photo.png" if photo.mime == "image/png" else "photo.jpg"
    info: dict[str, Any] = {
        "w": photo.width,
        "h": photo.height,
        "mimetype": photo.mime,
        "size": photo.size,
        "thumbnail_info": kind["thumb_info"],
    }
    if encrypted:
        info["thumbnail_file"] = kind["thumb"]["file"]
    else:
        info["thumbnail_url"] = kind["thumb"]["url"]
    content: dict[str, Any] = {"msgtype": "m.image", "filename": name, "info": info}
    content["body"] = text.get("body") or name
    if text.get("formatted_body") and text.get("body"):
        content["format"] = text["format"]
        content["formatted_body"] = text["formatted_body"]
    content |= kind["photo"]
    if "m.relates_to" in text:
        content["m.relates_to"] = text["m.relates_to"]
    return content
