"""The desk's queries: login links and sessions, and the aggregates its pages show.

Every figure is one grouped statement over the BINs or zones a page covers, so a page costs
a handful of statements whatever the number of groups, members or messages behind it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.tables import (
    Alert,
    AlertTarget,
    Delivery,
    DeskLogin,
    DeskSession,
    Group,
    Identity,
    JoinRequest,
    Membership,
    Seen,
)

LIVE = ("active", "updated")


@dataclass(frozen=True)
class LoginTaken:
    """The outcome of opening a login link: `person_id` set when it is good."""

    reason: str  # "ok", "unknown", "used", "expired"
    person_id: int | None = None
    language: str | None = None


@dataclass(frozen=True)
class AlertFilter:
    """What the message list is narrowed to; None means any."""

    bin_id: int | None = None
    category: str | None = None
    urgency: str | None = None
    state: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class DeliveryRow:
    """One delivery of a message or follow-up, as the desk shows it."""

    followup_id: int | None
    group_id: int
    title: str
    platform: str
    status: str
    error: str | None
    sent_at: datetime | None


class DeskRepo:
    """Login links, sessions, and the desk's figures."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- login links -------------------------------------------------------------------------

    async def add_login(
        self, token_hash: str, person_id: int, language: str, now: datetime, expires: datetime
    ) -> None:
        """Keep the hash of a new one-time link."""
        self.session.add(
            DeskLogin(
                token_hash=token_hash,
                person_id=person_id,
                language=language,
                created_at=now,
                expires_at=expires,
            )
        )

    async def logins_since(self, person_id: int, since: datetime) -> int:
        """How many links a person asked for since `since` (the rate limit)."""
        q = select(func.count()).where(
            DeskLogin.person_id == person_id, DeskLogin.created_at >= since
        )
        return int((await self.session.execute(q)).scalar_one())

    async def take_login(self, token_hash: str, now: datetime) -> LoginTaken:
        """Use a link once: a conditional update, so two tabs racing on it get one session."""
        row = (
            await self.session.execute(select(DeskLogin).where(DeskLogin.token_hash == token_hash))
        ).scalar_one_or_none()
        if row is None:
            return LoginTaken("unknown")
        if row.used_at is not None:
            return LoginTaken("used", row.person_id)
        if row.expires_at <= now:
            return LoginTaken("expired", row.person_id)
        q = (
            update(DeskLogin)
            .where(DeskLogin.id == row.id, DeskLogin.used_at.is_(None))
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        if (await self.session.execute(q)).rowcount != 1:  # type: ignore[attr-defined]
            return LoginTaken("used", row.person_id)
        return LoginTaken("ok", row.person_id, row.language)

    # -- sessions ----------------------------------------------------------------------------

    async def add_session(
        self, token_hash: str, csrf: str, person_id: int, language: str | None, now: datetime
    ) -> None:
        """Keep a new session (the hash of its cookie)."""
        self.session.add(
            DeskSession(
                token_hash=token_hash,
                csrf=csrf,
                person_id=person_id,
                language=language,
                created_at=now,
                last_seen_at=now,
            )
        )

    async def session_by_hash(self, token_hash: str) -> DeskSession | None:
        q = select(DeskSession).where(DeskSession.token_hash == token_hash)
        return (await self.session.execute(q)).scalar_one_or_none()

    async def touch(self, session_id: int, now: datetime) -> None:
        """Note that a session was used now (its idle clock starts again)."""
        q = update(DeskSession).where(DeskSession.id == session_id).values(last_seen_at=now)
        await self.session.execute(q.execution_options(synchronize_session=False))

    async def set_language(self, session_id: int, language: str) -> None:
        q = update(DeskSession).where(DeskSession.id == session_id).values(language=language)
        await self.session.execute(q.execution_options(synchronize_session=False))

    async def end_session(self, session_id: int) -> None:
        await self.session.execute(delete(DeskSession).where(DeskSession.id == session_id))

    async def end_sessions_of(self, person_id: int) -> int:
        """End every session of a person; how many there were."""
        q = delete(DeskSession).where(DeskSession.person_id == person_id)
        return int((await self.session.execute(q)).rowcount)  # type: ignore[attr-defined]

    async def sweep(self, idle_before: datetime, links_before: datetime) -> int:
        """Forget idle sessions and old links; how many rows went."""
        a = await self.session.execute(
            delete(DeskSession).where(DeskSession.last_seen_at < idle_before)
        )
        b = await self.session.execute(
            delete(DeskLogin).where(DeskLogin.expires_at < links_before)
        )
        return int(a.rowcount) + int(b.rowcount)  # type: ignore[attr-defined]

    # -- the overview ------------------------------------------------------------------------

    async def groups_per_platform(self, bin_ids: Sequence[int]) -> list[tuple[int, str, int]]:
        """(BIN, platform, active groups)."""
        q = (
            select(Group.bin_id, Group.platform, func.count())
            .where(Group.bin_id.in_(list(bin_ids)), Group.active.is_(True))
            .group_by(Group.bin_id, Group.platform)
        )
        return [(int(b), str(p), int(n)) for b, p, n in (await self.session.execute(q)).all()]

    async def member_counts(self, bin_ids: Sequence[int]) -> dict[int, int]:
        q = (
            select(Membership.bin_id, func.count())
            .where(Membership.bin_id.in_(list(bin_ids)), Membership.status == "active")
            .group_by(Membership.bin_id)
        )
        return {int(b): int(n) for b, n in (await self.session.execute(q)).all()}

    async def pending_counts(self, bin_ids: Sequence[int]) -> dict[int, int]:
        q = (
            select(JoinRequest.bin_id, func.count())
            .where(JoinRequest.bin_id.in_(list(bin_ids)), JoinRequest.status == "pending")
            .group_by(JoinRequest.bin_id)
        )
        return {int(b): int(n) for b, n in (await self.session.execute(q)).all()}

    async def expiring_requests(
        self, bin_ids: Sequence[int], before: datetime
    ) -> Sequence[JoinRequest]:
        """Pending requests that expire before `before`, soonest first."""
        q = (
            select(JoinRequest)
            .where(
                JoinRequest.bin_id.in_(list(bin_ids)),
                JoinRequest.status == "pending",
                JoinRequest.expires_at < before,
            )
            .order_by(JoinRequest.expires_at)
            .limit(50)
        )
        return (await self.session.execute(q)).scalars().all()

    async def messages_per_bin(self, bin_ids: Sequence[int], since: datetime) -> dict[int, int]:
        """Official messages addressed to each BIN since `since`."""
        q = (
            select(AlertTarget.bin_id, func.count())
            .join(Alert, Alert.id == AlertTarget.alert_id)
            .where(AlertTarget.bin_id.in_(list(bin_ids)), Alert.created_at >= since)
            .group_by(AlertTarget.bin_id)
        )
        return {int(b): int(n) for b, n in (await self.session.execute(q)).all()}

    async def lost_groups(self, bin_ids: Sequence[int]) -> Sequence[Group]:
        """Groups that stopped being BIN groups because the bot was removed from them."""
        q = (
            select(Group)
            .where(
                Group.bin_id.in_(list(bin_ids)),
                Group.active.is_(False),
                Group.inactive_reason.notin_(("unlinked", "migrated")),
            )
            .order_by(Group.unlinked_at.desc())
            .limit(50)
        )
        return (await self.session.execute(q)).scalars().all()

    async def failed_deliveries(
        self, zone_ids: Sequence[int], since: datetime
    ) -> list[tuple[int, str, int]]:
        """(message id, reference, failed deliveries) of the zones' recent messages."""
        q = (
            select(Alert.id, Alert.ref, func.count())
            .join(Delivery, Delivery.alert_id == Alert.id)
            .where(
                Alert.zone_id.in_(list(zone_ids)),
                Alert.created_at >= since,
                Delivery.status == "failed",
            )
            .group_by(Alert.id, Alert.ref)
            .order_by(Alert.id.desc())
            .limit(50)
        )
        return [(int(i), str(r), int(n)) for i, r, n in (await self.session.execute(q)).all()]

    # -- official messages -------------------------------------------------------------------

    def _filtered(self, zone_ids: Sequence[int], f: AlertFilter, now: datetime) -> Any:
        where: list[Any] = [Alert.zone_id.in_(list(zone_ids))]
        if f.bin_id is not None:
            where.append(
                Alert.id.in_(select(AlertTarget.alert_id).where(AlertTarget.bin_id == f.bin_id))
            )
        if f.category:
            where.append(Alert.category == f.category)
        if f.urgency:
            where.append(Alert.urgency == f.urgency)
        if f.since is not None:
            where.append(Alert.created_at >= f.since)
        if f.until is not None:
            where.append(Alert.created_at < f.until)
        if f.state == "expired":
            where.append(and_(Alert.state.in_(LIVE), Alert.valid_until <= now))
        elif f.state in LIVE:
            where.append(and_(Alert.state == f.state, Alert.valid_until > now))
        elif f.state:
            where.append(Alert.state == f.state)
        return and_(*where)

    async def alert_page(
        self, zone_ids: Sequence[int], f: AlertFilter, now: datetime, offset: int, limit: int
    ) -> tuple[Sequence[Alert], int]:
        """One page of the zones' messages, newest first, and how many match in all."""
        where = self._filtered(zone_ids, f, now)
        q = (
            select(Alert)
            .where(where)
            .order_by(Alert.created_at.desc(), Alert.id.desc())
            .offset(offset)
            .limit(limit)
        )
        rows = (await self.session.execute(q)).scalars().all()
        total = (await self.session.execute(select(func.count()).where(where))).scalar_one()
        return rows, int(total)

    async def delivery_counts(self, alert_ids: Sequence[int]) -> dict[int, dict[str, int]]:
        """Per message (not its follow-ups): how many deliveries are in each status."""
        q = (
            select(Delivery.alert_id, Delivery.status, func.count())
            .where(Delivery.alert_id.in_(list(alert_ids)), Delivery.followup_id.is_(None))
            .group_by(Delivery.alert_id, Delivery.status)
        )
        out: dict[int, dict[str, int]] = {}
        for alert_id, status, n in (await self.session.execute(q)).all():
            out.setdefault(int(alert_id), {})[str(status)] = int(n)
        return out

    async def seen_counts(self, alert_ids: Sequence[int]) -> dict[int, int]:
        q = (
            select(Seen.alert_id, func.count())
            .where(Seen.alert_id.in_(list(alert_ids)))
            .group_by(Seen.alert_id)
        )
        return {int(a): int(n) for a, n in (await self.session.execute(q)).all()}

    async def deliveries(self, alert_id: int) -> list[DeliveryRow]:
        """Every delivery of a message and its follow-ups, with the group's title."""
        q = (
            select(
                Delivery.followup_id,
                Delivery.group_id,
                Group.title,
                Delivery.platform,
                Delivery.status,
                Delivery.error,
                Delivery.sent_at,
            )
            .join(Group, Group.id == Delivery.group_id)
            .where(Delivery.alert_id == alert_id)
            .order_by(Delivery.followup_id.is_not(None), Delivery.followup_id, Group.title)
        )
        return [DeliveryRow(*row) for row in (await self.session.execute(q)).all()]

    # -- coordinators ------------------------------------------------------------------------

    async def groups_of(self, bin_ids: Sequence[int]) -> Sequence[Group]:
        """Every group of some BINs, active ones first."""
        q = (
            select(Group)
            .where(Group.bin_id.in_(list(bin_ids)))
            .order_by(Group.active.desc(), Group.title)
        )
        return (await self.session.execute(q)).scalars().all()

    async def member_page(
        self, bin_ids: Sequence[int], offset: int, limit: int
    ) -> tuple[list[tuple[int, int, str, datetime]], int]:
        """(membership id, BIN, display name, joined) of active members, and the total."""
        where = and_(Membership.bin_id.in_(list(bin_ids)), Membership.status == "active")
        name = (
            select(func.min(Identity.display_name))
            .where(Identity.person_id == Membership.person_id)
            .scalar_subquery()
        )
        q = (
            select(Membership.id, Membership.bin_id, name, Membership.joined_at)
            .where(where)
            .order_by(Membership.joined_at.desc(), Membership.id.desc())
            .offset(offset)
            .limit(limit)
        )
        rows = [
            (int(i), int(b), str(n or "?"), j)
            for i, b, n, j in (await self.session.execute(q)).all()
        ]
        total = (
            await self.session.execute(select(func.count()).select_from(Membership).where(where))
        ).scalar_one()
        return rows, int(total)
