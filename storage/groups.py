"""Queries about groups, join requests, memberships, reminders and nudges."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, null, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import BindParameter

from storage.db import NOT_A_DIRECTORY_CHANGE
from storage.seen import seen_marks_of
from storage.tables import (
    OPEN_REQUEST,
    Alert,
    AuditEntry,
    Group,
    Identity,
    Invite,
    JoinRequest,
    Membership,
    Person,
    Reminder,
    RequestCopy,
    RoleGrant,
    Seen,
)

# A request is open while the person answers the intake questions and while it waits for a
# coordinator; every other status is final.
OPEN_STATUSES = ("intake", "pending")


def _insert(session: AsyncSession, table: Any) -> Any:
    """An INSERT that can say ON CONFLICT, in the session's dialect."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def _count(table: Any, where: Any) -> Any:
    return select(func.count()).select_from(table).where(where).scalar_subquery()


# One statement, built once, in the order of PersonCounts' fields.
_PERSON: BindParameter[int] = bindparam("person_id")
_COUNTS = select(
    _count(AuditEntry, AuditEntry.actor == bindparam("pseudonym")),
    _count(Group, Group.linked_by == _PERSON),
    _count(JoinRequest, JoinRequest.decided_by == _PERSON),
    _count(Alert, Alert.author_id == _PERSON),
    _count(Invite, Invite.used_by == _PERSON),
)


# Statements /mydata and the core run often, built once (building one costs as much as running it).
_MEMBERSHIPS_OF = select(Membership).where(Membership.person_id == _PERSON).order_by(Membership.id)
_ACTIVE_MEMBERSHIPS_OF = _MEMBERSHIPS_OF.where(Membership.status == "active")
_REQUESTS_OF = select(JoinRequest).where(JoinRequest.person_id == _PERSON).order_by(JoinRequest.id)


@dataclass(frozen=True)
class PersonCounts:
    """How many rows elsewhere point at one person (for /mydata)."""

    seen: int
    audit: int
    groups_linked: int
    requests_decided: int
    alerts_written: int
    invites_used: int


