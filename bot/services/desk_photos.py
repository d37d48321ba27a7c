"""Photos on the desk: an upload taken through the same cleaning as a photo sent in chat
(bot/media.py), carried from the preview to Send by a reference the server signed, and shown
only to someone who may see it.

The reference is the photo's hash and an HMAC over it and the desk session, keyed with a
secret of this deployment kept in the database: a browser cannot make one, so a hash typed
into the form (another zone's photo, say) is refused, and a reference made for one session
is worth nothing in another.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot import media
from bot.services import photos
from bot.services.desk import Viewer, may_see_alert, refused

if TYPE_CHECKING:
    from bot.dispatch import Core
    from storage.tables import Photo
    from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

KEY = "desk.photo_key"  # kv: the secret references are signed with
# An upload is the photo plus the form's fields: the text (at most 10,000 characters of up to
# four bytes each) and a few short ones.
FORM_ROOM = 256 * 1024
UPLOAD_LIMIT = media.MAX_BYTES + FORM_ROOM


@dataclass(frozen=True)
class DeskPhoto:
    """A stored photo as a page shows it; `reference` (hash and signature) when it is a
    draft's, which this session may carry to Send."""

    photo_id: int
    sha256: str
    width: int
    height: int
    reference: str = ""

    @property
    def url(self) -> str:
        _, _, sig = self.reference.partition(".")
        return f"/desk/photos/{self.sha256}" + (f"?ref={sig}" if sig else "")


async def _key(uow: UnitOfWork) -> bytes | None:
    """This deployment's signing secret; None before the first upload made it."""
    found = await uow.state.get(KEY)
    return found.encode() if found else None


def _sign(key: bytes, who: Viewer, sha256: str) -> str:
    message = f"desk-photo:{who.session_id}:{sha256}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def _draft(row: Photo, key: bytes, who: Viewer) -> DeskPhoto:
    sig = _sign(key, who, row.sha256)
    return DeskPhoto(row.id, row.sha256, row.width, row.height, f"{row.sha256}.{sig}")


async def clean(core: Core, who: Viewer, data: bytes) -> media.Clean | str:
    """An upload re-encoded by the rules every photo goes through (bot/media.py); else the
    catalogue key of why it was refused (audited; nothing of it kept)."""
    try:
        return await photos.clean(data)
    except media.Refused as exc:
        await refused(core, who, "photo", exc.reason.value, via="desk")
        return f"media.desk_refused_{exc.reason.value}"


async def accept(core: Core, who: Viewer, data: bytes) -> DeskPhoto | str:
    """Clean and store an uploaded photo for a draft, with the reference that carries it to
    Send; else the catalogue key of why it was refused (nothing of it kept)."""
    cleaned = await clean(core, who, data)
    if isinstance(cleaned, str):
        return cleaned
    async with core.uow() as uow:
        key = await _key(uow)
        if key is None:
            made = f"{core.rng.getrandbits(256):064x}"
            key = (await uow.state.put_once(KEY, made)).encode()
        kept = await photos.keep(core, uow, cleaned)
        row = await uow.media.photo(kept.photo_id)
        assert row is not None
        found = _draft(row, key, who)
        await uow.commit()
    return found


async def carried(uow: UnitOfWork, who: Viewer, reference: str) -> DeskPhoto | None:
    """The photo a form's reference names, if this session was given it and it is still
    kept; None otherwise (the caller refuses a reference that is not empty)."""
    sha, _, sig = reference.partition(".")
    key = await _key(uow)
    if len(sha) != 64 or len(sig) != 32 or key is None:
        return None
    if not hmac.compare_digest(_sign(key, who, sha), sig):
        return None
    row = await uow.media.by_hash(sha)
    return _draft(row, key, who) if row is not None else None


async def shown(core: Core, who: Viewer, reference: str) -> DeskPhoto | None:
    """`carried`, in a unit of work of its own (the compose form showing the photo kept)."""
    async with core.uow() as uow:
        return await carried(uow, who, reference)


async def of_message(uow: UnitOfWork, photo_id: int | None) -> DeskPhoto | None:
    """A message's (or update's) photo as its page shows it (fetched by the message's
    visibility, not by a signature)."""
    row = await uow.media.photo(photo_id) if photo_id is not None else None
    return DeskPhoto(row.id, row.sha256, row.width, row.height) if row is not None else None


async def viewable(core: Core, who: Viewer, sha256: str, sig: str) -> tuple[bytes, str] | None:
    """The bytes and type of a photo for this person: one this session uploaded (a draft's,
    signed), or one of a message they may see; None, audited, otherwise."""
    async with core.uow() as uow:
        row = await uow.media.by_hash(sha256) if len(sha256) == 64 else None
        allowed = False
        if row is not None:
            mine = await carried(uow, who, f"{sha256}.{sig}")
            allowed = mine is not None or any(
                may_see_alert(who, a) for a in await uow.media.alerts_showing(row.id)
            )
        if row is None or not allowed:
            await refused(core, who, "desk.photo", "not_visible")
            await uow.commit()
            return None
        mime = row.mime
    try:
        data = await asyncio.to_thread(photos.files(core).read, sha256)
    except (FileNotFoundError, ValueError):
        log.warning("a photo row without its file")
        return None
    return data, mime
