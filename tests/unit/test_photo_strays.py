"""The retention run sweeps photo files that no row names (a deletion that failed, or a
process stopped between a row's deletion and its file's), but spares young files: an upload
whose row is still on its way."""

from __future__ import annotations

import os
from datetime import timedelta

from sqlalchemy import select

from bot import media
from bot.services import photos, retention
from storage.media import MediaFiles
from storage.tables import AuditEntry
from tests.fakes import Harness
from tests.photos import phone_photo


def age(path: os.PathLike[str], h: Harness, hours: float) -> None:
    """Make a file look written `hours` ago by the harness's clock."""
    when = (h.clock.now() - timedelta(hours=hours)).timestamp()
    os.utime(path, (when, when))


async def test_old_unreferenced_files_are_swept_and_young_or_kept_ones_stay(h: Harness) -> None:
    store = MediaFiles(h.core.config.media_dir)
    kept = media.clean(phone_photo(320, 240))
    async with h.core.uow() as uow:
        await photos.keep(h.core, uow, kept)
        await uow.commit()
    orphan, young = "a" * 64, "b" * 64
    store.write(orphan, b"left behind when its row was deleted")
    store.write(young, b"an upload whose row is being committed")
    crashed = store.folder / ".incoming-x1y2"
    crashed.write_bytes(b"half a file")
    for path, hours in ((store.path(kept.sha256), 48), (store.path(orphan), 48), (crashed, 3)):
        age(path, h, hours)
    age(store.path(young), h, 0.1)

    dry = await retention.run(h.core, dry_run=True)
    assert dry.deleted["media_files"] == 2 and store.exists(orphan) and crashed.exists()

    report = await retention.run(h.core)
    assert report.deleted["media_files"] == 2
    assert not store.exists(orphan) and not crashed.exists()
    assert store.exists(young) and store.read(kept.sha256) == kept.data
    async with h.db.session() as session:
        q = select(AuditEntry).where(AuditEntry.action == "retention.run")
        [audited] = (await session.execute(q)).scalars().all()
    assert (audited.detail or {})["deleted"]["media_files"] == 2

    # Used again before the sweep looks: writing the same bytes makes the file young again.
    age(store.path(young), h, 48)
    store.write(young, b"an upload whose row is being committed")
    assert await photos.sweep_strays(h.core, h.clock.now()) == 0 and store.exists(young)