class GroupRepo:
    """Group and membership queries over one session/transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- groups ----------------------------------------------------------------------------

    async def group_by_chat(self, platform: str, chat_id: str) -> Group | None:
        """The linked (or formerly linked) group for a platform chat."""
        q = select(Group).where(Group.platform == platform, Group.chat_id == chat_id)
        return (await self.session.execute(q)).scalar_one_or_none()

    async def group(self, group_id: int) -> Group | None:
        """A group by id."""
        return await self.session.get(Group, group_id)

    async def groups_of_bins(
        self, bin_ids: Sequence[int], *, active: bool = True
    ) -> Sequence[Group]:
        """The groups linked to any of `bin_ids`."""
        q = select(Group).where(Group.bin_id.in_(list(bin_ids))).order_by(Group.id)
        if active:
            q = q.where(Group.active.is_(True))
        return (await self.session.execute(q)).scalars().all()

    async def active_groups(self) -> Sequence[Group]:
        """Every group that is linked right now."""
        q = select(Group).where(Group.active.is_(True)).order_by(Group.id)
        return (await self.session.execute(q)).scalars().all()

    async def claim_nudge(self, group_id: int, now: datetime, quiet_since: datetime) -> bool:
        """Record a nudge unless the group had one after `quiet_since`; one process wins."""
        result = await self.session.execute(
            update(Group)
            .where(
                Group.id == group_id,
                Group.active.is_(True),
                or_(Group.last_nudge_at.is_(None), Group.last_nudge_at <= quiet_since),
            )
            .values(last_nudge_at=now)
            .execution_options(**NOT_A_DIRECTORY_CHANGE)  # the cooldown is no one's context
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def claim_reminder(self, group_id: int, period: str, now: datetime) -> bool:
        """Insert the reminder row of (group, period) unless it exists: True when inserted."""
        dialect = self.session.get_bind().dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt: Any = pg_insert(Reminder)
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            stmt = sqlite_insert(Reminder)
        stmt = stmt.values(group_id=group_id, period=period, posted_at=now)
        result = await self.session.execute(stmt.on_conflict_do_nothing())
        return bool(getattr(result, "rowcount", 0) == 1)

    async def link_group(
        self, platform: str, chat_id: str, bin_id: int, title: str, by: int, now: datetime
    ) -> Group:
        """Link a chat to a BIN: a new group row, or the chat's old one made active again."""
        group = await self.group_by_chat(platform, chat_id)
        if group is None:
            group = Group(platform=platform, chat_id=chat_id, bin_id=bin_id, linked_at=now)
            self.session.add(group)
        group.bin_id, group.active, group.linked_at, group.linked_by = bin_id, True, now, by
        group.title = title or group.title or ""
        group.unlinked_at = group.inactive_reason = None
        await self.session.flush()
        return group

    async def set_group_setup(
        self, group_id: int, rules_message_id: str | None, invite_link: str | None
    ) -> str | None:
        """Record the pinned rules and the invite link a link gave (None keeps the old value);
        the group's invite link as it now stands."""
        group = await self.session.get(Group, group_id)
        if group is None:
            return invite_link
        group.rules_message_id = rules_message_id or group.rules_message_id
        group.invite_link = invite_link or group.invite_link
        return group.invite_link

    # -- join requests ---------------------------------------------------------------------

    async def request(self, request_id: int) -> JoinRequest | None:
        """A join request by id."""
        return await self.session.get(JoinRequest, request_id)

    async def add_request(
        self,
        bin_id: int,
        person_id: int,
        group_id: int | None,
        platform: str,
        status: str,
        now: datetime,
        expires_at: datetime,
    ) -> JoinRequest:
        """Record a new join request (its id is known on return)."""
        req = JoinRequest(
            bin_id=bin_id,
            person_id=person_id,
            group_id=group_id,
            platform=platform,
            status=status,
            created_at=now,
            expires_at=expires_at,
        )
        self.session.add(req)
        await self.session.flush()
        return req

    async def add_open_request(
        self,
        bin_id: int,
        person_id: int,
        group_id: int | None,
        platform: str,
        status: str,
        now: datetime,
        expires_at: datetime,
    ) -> JoinRequest | None:
        """Record a new open request unless the person has one for that BIN already (the
        partial unique index decides, also when two try at once): None then."""
        values = {
            "bin_id": bin_id,
            "person_id": person_id,
            "group_id": group_id,
            "platform": platform,
            "status": status,
            "created_at": now,
            "expires_at": expires_at,
        }
        stmt = (
            _insert(self.session, JoinRequest)
            .values(**values)
            .on_conflict_do_nothing(
                index_elements=["person_id", "bin_id"], index_where=text(OPEN_REQUEST)
            )
            .returning(JoinRequest.id)
        )
        new_id = (await self.session.execute(stmt)).scalar_one_or_none()
        return None if new_id is None else await self.session.get(JoinRequest, new_id)

    async def last_closed(
        self, person_id: int, bin_id: int, statuses: Sequence[str]
    ) -> JoinRequest | None:
        """The person's request for that BIN most recently closed in one of `statuses`."""
        q = (
            select(JoinRequest)
            .where(
                JoinRequest.person_id == person_id,
                JoinRequest.bin_id == bin_id,
                JoinRequest.status.in_(list(statuses)),
                JoinRequest.decided_at.is_not(None),
            )
            .order_by(JoinRequest.decided_at.desc(), JoinRequest.id.desc())
        )
        return (await self.session.execute(q)).scalars().first()

    async def open_request(self, person_id: int, bin_id: int) -> JoinRequest | None:
        """The person's request for that BIN that is not decided yet."""
        q = select(JoinRequest).where(
            JoinRequest.person_id == person_id,
            JoinRequest.bin_id == bin_id,
            JoinRequest.status.in_(OPEN_STATUSES),
        )
        return (await self.session.execute(q)).scalars().first()

    async def requests(
        self, bin_ids: Sequence[int], status: str = "pending"
    ) -> Sequence[JoinRequest]:
        """Requests of some BINs in one status, oldest first."""
        q = (
            select(JoinRequest)
            .where(JoinRequest.bin_id.in_(list(bin_ids)), JoinRequest.status == status)
            .order_by(JoinRequest.id)
        )
        return (await self.session.execute(q)).scalars().all()

    async def requests_of(self, person_id: int) -> Sequence[JoinRequest]:
        """Every request a person made, oldest first."""
        params = {"person_id": person_id}
        return (await self.session.execute(_REQUESTS_OF, params)).scalars().all()

    async def due_requests(self, now: datetime) -> Sequence[JoinRequest]:
        """Open requests past their expiry."""
        q = select(JoinRequest).where(
            JoinRequest.status.in_(OPEN_STATUSES), JoinRequest.expires_at <= now
        )
        return (await self.session.execute(q.order_by(JoinRequest.id))).scalars().all()

    async def persons_in_intake(self) -> Sequence[int]:
        """Persons with a request still in intake."""
        q = select(JoinRequest.person_id).where(JoinRequest.status == "intake").distinct()
        return (await self.session.execute(q)).scalars().all()

    async def intake_of(self, person_id: int, platform: str) -> JoinRequest | None:
        """The person's most recent request still in intake, made on `platform`."""
        q = (
            select(JoinRequest)
            .where(
                JoinRequest.person_id == person_id,
                JoinRequest.status == "intake",
                JoinRequest.platform == platform,
            )
            .order_by(JoinRequest.id.desc())
        )
        return (await self.session.execute(q)).scalars().first()

    async def intakes_before(self, before: datetime) -> Sequence[JoinRequest]:
        """Requests still in intake that started before `before`."""
        q = select(JoinRequest).where(
            JoinRequest.status == "intake", JoinRequest.created_at <= before
        )
        return (await self.session.execute(q.order_by(JoinRequest.id))).scalars().all()

    async def close_request(
        self,
        request_id: int,
        status: str,
        now: datetime,
        *,
        from_statuses: Sequence[str] = ("pending",),
        by: int | None = None,
    ) -> bool:
        """Decide a request and erase its answers, atomically: only the first decision wins."""
        result = await self.session.execute(
            update(JoinRequest)
            .where(JoinRequest.id == request_id, JoinRequest.status.in_(list(from_statuses)))
            .values(status=status, decided_at=now, decided_by=by, answers=null())
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def add_copy(
        self, request_id: int, platform: str, chat_id: str, message_id: str, language: str
    ) -> None:
        """Record a coordinator's private copy of a request (the message with its buttons)."""
        self.session.add(
            RequestCopy(
                request_id=request_id,
                platform=platform,
                chat_id=chat_id,
                message_id=message_id,
                language=language,
            )
        )
        await self.session.flush()

    async def copies(self, request_id: int) -> Sequence[RequestCopy]:
        """The coordinators' copies of a request, in the order they were sent."""
        q = select(RequestCopy).where(RequestCopy.request_id == request_id)
        return (await self.session.execute(q.order_by(RequestCopy.id))).scalars().all()

    async def forget_copies(self, request_id: int) -> None:
        """Forget the copies of a request once they have been edited for good."""
        await self.session.execute(delete(RequestCopy).where(RequestCopy.request_id == request_id))

    # -- memberships -----------------------------------------------------------------------

    async def memberships_of(self, person_id: int, *, active: bool = True) -> Sequence[Membership]:
        """The BINs a person belongs to."""
        q = _ACTIVE_MEMBERSHIPS_OF if active else _MEMBERSHIPS_OF
        return (await self.session.execute(q, {"person_id": person_id})).scalars().all()

    async def membership(self, bin_id: int, person_id: int) -> Membership | None:
        """The person's membership row for a BIN, whatever its status."""
        q = select(Membership).where(
            Membership.bin_id == bin_id, Membership.person_id == person_id
        )
        return (await self.session.execute(q)).scalar_one_or_none()

    async def membership_by_id(self, membership_id: int) -> Membership | None:
        """A membership by id (the number coordinators see in /members)."""
        return await self.session.get(Membership, membership_id)

    async def members(self, bin_ids: Sequence[int]) -> Sequence[Membership]:
        """Active members of some BINs, in the order they joined."""
        q = select(Membership).where(
            Membership.bin_id.in_(list(bin_ids)), Membership.status == "active"
        )
        return (await self.session.execute(q.order_by(Membership.id))).scalars().all()

    async def removed(self, bin_ids: Sequence[int]) -> Sequence[Membership]:
        """Memberships a coordinator ended by removal, in some BINs, most recent first."""
        q = select(Membership).where(
            Membership.bin_id.in_(list(bin_ids)), Membership.status == "removed"
        )
        return (await self.session.execute(q.order_by(Membership.ended_at.desc()))).scalars().all()

    async def ended(self, bin_id: int, status: str) -> Sequence[Membership]:
        """A BIN's memberships in one ended status (removed, blocked), most recent first."""
        q = select(Membership).where(Membership.bin_id == bin_id, Membership.status == status)
        return (await self.session.execute(q.order_by(Membership.ended_at.desc()))).scalars().all()

    async def block(self, bin_id: int, person_id: int, now: datetime) -> Membership:
        """Stop a non-member asking to join a BIN: their ended membership, or a new row,
        marked blocked (the number /readmit takes to lift it)."""
        m = await self.membership(bin_id, person_id)
        if m is None:
            m = Membership(bin_id=bin_id, person_id=person_id, status="blocked", joined_at=now)
            self.session.add(m)
        m.status, m.ended_at = "blocked", now
        await self.session.flush()
        return m

    async def forget_membership(self, membership_id: int) -> None:
        """Delete a membership row (a lifted block: the person never was a member)."""
        await self.session.execute(delete(Membership).where(Membership.id == membership_id))

    async def admit(self, bin_id: int, person_id: int, now: datetime) -> Membership:
        """Make the person an active member (a new row, or the old one reopened)."""
        m = await self.membership(bin_id, person_id)
        if m is None:
            m = Membership(bin_id=bin_id, person_id=person_id, status="active", joined_at=now)
            self.session.add(m)
            await self.session.flush()
        else:
            m.status, m.joined_at, m.ended_at = "active", now, None
        return m

    # -- privacy ---------------------------------------------------------------------------

    async def counts_for(self, person: Person) -> PersonCounts:
        """Rows elsewhere that refer to the person."""

        params = {"person_id": person.id, "pseudonym": person.pseudonym}
        row = (await self.session.execute(_COUNTS, params)).one()
        seen = len(await seen_marks_of(self.session, person.id))
        return PersonCounts(seen, *(int(n) for n in row))

    async def erase_person(self, person_id: int) -> None:
        """Delete the person and everything that names them; other rows keep a NULL."""
        await self.session.execute(delete(JoinRequest).where(JoinRequest.person_id == person_id))
        await self.session.execute(delete(Membership).where(Membership.person_id == person_id))
        for alert_id, mark in await seen_marks_of(self.session, person_id):
            await self.session.execute(
                delete(Seen).where(Seen.alert_id == alert_id, Seen.mark == mark)
            )
        await self.session.execute(delete(RoleGrant).where(RoleGrant.person_id == person_id))
        await self.session.execute(delete(Identity).where(Identity.person_id == person_id))
        await self.session.execute(
            update(Group).where(Group.linked_by == person_id).values(linked_by=None)
        )
        await self.session.execute(
            update(JoinRequest).where(JoinRequest.decided_by == person_id).values(decided_by=None)
        )
        await self.session.execute(
            update(Invite).where(Invite.used_by == person_id).values(used_by=None)
        )
        # Official messages and follow-ups keep their text; their author column is set to NULL
        # by the foreign key (ON DELETE SET NULL) when the person row goes.
        await self.session.execute(delete(Person).where(Person.id == person_id))
