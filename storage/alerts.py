"""Queries about official messages: alerts, their targets, follow-ups, the outbox and Seen.

The outbox claim is the one place where several processes meet: on PostgreSQL it takes rows
by priority with `SELECT ... ORDER BY priority, id FOR UPDATE SKIP LOCKED`, so two workers
never claim the same row, and it takes back at once the rows of a process whose advisory lock
the server has freed (it died); SQLite serves one process, whose worker serialises its claims
itself. Recording a sent row is in storage/sent.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    and_,
    bindparam,
    column,
    exists,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

from storage.alert_writes import (
    CANCELLED,
    FAILED,
    NOTICE,
    PENDING,
    ROUTINE,
    SENDING,
    SENT,
    SETTLED,
    URGENT,
    AlertWrites,
    unsaved_alert,
    unsaved_followup,
)
from storage.tables import (
    Alert,
    AlertTarget,
    Bin,
    Delivery,
    FollowUp,
    Group,
    Zone,
)

# The delivery states and priorities, and the writes, are in storage/alert_writes.py; they
# are named here too, where the outbox's readers look for them.
__all__ = [
    "CANCELLED",
    "FAILED",
    "LIVE_STATES",
    "NOTICE",
    "PENDING",
    "ROUTINE",
    "SENDING",
    "SENT",
    "SETTLED",
    "URGENT",
    "AlertRepo",
    "Context",
    "unsaved_alert",
    "unsaved_followup",
]

# The advisory locks (bigint keys) held right now on this database, by any session: a claim
# whose `claim_lock` is not among them was made by a process that has gone.
_LIVE_LOCKS = text(
    "SELECT (l.classid::bigint << 32) | l.objid::bigint FROM pg_locks l "
    "WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
).columns(column("key", BigInteger()))

LIVE_STATES = ("active", "updated")


@dataclass
class Context:
    """What a claimed batch needs to be sent: its alerts, zones, groups and follow-ups."""

    alerts: dict[int, Alert] = field(default_factory=dict)
    zones: dict[int, Zone] = field(default_factory=dict)
    groups: dict[int, Group] = field(default_factory=dict)
    followups: dict[int, FollowUp] = field(default_factory=dict)
    # The language of each group's BIN where the BIN has its own (see Bin.language).
    bin_languages: dict[int, str] = field(default_factory=dict)


_BY_REF = select(Alert).where(Alert.ref == bindparam("ref"))  # built once: /check runs it often


class AlertRepo(AlertWrites):
    """Official-message queries over one session/transaction (what composing, following up
    and Seen write is in AlertWrites)."""

    # -- alerts ----------------------------------------------------------------------------

    async def alert(self, alert_id: int) -> Alert | None:
        return await self.session.get(Alert, alert_id)

    async def alert_by_ref(self, ref: str) -> Alert | None:
        """The alert with reference `ref` (exact, upper case)."""
        return (await self.session.execute(_BY_REF, {"ref": ref})).scalar_one_or_none()

    async def ref_taken(self, ref: str) -> bool:
        q = select(exists().where(Alert.ref == ref))
        return bool((await self.session.execute(q)).scalar())

    async def add(self, row: Any) -> Any:
        """Insert a row and flush so its id is known."""
        self.session.add(row)
        await self.session.flush()
        return row

    async def target_bins(self, alert_id: int) -> list[int]:
        q = select(AlertTarget.bin_id).where(AlertTarget.alert_id == alert_id)
        return sorted((await self.session.execute(q)).scalars().all())

    async def recent(self, zone_ids: Iterable[int], limit: int = 10) -> Sequence[Alert]:
        """The newest alerts of some zones."""
        q = (
            select(Alert)
            .where(Alert.zone_id.in_(list(zone_ids)))
            .order_by(Alert.created_at.desc(), Alert.id.desc())
            .limit(limit)
        )
        return (await self.session.execute(q)).scalars().all()

    async def followups(self, alert_id: int) -> Sequence[FollowUp]:
        q = select(FollowUp).where(FollowUp.alert_id == alert_id).order_by(FollowUp.id)
        return (await self.session.execute(q)).scalars().all()

    async def expire(self, now: datetime) -> int:
        """Mark live alerts past their validity as expired; returns how many."""
        result = await self.session.execute(
            update(Alert)
            .where(Alert.state.in_(LIVE_STATES), Alert.valid_until <= now)
            .values(state="expired")
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def due_followup_reminders(
        self, created_before: datetime, created_after: datetime
    ) -> Sequence[Alert]:
        """Urgent alerts old enough for a follow-up reminder, not reminded, without follow-up."""
        has_followup = exists().where(FollowUp.alert_id == Alert.id)
        q = (
            select(Alert)
            .where(
                Alert.urgency == "urgent",
                Alert.followup_reminded_at.is_(None),
                Alert.created_at <= created_before,
                Alert.created_at > created_after,
                Alert.state.in_((*LIVE_STATES, "expired")),
                ~has_followup,
            )
            .order_by(Alert.id)
        )
        return (await self.session.execute(q)).scalars().all()

    async def mark_reminded(self, alert_id: int, now: datetime) -> bool:
        """Claim the follow-up reminder of an alert; only one caller ever wins."""
        result = await self.session.execute(
            update(Alert)
            .where(Alert.id == alert_id, Alert.followup_reminded_at.is_(None))
            .values(followup_reminded_at=now)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def finalise_receipt(self, alert_id: int, now: datetime) -> bool:
        """Claim the final receipt of an alert (platforms without edit); one caller wins."""
        result = await self.session.execute(
            update(Alert)
            .where(Alert.id == alert_id, Alert.receipt_final_at.is_(None))
            .values(receipt_final_at=now)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    # -- outbox ----------------------------------------------------------------------------

    async def deliveries(self, alert_id: int) -> Sequence[Delivery]:
        q = select(Delivery).where(Delivery.alert_id == alert_id).order_by(Delivery.id)
        return (await self.session.execute(q)).scalars().all()

    async def originals(self, alert_id: int) -> Sequence[Delivery]:
        """The deliveries of the message itself (not of its follow-ups)."""
        q = (
            select(Delivery)
            .where(Delivery.alert_id == alert_id, Delivery.followup_id.is_(None))
            .order_by(Delivery.id)
        )
        return (await self.session.execute(q)).scalars().all()

    async def original_in(self, alert_id: int, group_id: int) -> Delivery | None:
        q = select(Delivery).where(
            Delivery.alert_id == alert_id,
            Delivery.followup_id.is_(None),
            Delivery.group_id == group_id,
        )
        return (await self.session.execute(q)).scalars().first()

    async def delivery_by_message(
        self, platform: str, chat_id: str, message_id: str
    ) -> Delivery | None:
        """The delivery of an official message by the id the platform gave it."""
        q = select(Delivery).where(
            Delivery.platform == platform,
            Delivery.chat_id == chat_id,
            Delivery.platform_message_id == message_id,
            Delivery.followup_id.is_(None),
        )
        return (await self.session.execute(q)).scalars().first()

    async def cancel_unsent(self, alert_id: int) -> int:
        """A withdrawn message that has not gone out yet never will (pending rows only)."""
        result = await self.session.execute(
            update(Delivery)
            .where(Delivery.alert_id == alert_id, Delivery.status == PENDING)
            .values(status=CANCELLED, error="withdrawn")
        )
        return int(getattr(result, "rowcount", 0) or 0)

    def _due(self, now: datetime, stale_before: datetime, own: int | None) -> ColumnElement[bool]:
        stuck: list[ColumnElement[bool]] = [Delivery.claimed_at < stale_before]
        if self._postgres:  # its process has gone: its lock is free
            gone: list[ColumnElement[bool]] = [
                Delivery.claim_lock.is_not(None),
                Delivery.claim_lock.not_in(_LIVE_LOCKS),
            ]
            if own is not None:  # never our own rows in hand, even while our lock is lost
                gone.append(Delivery.claim_lock != own)
            stuck.append(and_(*gone))
        return or_(
            and_(Delivery.status == PENDING, Delivery.next_attempt_at <= now),
            and_(Delivery.status == SENDING, or_(*stuck)),
        )

    async def claim(
        self,
        now: datetime,
        token: str,
        limit: int,
        stale_before: datetime,
        platforms: Sequence[str],
        *,
        lock: int | None = None,
        below: int | None = None,
        own: int | None = None,
    ) -> list[Delivery]:
        """Mark up to `limit` due rows `sending` for `token` and return them, in the order
        they are to go: by priority, then oldest first; only rows more urgent than `below`
        if given.

        Due: pending and past `next_attempt_at`; or `sending` for a process that has gone
        (PostgreSQL: the advisory lock of its `claim_lock` is free; the claiming process
        holds `lock`), or since before `stale_before` (the lease, a last resort). Rows
        stamped with `own` (the claiming worker's key: its rows in hand) are never taken back
        for a free lock, even while that worker has lost its lock's connection.
        """
        due = self._due(now, stale_before, own if own is not None else lock)
        if below is not None:
            due = and_(due, Delivery.priority < below)
        q = (
            select(Delivery.id)
            .where(due, Delivery.platform.in_(list(platforms)))
            .order_by(Delivery.priority, Delivery.id)
            .limit(limit)
        )
        claimed = {
            "status": SENDING,
            "claimed_by": token,
            "claimed_at": now,
            "claim_lock": lock,
            "attempts": Delivery.attempts + 1,
        }
        if self._postgres:
            # One round trip: lock the due rows other workers have not locked, mark them.
            stmt = (
                update(Delivery)
                .where(Delivery.id.in_(q.with_for_update(skip_locked=True).scalar_subquery()))
                .values(**claimed)
                .returning(Delivery)
                .execution_options(synchronize_session=False, populate_existing=True)
            )
            won = list((await self.session.execute(stmt)).scalars().all())
            return sorted(won, key=lambda d: (d.priority, d.id))
        # Without row locks (SQLite) another claim may win every row just seen: look again.
        for _ in range(3):
            ids = list((await self.session.execute(q)).scalars().all())
            if not ids:
                return []
            await self.session.execute(
                update(Delivery)
                .where(Delivery.id.in_(ids), due)
                .values(**claimed)
                .execution_options(synchronize_session=False)
            )
            rows = select(Delivery).where(Delivery.id.in_(ids), Delivery.claimed_by == token)
            ordered = rows.order_by(Delivery.priority, Delivery.id)
            won = list((await self.session.execute(ordered)).scalars().all())
            if won:
                return won
        return []

    async def context(self, rows: Sequence[Delivery]) -> Context:
        """The alerts (with their zones), groups and follow-ups of a claimed batch."""
        ctx = Context()
        alert_ids = sorted({r.alert_id for r in rows})
        if alert_ids:
            pairs = select(Alert, Zone).join(Zone, Zone.id == Alert.zone_id)
            for alert, zone in await self.session.execute(pairs.where(Alert.id.in_(alert_ids))):
                ctx.alerts[alert.id], ctx.zones[zone.id] = alert, zone
        group_ids = sorted({r.group_id for r in rows})
        if group_ids:
            groups = (
                select(Group, Bin.language)
                .join(Bin, Bin.id == Group.bin_id)
                .where(Group.id.in_(group_ids))
            )
            for g, lang in await self.session.execute(groups):
                ctx.groups[g.id] = g
                if lang:
                    ctx.bin_languages[g.bin_id] = lang
        fu_ids = sorted({r.followup_id for r in rows if r.followup_id is not None})
        if fu_ids:
            fus = select(FollowUp).where(FollowUp.id.in_(fu_ids))
            ctx.followups = {f.id: f for f in (await self.session.execute(fus)).scalars()}
        return ctx

    async def _settle(self, delivery_id: int, token: str, **values: Any) -> bool:
        result = await self.session.execute(
            update(Delivery)
            .where(
                Delivery.id == delivery_id,
                Delivery.status == SENDING,
                Delivery.claimed_by == token,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def record_part(
        self,
        delivery_id: int,
        token: str,
        *,
        photo_message_id: str | None = None,
        text_message_id: str | None = None,
    ) -> bool:
        """A part of a two-part delivery (a photo, then its text) went out: noted at once, so
        that a retry after a crash sends only what is missing. The row stays `sending`."""
        values: dict[str, Any] = {}
        if photo_message_id is not None:
            values["platform_message_id"] = photo_message_id
        if text_message_id is not None:
            values["text_message_id"] = text_message_id
        result = await self.session.execute(
            update(Delivery)
            .where(
                Delivery.id == delivery_id,
                Delivery.status == SENDING,
                Delivery.claimed_by == token,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def mark_failed(
        self, delivery_id: int, token: str, reason: str, *, status: str = FAILED
    ) -> bool:
        """Record a permanent failure (or a cancellation) with its reason."""
        return await self._settle(delivery_id, token, status=status, error=reason[:255])

    async def retry_at(
        self, delivery_id: int, token: str, at: datetime, reason: str | None, *, count: bool
    ) -> bool:
        """Put a claimed row back for later; `count` False does not spend an attempt."""
        values: dict[str, Any] = {
            "status": PENDING,
            "next_attempt_at": at,
            "claimed_by": None,
            "claim_lock": None,
        }
        if reason is not None:
            values["error"] = reason[:255]
        if not count:
            values["attempts"] = Delivery.attempts - 1
        return await self._settle(delivery_id, token, **values)

    async def requeue_stale(self, stale_before: datetime, now: datetime) -> int:
        """Give rows stuck in `sending` past the lease back to the queue."""
        return await self._requeue(Delivery.claimed_at < stale_before, now)

    async def take_back(self, now: datetime, platforms: Sequence[str]) -> int:
        """Give every `sending` row of these platforms back to the queue: what a single
        process (SQLite) left there when it died, taken back as it starts again."""
        return await self._requeue(Delivery.platform.in_(list(platforms)), now)

    async def _requeue(self, which: ColumnElement[bool], now: datetime) -> int:
        result = await self.session.execute(
            update(Delivery)
            .where(Delivery.status == SENDING, which)
            .values(status=PENDING, next_attempt_at=now, claimed_by=None, claim_lock=None)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def next_due(self, platforms: Sequence[str]) -> datetime | None:
        """When the earliest pending row falls due."""
        q = select(func.min(Delivery.next_attempt_at)).where(
            Delivery.status == PENDING, Delivery.platform.in_(list(platforms))
        )
        return (await self.session.execute(q)).scalar()

    async def figures(self, alert_id: int) -> list[tuple[int | None, str, str, str | None, int]]:
        """(followup id, platform, status, error, count) for every delivery of an alert."""
        q = (
            select(
                Delivery.followup_id,
                Delivery.platform,
                Delivery.status,
                Delivery.error,
                func.count(),
            )
            .where(Delivery.alert_id == alert_id)
            .group_by(Delivery.followup_id, Delivery.platform, Delivery.status, Delivery.error)
        )
        return [tuple(r) for r in (await self.session.execute(q)).all()]  # type: ignore[misc]

    # -- groups, as the outbox needs them ---------------------------------------------------

    async def group(self, group_id: int) -> Group | None:
        return await self.session.get(Group, group_id)

    async def zone(self, zone_id: int) -> Zone | None:
        return await self.session.get(Zone, zone_id)

    async def move_group(self, group_id: int, platform: str, new_chat_id: str) -> bool:
        """Follow a group to its new chat id; False when another row holds that id already."""
        taken = select(exists().where(Group.platform == platform, Group.chat_id == new_chat_id))
        if (await self.session.execute(taken)).scalar():
            return False
        await self.session.execute(
            update(Group)
            .where(Group.id == group_id)
            .values(chat_id=new_chat_id)
            .execution_options(synchronize_session=False)
        )
        return True
