"""The retention rules as statements: what each rule deletes, in windows of the table's key.

Each rule (bot/register.py names and explains them) is a `Step`: a table, the integer key it
is walked by, and the condition of the rows whose time has come. The retention job
(bot/services/retention.py) walks each table's key in windows, one short transaction per
window, so that neither SQLite's write lock nor the event loop is held for long and a run
cut short by a restart loses nothing: the next run goes on. Rows of months whose figures are
not final yet (storage/figures.py) are never deleted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import delete, exists, func, null, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from storage.figures import OPEN_STATUSES, first_open_month, month_name
from storage.tables import (
    Alert,
    AuditEntry,
    Bin,
    ConversationRow,
    Delivery,
    DeskLogin,
    DeskSession,
    FollowUp,
    Group,
    Identity,
    Invite,
    JoinRequest,
    Membership,
    MonthlyFigure,
    Person,
    Reminder,
    RequestCopy,
    RoleGrant,
    Seen,
    Zone,
)


class Retention(Protocol):
    """The periods the rules need, in days (bot.register.Retention is one)."""

    @property
    def seen_days(self) -> int: ...
    @property
    def requests_days(self) -> int: ...
    @property
    def ended_days(self) -> int: ...
    @property
    def inactive_days(self) -> int: ...
    @property
    def invites_days(self) -> int: ...
    @property
    def deliveries_days(self) -> int: ...
    @property
    def groups_days(self) -> int: ...
    @property
    def reminders_days(self) -> int: ...
    @property
    def audit_days(self) -> int: ...
    @property
    def figures_days(self) -> int: ...


SETTLED = ("sent", "failed", "cancelled")
# A desk session unused this long is refused long before (its idle limit is hours): the row
# then only says when someone last used the desk.
DESK_SESSION_DAYS = 7
CONVERSATION_MARGIN = timedelta(days=1)  # the sweep job ends them (and tells the person) first


@dataclass(frozen=True)
class When:
    """The moment of a run and the periods in force."""

    now: datetime
    rules: Retention
    longest_reminder_days: int = 0

    def before(self, days: float) -> datetime:
        return self.now - timedelta(days=days)

    def counted_before(self, days: float) -> datetime:
        """Like `before`, but never into a month whose figures are not final."""
        return min(self.before(days), first_open_month(self.now))


Hook = Callable[[AsyncSession, list[int]], Awaitable[None]]


@dataclass(frozen=True)
class Step:
    """One rule: rows of `table` whose `key` is in a window and that match `where`."""

    name: str
    table: Any
    key: Any
    where: Callable[[When], ColumnElement[bool]]
    window: int = 1000
    before_delete: Hook | None = None


def _not_current(when: When, grace_days: float = 0) -> ColumnElement[bool]:
    """Alerts that are no longer current (withdrawn, or past their validity and `grace`)."""
    return or_(Alert.state == "withdrawn", Alert.valid_until <= when.before(grace_days))


async def _drop_copies(session: AsyncSession, ids: list[int]) -> None:
    await session.execute(delete(RequestCopy).where(RequestCopy.request_id.in_(ids)))


async def _unlink_invites(session: AsyncSession, ids: list[int]) -> None:
    await session.execute(
        update(RoleGrant).where(RoleGrant.invite_id.in_(ids)).values(invite_id=None)
    )


async def _free_groups(session: AsyncSession, ids: list[int]) -> None:
    await session.execute(delete(Reminder).where(Reminder.group_id.in_(ids)))
    await session.execute(
        update(JoinRequest).where(JoinRequest.group_id.in_(ids)).values(group_id=None)
    )


async def _erase_people(session: AsyncSession, ids: list[int]) -> None:
    """What names the people about to be erased: their accounts, and links to them."""
    await session.execute(delete(Identity).where(Identity.person_id.in_(ids)))
    for column in (
        Group.linked_by,
        JoinRequest.decided_by,
        Invite.used_by,
        Alert.author_id,
        FollowUp.author_id,
    ):
        await session.execute(
            update(column.class_).where(column.in_(ids)).values({column.key: None})
        )


def _has(column: Any) -> ColumnElement[bool]:
    """Whether a row of `column`'s table refers to the person."""
    return exists().where(column == Person.id).correlate(Person)


