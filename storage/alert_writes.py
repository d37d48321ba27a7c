"""What composing an official message, following it up and a Seen press write: the
alert, its targets, its follow-ups, the outbox rows (with their priority) and Seen marks.
`AlertRepo` (storage/alerts.py) has these with the outbox's queries."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.seen import seen_mark
from storage.tables import (
    Alert,
    AlertTarget,
    Delivery,
    FollowUp,
    Group,
    Seen,
)

# What a Seen press did (AlertWrites.add_seen).
SeenOutcome = Literal["counted", "already", "closed"]

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
CANCELLED = "cancelled"
SETTLED = (SENT, FAILED, CANCELLED)

# The outbox is claimed in this order, first in first out within one priority.
URGENT = 0  # urgent official messages and their follow-ups
NOTICE = 1  # non-urgent notices and their follow-ups
ROUTINE = 2  # welcomes, reminders and other routine posts


class AlertWrites:
    """Writes about official messages over one session/transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def _postgres(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    # -- seen ------------------------------------------------------------------------------

    async def add_seen(self, alert_id: int, person_id: int, now: datetime) -> SeenOutcome:
        """Count a person once per current alert: "counted" the first time, "already" when
        they were counted already, "closed" when the message is no longer current (withdrawn,
        or its marks and key are gone: see Seen)."""
        q = select(Alert.seen_key, Alert.state, Alert.valid_until).where(Alert.id == alert_id)
        found = (await self.session.execute(q)).one_or_none()
        if found is None:
            return "closed"
        key, state, valid_until = found
        if state == "withdrawn":
            return "closed"
        if key is None:
            if valid_until <= now:
                return "closed"
            # The first press makes the key; a racing first press finds it made (the WHERE).
            await self.session.execute(
                update(Alert)
                .where(Alert.id == alert_id, Alert.seen_key.is_(None))
                .values(seen_key=secrets.token_hex(32))
                .execution_options(synchronize_session=False)
            )
            made = select(Alert.seen_key).where(Alert.id == alert_id)
            key = (await self.session.execute(made)).scalar_one()
            if key is None:
                return "closed"
        dialect = postgresql if self._postgres else sqlite
        stmt = (
            dialect.insert(Seen)
            .values(alert_id=alert_id, mark=seen_mark(key, person_id))
            .on_conflict_do_nothing()
        )
        result = await self.session.execute(stmt)
        if getattr(result, "rowcount", 0) != 1:
            return "already"
        await self.session.execute(
            update(Alert)
            .where(Alert.id == alert_id)
            .values(seen_count=Alert.seen_count + 1)
            .execution_options(synchronize_session=False)
        )
        return "counted"

    async def seen_count(self, alert_id: int) -> int:
        """How many people marked the message as seen (kept after the marks are gone)."""
        q = select(Alert.seen_count).where(Alert.id == alert_id)
        return int((await self.session.execute(q)).scalar() or 0)

    # -- composing and following up (bot/services/alerts.py) ------------------------------

    async def add_alert(self, **values: Any) -> Alert:
        """Insert an official message (columns of `Alert`); its id is known on return."""
        row = Alert(**values)
        self.session.add(row)
        await self.session.flush()
        return row

    async def add_targets(self, alert_id: int, bin_ids: Iterable[int]) -> None:
        """Record the BINs an official message is addressed to."""
        self.session.add_all(AlertTarget(alert_id=alert_id, bin_id=b) for b in bin_ids)

    async def add_followup(
        self,
        alert_id: int,
        kind: str,
        text: str | None,
        author_id: int,
        now: datetime,
        *,
        photo_id: int | None = None,
    ) -> FollowUp:
        """Insert an update, all-clear or withdrawal; its id is known on return."""
        row = FollowUp(
            alert_id=alert_id,
            kind=kind,
            text=text,
            author_id=author_id,
            created_at=now,
            photo_id=photo_id,
        )
        self.session.add(row)
        await self.session.flush()
        return row

    async def queue(
        self,
        alert_id: int,
        followup_id: int | None,
        groups: Iterable[Group],
        due: datetime,
        now: datetime,
        *,
        priority: int,
    ) -> int:
        """One pending delivery per group (the outbox rows), due at `due`, claimed in order of
        `priority` (URGENT first); returns how many."""
        rows = [
            Delivery(
                alert_id=alert_id,
                followup_id=followup_id,
                group_id=g.id,
                platform=g.platform,
                chat_id=g.chat_id,
                status=PENDING,
                priority=priority,
                attempts=0,
                next_attempt_at=due,
                created_at=now,
            )
            for g in groups
        ]
        self.session.add_all(rows)
        await self.session.flush()
        return len(rows)

    async def set_receipt_message(self, alert_id: int, message_id: str) -> None:
        """Remember the platform id of the author's receipt (to edit it later)."""
        await self.session.execute(
            update(Alert)
            .where(Alert.id == alert_id)
            .values(receipt_message_id=message_id)
            .execution_options(synchronize_session=False)
        )


def unsaved_alert(**values: Any) -> Alert:
    """An alert that is never stored: to preview or measure a message before it exists."""
    return Alert(**values)


def unsaved_followup(**values: Any) -> FollowUp:
    """A follow-up that is never stored: to measure its frame."""
    return FollowUp(**values)
