"""Photos of official messages: accepting one safely, handing it to a platform, and letting
it go when its message no longer needs it.

An official photo belongs to the police zone or prevention service that sent it, not to a
resident: it is no part of anyone's /mydata and /forgetme does not touch it. It is kept while
its message (or an update showing it) is valid, and `media_keep_days` after; a withdrawal
lets it go at once.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from bot import media
from bot.commands import Registry
from bot.model import Picture
from storage.media import MediaFiles

if TYPE_CHECKING:
    from bot.dispatch import Core
    from storage.tables import Photo
    from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

routes = Registry()

# A photo not yet attached to a message may belong to one still being written.
UNATTACHED_GRACE = timedelta(days=1)
# A file is written before its row is committed: a file younger than this may be one whose
# row is on its way, and is never taken for a stray.
STRAY_GRACE = timedelta(hours=1)


@dataclass(frozen=True)
class Kept:
    """A photo accepted and stored (its row is in the caller's unit of work)."""

    photo_id: int
    width: int
    height: int


def files(core: Core) -> MediaFiles:
    """The photo files of this deployment."""
    return MediaFiles(core.config.media_dir)


async def clean(data: bytes) -> media.Clean:
    """Re-encode an upload without metadata (in a thread: a large photo takes a while);
    raises media.Refused."""
    return await asyncio.to_thread(media.clean, data)


async def keep(core: Core, uow: UnitOfWork, cleaned: media.Clean) -> Kept:
    """Store a cleaned photo: the file first, then its row (in `uow`, for the caller to
    commit), so that a committed row always has its file."""
    await asyncio.to_thread(files(core).write, cleaned.sha256, cleaned.data)
    row = await uow.media.add(
        cleaned.sha256,
        len(cleaned.data),
        cleaned.width,
        cleaned.height,
        cleaned.mime,
        core.clock.now(),
    )
    return Kept(row.id, row.width, row.height)


def picture(core: Core, photo: Photo, platform: str) -> Picture:
    """A stored photo as a platform adapter takes it."""
    store = files(core)
    sha = photo.sha256

    async def load() -> bytes:
        return await asyncio.to_thread(store.read, sha)

    upload = (photo.uploads or {}).get(platform)
    return Picture(sha, photo.width, photo.height, photo.mime, photo.size, load, upload=upload)


async def remember_upload(core: Core, photo_id: int, platform: str, upload: str) -> None:
    """Remember where a platform holds a photo, for every process to send it by that."""
    async with core.uow() as uow:
        await uow.media.set_upload(photo_id, platform, upload)
        await uow.commit()


async def release(core: Core, now: datetime, ids: list[int] | None = None) -> int:
    """Delete the photos no message keeps any more (only `ids`, when given): rows first,
    files once that is committed. Returns how many."""
    kept_after = now - timedelta(days=core.config.media_keep_days)
    async with core.uow() as uow:
        gone = list(await uow.media.unused(kept_after, now - UNATTACHED_GRACE, ids))
        if not gone:
            return 0
        await uow.media.remove([p.id for p in gone])
        await uow.commit()
    store = files(core)
    for photo in gone:
        await asyncio.to_thread(store.remove, photo.sha256)
    return len(gone)


async def sweep_strays(core: Core, now: datetime, *, dry_run: bool = False) -> int:
    """Delete (or, dry, count) the files under the media folder that no photo row names and
    that are older than STRAY_GRACE: left when deleting a file failed, or a process stopped
    between a row's deletion and its file's, or a crash left a temporary file. Files are
    listed before the rows are read, so a file whose row is committed meanwhile is known."""
    store = files(core)
    before = (now - STRAY_GRACE).timestamp()
    old = await asyncio.to_thread(lambda: list(store.older_than(before)))
    if not old:
        return 0
    async with core.uow() as uow:
        known = await uow.media.hashes()
    strays = [path for name, path in old if name not in known]
    if not dry_run:
        await asyncio.to_thread(_unlink_old, strays, before)
    return len(strays)


def _unlink_old(paths: list[Path], before: float) -> None:
    for path in paths:
        try:
            if path.stat().st_mtime < before:  # not kept again since it was listed
                path.unlink()
        except FileNotFoundError:
            continue


async def withdrawn(core: Core, alert_id: int) -> None:
    """A message was withdrawn: its photos go now, unless another message shows them."""
    async with core.uow() as uow:
        ids = await uow.media.of_alert(alert_id)
    if ids:
        n = await release(core, core.clock.now(), ids)
        if n:
            log.info("%d photos of a withdrawn message deleted", n)


@routes.periodic("photos.release", seconds=3600)
async def release_expired(core: Core) -> None:
    """Delete photos whose messages expired more than `media_keep_days` ago."""
    n = await release(core, core.clock.now())
    if n:
        log.info("%d photos of expired messages deleted", n)