STEPS: tuple[Step, ...] = (
    Step(
        "desk_logins",
        DeskLogin,
        DeskLogin.id,
        lambda w: DeskLogin.expires_at < w.now - CONVERSATION_MARGIN,
    ),
    Step(
        "desk_sessions",
        DeskSession,
        DeskSession.id,
        lambda w: DeskSession.last_seen_at < w.now - timedelta(days=DESK_SESSION_DAYS),
    ),
    Step(
        "conversations",
        ConversationRow,
        ConversationRow.id,
        lambda w: ConversationRow.expires_at < w.now - CONVERSATION_MARGIN,
    ),
    Step(
        "request_copies",
        RequestCopy,
        RequestCopy.id,
        lambda w: RequestCopy.request_id.in_(
            select(JoinRequest.id).where(JoinRequest.status.not_in(OPEN_STATUSES))
        ),
    ),
    Step(
        "seen",
        Seen,
        Seen.alert_id,
        lambda w: Seen.alert_id.in_(select(Alert.id).where(_not_current(w, w.rules.seen_days))),
        window=100,
    ),
    Step(
        "join_requests",
        JoinRequest,
        JoinRequest.id,
        lambda w: (
            JoinRequest.status.not_in(OPEN_STATUSES)
            & (
                func.coalesce(JoinRequest.decided_at, JoinRequest.expires_at)
                < w.counted_before(w.rules.requests_days)
            )
        ),
        before_delete=_drop_copies,
    ),
    Step(
        "memberships",
        Membership,
        Membership.id,
        lambda w: (
            (Membership.status != "active")
            & (
                func.coalesce(Membership.ended_at, Membership.joined_at)
                < w.counted_before(w.rules.ended_days)
            )
        ),
    ),
    Step(
        "role_grants",
        RoleGrant,
        RoleGrant.id,
        lambda w: RoleGrant.revoked_at < w.before(w.rules.ended_days),
    ),
    Step(
        "invites",
        Invite,
        Invite.id,
        lambda w: (
            func.coalesce(Invite.used_at, Invite.revoked_at, Invite.expires_at)
            < w.before(w.rules.invites_days)
        ),
        before_delete=_unlink_invites,
    ),
    Step(
        "deliveries",
        Delivery,
        Delivery.id,
        lambda w: (
            Delivery.status.in_(SETTLED)
            & (Delivery.created_at < w.counted_before(w.rules.deliveries_days))
            & Delivery.alert_id.in_(select(Alert.id).where(_not_current(w)))
        ),
        window=2000,
    ),
    Step(
        "groups",
        Group,
        Group.id,
        lambda w: (
            Group.active.is_(False)
            & (Group.unlinked_at < w.before(w.rules.groups_days))
            & ~exists().where(Delivery.group_id == Group.id)
        ),
        before_delete=_free_groups,
    ),
    Step(
        "reminders",
        Reminder,
        Reminder.group_id,
        lambda w: (
            Reminder.posted_at < w.before(max(w.rules.reminders_days, w.longest_reminder_days + 1))
        ),
    ),
    Step(
        "persons",
        Person,
        Person.id,
        lambda w: (
            (
                func.coalesce(Person.last_seen_at, Person.created_at)
                < w.before(w.rules.inactive_days)
            )
            & ~_has(Membership.person_id)
            & ~_has(RoleGrant.person_id)
            & ~_has(JoinRequest.person_id)
            & ~_has(ConversationRow.person_id)
        ),
        before_delete=_erase_people,
    ),
    Step(
        "audit_log",
        AuditEntry,
        AuditEntry.id,
        lambda w: AuditEntry.at < w.before(w.rules.audit_days),
        window=5000,
    ),
    Step(
        "monthly_figures",
        MonthlyFigure,
        MonthlyFigure.bin_id,
        lambda w: MonthlyFigure.month < month_name(w.before(w.rules.figures_days)),
    ),
)
STEP_NAMES = tuple(s.name for s in STEPS)


class RetentionRepo:
    """The retention rules over one session/transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def when(self, now: datetime, rules: Retention) -> When:
        """The moment of a run, with the longest reminder period of any zone or BIN."""
        zones = (await self.session.execute(select(func.max(Zone.reminder_days)))).scalar()
        bins = (await self.session.execute(select(func.max(Bin.reminder_days)))).scalar()
        return When(now, rules, max(int(zones or 0), int(bins or 0)))

    async def key_range(self, step: str) -> tuple[int, int] | None:
        """The lowest and highest key of a step's table (None when it is empty)."""
        s = _step(step)
        low, high = (await self.session.execute(select(func.min(s.key), func.max(s.key)))).one()
        return None if low is None else (int(low), int(high))

    async def purge_window(self, step: str, when: When, low: int, high: int) -> int:
        """Delete the step's due rows with `low <= key < high`; how many went."""
        s = _step(step)
        in_window = (s.key >= low) & (s.key < high) & s.where(when)
        ids = list((await self.session.execute(select(s.key).where(in_window))).scalars())
        if not ids:
            return 0
        if s.before_delete is not None:
            await s.before_delete(self.session, ids)
        result = await self.session.execute(
            delete(s.table).where(s.key.in_(sorted(set(ids))), in_window)
        )
        return int(getattr(result, "rowcount", 0) or len(ids))

    async def forget_keys(self, when: When) -> int:
        """Delete the Seen keys of messages no longer current (their marks go in the "seen"
        step): once a key is gone, no mark can be tested against a person's id."""
        result = await self.session.execute(
            update(Alert)
            .where(Alert.seen_key.is_not(None), _not_current(when, when.rules.seen_days))
            .values(seen_key=None)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def clear_receipts(self, when: When) -> int:
        """Forget the author's receipt chat of messages whose deliveries have gone."""
        result = await self.session.execute(
            update(Alert)
            .where(
                Alert.receipt_chat_id.is_not(None),
                Alert.created_at < when.counted_before(when.rules.deliveries_days),
                _not_current(when),
            )
            .values(receipt_chat_id=None, receipt_message_id=None)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def clear_answers(self) -> int:
        """Erase intake answers left on a decided request (deciding erases them already)."""
        result = await self.session.execute(
            update(JoinRequest)
            .where(JoinRequest.status.not_in(OPEN_STATUSES), JoinRequest.answers.is_not(None))
            .values(answers=null())
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)


def _step(name: str) -> Step:
    for s in STEPS:
        if s.name == name:
            return s
    raise KeyError(name)


def tables_of(steps: Sequence[Step] = STEPS) -> set[str]:
    """The tables the steps delete from."""
    return {s.table.__tablename__ for s in steps}
