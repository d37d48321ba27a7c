"""Photos of official messages: their rows (table `photos`) and their files.

A file is named by the SHA-256 of its bytes, so the same photo sent twice is kept once, and
a name says nothing about what it shows. Files are written before the row that points at
them is committed and removed only after the row's deletion is committed: a row never points
at a missing file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.tables import Alert, FollowUp, Photo


class MediaFiles:
    """The photo files under one folder (`BINBOT_DATA_DIR/media`)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("not a SHA-256")
        return self.folder / sha256

    def write(self, sha256: str, data: bytes) -> None:
        """Keep `data` under its hash; written to a temporary name first, so that a crash
        never leaves half a file under the real one."""
        target = self.path(sha256)
        if target.exists():
            # Kept again: fresh for the sweep of unreferenced files, which spares young ones.
            target.touch()
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def read(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    def remove(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)

    def older_than(self, before: float) -> Iterator[tuple[str, Path]]:
        """(name, path) of every file last written before `before` (a POSIX time): photos
        by their hash, and temporary files a crash left behind."""
        if not self.folder.is_dir():
            return
        for entry in os.scandir(self.folder):
            try:
                if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < before:
                    yield entry.name, Path(entry.path)
            except FileNotFoundError:  # removed meanwhile
                continue


class MediaRepo:
    """Photo rows over one session/transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def photo(self, photo_id: int) -> Photo | None:
        return await self.session.get(Photo, photo_id)

    async def by_hash(self, sha256: str) -> Photo | None:
        q = select(Photo).where(Photo.sha256 == sha256)
        return (await self.session.execute(q)).scalar_one_or_none()

    async def hashes(self) -> set[str]:
        """The hash of every photo that has a row (the files that must stay)."""
        return set((await self.session.execute(select(Photo.sha256))).scalars().all())

    async def alerts_showing(self, photo_id: int) -> Sequence[Alert]:
        """The messages that show a photo, themselves or in one of their updates."""
        in_update = select(FollowUp.alert_id).where(FollowUp.photo_id == photo_id)
        q = select(Alert).where((Alert.photo_id == photo_id) | Alert.id.in_(in_update))
        return (await self.session.execute(q)).scalars().all()

    async def add(
        self, sha256: str, size: int, width: int, height: int, mime: str, now: datetime
    ) -> Photo:
        """The row of this photo, added if it is new (the same bytes are kept once)."""
        q = select(Photo).where(Photo.sha256 == sha256)
        row = (await self.session.execute(q)).scalar_one_or_none()
        if row is not None:
            row.created_at = max(row.created_at, now)  # used again: not swept as unused
            return row
        row = Photo(
            sha256=sha256, size=size, width=width, height=height, mime=mime, created_at=now
        )
        self.session.add(row)
        await self.session.flush()
        return row

    async def set_upload(self, photo_id: int, key: str, value: Any) -> None:
        """Remember where a platform holds the photo (`key`: "telegram", "matrix", …)."""
        row = await self.session.get(Photo, photo_id)
        if row is None:
            return
        uploads = dict(row.uploads or {})
        uploads[key] = value
        await self.session.execute(
            update(Photo)
            .where(Photo.id == photo_id)
            .values(uploads=uploads)
            .execution_options(synchronize_session=False)
        )

    async def unused(
        self, kept_after: datetime, added_before: datetime, ids: Sequence[int] | None = None
    ) -> Sequence[Photo]:
        """Photos no message keeps any more: every message or update showing them was
        withdrawn or stopped being valid before `kept_after`; photos added after
        `added_before` may belong to a message still being written and stay."""

        def keeps(alert_ref: Any) -> Any:
            return and_(Alert.state != "withdrawn", Alert.valid_until > kept_after, alert_ref)

        by_alert = exists().where(keeps(Alert.photo_id == Photo.id))
        by_update = exists().where(
            and_(FollowUp.photo_id == Photo.id, keeps(Alert.id == FollowUp.alert_id))
        )
        q = select(Photo).where(~by_alert, ~by_update)
        if ids is not None:
            q = q.where(Photo.id.in_(list(ids)))
        else:
            q = q.where(Photo.created_at < added_before)
        return (await self.session.execute(q)).scalars().all()

    async def remove(self, photo_ids: Sequence[int]) -> None:
        """Delete photo rows; the messages that showed them keep their text."""
        if not photo_ids:
            return
        ids = list(photo_ids)
        await self.session.execute(
            update(Alert)
            .where(Alert.photo_id.in_(ids))
            .values(photo_id=None)
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(
            update(FollowUp)
            .where(FollowUp.photo_id.in_(ids))
            .values(photo_id=None)
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(
            delete(Photo).where(Photo.id.in_(ids)).execution_options(synchronize_session=False)
        )

    async def of_alert(self, alert_id: int) -> list[int]:
        """The photos of a message and of its updates."""
        q = select(Alert.photo_id).where(Alert.id == alert_id, Alert.photo_id.is_not(None))
        ids = {i for i in (await self.session.execute(q)).scalars().all() if i is not None}
        q2 = select(FollowUp.photo_id).where(
            FollowUp.alert_id == alert_id, FollowUp.photo_id.is_not(None)
        )
        ids |= {i for i in (await self.session.execute(q2)).scalars().all() if i is not None}
        return sorted(ids)
