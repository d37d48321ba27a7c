"""Open conversations, stored: one row per (platform, chat, user), versioned."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.tables import ConversationRow


class StaleConversation(Exception):
    """The conversation moved on (another step, another process) since it was read."""


@dataclass(frozen=True)
class StoredConversation:
    """A conversation as read: what a step needs, and the version it was read at."""

    id: int
    platform: str
    chat_id: str
    user_id: str
    person_id: int
    kind: str
    state: str
    data: dict[str, Any]
    expires_at: datetime
    version: int


def _stored(row: ConversationRow) -> StoredConversation:
    return StoredConversation(
        row.id,
        row.platform,
        row.chat_id,
        row.user_id,
        row.person_id,
        row.kind,
        row.state,
        dict(row.data),
        row.expires_at,
        row.version,
    )


class ConversationRepo:
    """Conversations over one session/transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        # (platform, chat, user) of conversations begun in this transaction
        self.begun: set[tuple[str, str, str]] = set()

    async def get(self, platform: str, chat_id: str, user_id: str) -> StoredConversation | None:
        q = select(ConversationRow).where(
            ConversationRow.platform == platform,
            ConversationRow.chat_id == chat_id,
            ConversationRow.user_id == user_id,
        )
        row = (await self.session.execute(q)).scalar_one_or_none()
        return _stored(row) if row is not None else None

    async def begin(
        self,
        platform: str,
        chat_id: str,
        user_id: str,
        person_id: int,
        kind: str,
        state: str,
        data: dict[str, Any],
        expires_at: datetime,
    ) -> StoredConversation:
        """Open a conversation, replacing whatever this person had open in this chat."""
        await self.session.execute(
            delete(ConversationRow).where(
                ConversationRow.platform == platform,
                ConversationRow.chat_id == chat_id,
                ConversationRow.user_id == user_id,
            )
        )
        row = ConversationRow(
            platform=platform,
            chat_id=chat_id,
            user_id=user_id,
            person_id=person_id,
            kind=kind,
            state=state,
            data=data,
            expires_at=expires_at,
            version=1,
        )
        self.session.add(row)
        await self.session.flush()
        self.begun.add((platform, chat_id, user_id))
        return _stored(row)

    async def save(
        self, conv_id: int, version: int, state: str, data: dict[str, Any], expires_at: datetime
    ) -> int:
        """Move a conversation on from `version`; its new version. StaleConversation when
        another step got there first."""
        result = await self.session.execute(
            update(ConversationRow)
            .where(ConversationRow.id == conv_id, ConversationRow.version == version)
            .values(state=state, data=data, expires_at=expires_at, version=version + 1)
        )
        if getattr(result, "rowcount", 0) != 1:
            raise StaleConversation(conv_id)
        return version + 1

    async def end(self, conv_id: int, version: int) -> None:
        """Close a conversation read at `version`; StaleConversation when it moved on."""
        result = await self.session.execute(
            delete(ConversationRow).where(
                ConversationRow.id == conv_id, ConversationRow.version == version
            )
        )
        if getattr(result, "rowcount", 0) != 1:
            raise StaleConversation(conv_id)

    async def expired(self, now: datetime, limit: int = 100) -> Sequence[StoredConversation]:
        """Conversations past their timeout, oldest first."""
        q = (
            select(ConversationRow)
            .where(ConversationRow.expires_at <= now)
            .order_by(ConversationRow.expires_at)
            .limit(limit)
        )
        return [_stored(r) for r in (await self.session.execute(q)).scalars().all()]

    async def of_person(self, person_id: int) -> Sequence[StoredConversation]:
        q = select(ConversationRow).where(ConversationRow.person_id == person_id)
        return [_stored(r) for r in (await self.session.execute(q)).scalars().all()]
