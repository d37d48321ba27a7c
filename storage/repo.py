"""The queries the core uses: directory (zones, BINs), people and roles, invites, the audit
log, adapter state.

Each repository wraps one session, i.e. one transaction; the core gets them together from a
unit of work (storage/uow.py). Group, membership, conversation and official-message queries
live in their own modules next to this one.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Integer, bindparam, literal, select, union_all, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.selectable import CompoundSelect

from storage.db import NOT_A_DIRECTORY_CHANGE
from storage.names import name_key
from storage.tables import (
    AuditEntry,
    Bin,
    Identity,
    Invite,
    KeyValue,
    Membership,
    Person,
    RoleGrant,
    Zone,
)

MEMBER_ROLE = "member"  # the role an active membership gives (bot.model.Role.MEMBER)

# Statements run for nearly every update, built once (building one costs more than running it).
_IDENTITY_AND_PERSON = (
    select(Identity, Person)
    .join(Person, Person.id == Identity.person_id)
    .where(Identity.platform == bindparam("platform"), Identity.user_id == bindparam("user_id"))
)
_IDENTITIES_OF = (
    select(Identity).where(Identity.person_id == bindparam("person_id")).order_by(Identity.id)
)
_GRANTS_OF = select(RoleGrant).where(
    RoleGrant.person_id == bindparam("person_id"), RoleGrant.revoked_at.is_(None)
)
_ROLES: CompoundSelect[str, int | None, int | None] = union_all(
    select(RoleGrant.role, RoleGrant.zone_id, RoleGrant.bin_id).where(
        RoleGrant.person_id == bindparam("person_id"), RoleGrant.revoked_at.is_(None)
    ),
    select(literal(MEMBER_ROLE), literal(None, Integer), Membership.bin_id).where(
        Membership.person_id == bindparam("person_id"), Membership.status == "active"
    ),
)


def contact_day(now: datetime) -> datetime:
    """Midnight UTC of `now`'s day: what is kept of a person's last contact."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


class _Base:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, row: Any) -> Any:
        """Insert a row and flush so its id is known."""
        self.session.add(row)
        await self.session.flush()
        return row


class DirectoryRepo(_Base):
    """Zones and BINs."""

    async def zone_by_name(self, name: str) -> Zone | None:
        """A zone by name, matched by its key (storage/names.py: case, accents, spacing)."""
        q = select(Zone).where(Zone.name_key == name_key(name))
        return (await self.session.execute(q)).scalar_one_or_none()

    async def zone(self, zone_id: int) -> Zone | None:
        return await self.session.get(Zone, zone_id)

    async def zones(self) -> Sequence[Zone]:
        return (await self.session.execute(select(Zone).order_by(Zone.name))).scalars().all()

    async def bin_by_code(self, code: str) -> Bin | None:
        q = select(Bin).where(Bin.code == code.strip().lower())
        return (await self.session.execute(q)).scalar_one_or_none()

    async def bin(self, bin_id: int) -> Bin | None:
        return await self.session.get(Bin, bin_id)

    async def find_bin(self, word: str, zone_id: int | None = None) -> Bin | None:
        """A BIN by code, or by name (matched by its key), optionally within one zone; None
        when the name is ambiguous (the same name in two zones)."""
        found = await self.bin_by_code(word)
        if found is not None and (zone_id is None or found.zone_id == zone_id):
            return found
        q = select(Bin).where(Bin.name_key == name_key(word))
        if zone_id is not None:
            q = q.where(Bin.zone_id == zone_id)
        rows = (await self.session.execute(q)).scalars().all()
        return rows[0] if len(rows) == 1 else None

    async def bin_by_name(self, zone_id: int, name: str) -> Bin | None:
        """The BIN of a zone with this name (matched by its key), if any."""
        q = select(Bin).where(Bin.zone_id == zone_id, Bin.name_key == name_key(name))
        return (await self.session.execute(q)).scalar_one_or_none()

    async def bins(self, zone_id: int | None = None, *, active: bool = False) -> Sequence[Bin]:
        """The BINs (of a zone), by name; `active`: only those not archived."""
        q = select(Bin).order_by(Bin.zone_id, Bin.name)
        if zone_id is not None:
            q = q.where(Bin.zone_id == zone_id)
        if active:
            q = q.where(Bin.archived_at.is_(None))
        return (await self.session.execute(q)).scalars().all()

    async def add_zone(
        self,
        now: datetime,
        name: str,
        *,
        urgent_number: str,
        emergency_number: str,
        non_urgent_number: str | None,
        language: str,
        reminder_days: int,
        quiet: tuple[int, int] | None = None,
    ) -> Zone:
        """Create a zone (values checked by the caller); `quiet` in minutes after midnight,
        else the default quiet hours."""
        zone = Zone(
            name=name,
            urgent_number=urgent_number,
            emergency_number=emergency_number,
            non_urgent_number=non_urgent_number,
            language=language,
            reminder_days=reminder_days,
            created_at=now,
        )
        if quiet is not None:
            zone.quiet_start, zone.quiet_end = quiet
        added: Zone = await self.add(zone)
        return added

    async def add_bin(
        self,
        now: datetime,
        zone_id: int,
        name: str,
        code: str,
        *,
        area: str | None = None,
        intake: list[str] | None = None,
        own: dict[str, Any] | None = None,
    ) -> Bin:
        """Create a BIN in a zone (values checked by the caller); `own` its settings that
        differ from the zone's (quiet_start, quiet_end, reminder_days, language)."""
        row = Bin(
            zone_id=zone_id,
            name=name,
            code=code,
            area=area,
            intake=intake,
            created_at=now,
            **(own or {}),
        )
        added: Bin = await self.add(row)
        return added


class PeopleRepo(_Base):
    """People, their platform identities and their roles."""

    async def identity(self, platform: str, user_id: str) -> Identity | None:
        q = select(Identity).where(Identity.platform == platform, Identity.user_id == user_id)
        return (await self.session.execute(q)).scalar_one_or_none()

    async def person(self, person_id: int) -> Person | None:
        return await self.session.get(Person, person_id)

    async def identities_of(self, person_id: int) -> Sequence[Identity]:
        params = {"person_id": person_id}
        return (await self.session.execute(_IDENTITIES_OF, params)).scalars().all()

    async def ensure_identity(
        self,
        platform: str,
        user_id: str,
        display_name: str,
        now: datetime,
        pseudonym: str | None = None,
        dm_chat_id: str | None = None,
    ) -> tuple[Person, Identity]:
        """The person behind a platform account, created on first contact.

        `pseudonym` (random, unrelated to the account) is what the audit log will name them.
        `dm_chat_id`, when given, is the private chat with them (recorded if it changed).
        """
        params = {"platform": platform, "user_id": user_id}
        found = (await self.session.execute(_IDENTITY_AND_PERSON, params)).one_or_none()
        if found is None:
            person = await self.add(
                Person(
                    pseudonym=pseudonym or "p-" + secrets.token_hex(6),
                    created_at=now,
                    failed_redeems=0,
                    last_seen_at=contact_day(now),
                )
            )
            ident = await self.add(
                Identity(
                    person_id=person.id,
                    platform=platform,
                    user_id=user_id,
                    display_name=display_name,
                    dm_chat_id=dm_chat_id,
                    created_at=now,
                )
            )
            return person, ident
        ident, person = found
        if display_name and ident.display_name != display_name:
            ident.display_name = display_name
        if dm_chat_id is not None and ident.dm_chat_id != dm_chat_id:
            ident.dm_chat_id = dm_chat_id
        day = contact_day(now)
        if person.last_seen_at is None or person.last_seen_at < day:
            # At most one write a day per person, and only the day: see Person.last_seen_at.
            await self.session.execute(
                update(Person)
                .where(Person.id == person.id)
                .values(last_seen_at=day)
                .execution_options(synchronize_session=False, **NOT_A_DIRECTORY_CHANGE)
            )
            set_committed_value(person, "last_seen_at", day)
        return person, ident

    async def grants_of(self, person_id: int) -> Sequence[RoleGrant]:
        """The person's roles that are not revoked."""
        params = {"person_id": person_id}
        return (await self.session.execute(_GRANTS_OF, params)).scalars().all()

    async def roles_of(self, person_id: int) -> Sequence[tuple[str, int | None, int | None]]:
        """(role, zone id, BIN id) of every role the person holds now: their grants that are
        not revoked, and `member` of each BIN whose membership is active. One statement."""
        rows = (await self.session.execute(_ROLES, {"person_id": person_id})).all()
        return [(role, zone_id, bin_id) for role, zone_id, bin_id in rows]

    async def grants(
        self, *, role: str | None = None, zone_id: int | None = None, bin_id: int | None = None
    ) -> Sequence[RoleGrant]:
        """Active grants, filtered."""
        q = select(RoleGrant).where(RoleGrant.revoked_at.is_(None)).order_by(RoleGrant.id)
        if role is not None:
            q = q.where(RoleGrant.role == role)
        if zone_id is not None:
            q = q.where(RoleGrant.zone_id == zone_id)
        if bin_id is not None:
            q = q.where(RoleGrant.bin_id == bin_id)
        return (await self.session.execute(q)).scalars().all()

    async def grant(self, grant_id: int) -> RoleGrant | None:
        return await self.session.get(RoleGrant, grant_id)

    async def add_grant(
        self,
        now: datetime,
        person_id: int,
        role: str,
        *,
        zone_id: int | None,
        bin_id: int | None,
        invite_id: int | None = None,
        granted_by: str | None = None,
    ) -> RoleGrant:
        """Give a person a role, scoped to a zone or a BIN; `granted_by` is who issued the
        invite ("admin" or a pseudonym)."""
        row = RoleGrant(
            person_id=person_id,
            role=role,
            zone_id=zone_id,
            bin_id=bin_id,
            invite_id=invite_id,
            granted_at=now,
            granted_by=granted_by,
        )
        added: RoleGrant = await self.add(row)
        return added


class InviteRepo(_Base):
    """Role invites (only a hash of each code is stored)."""

    async def invite_by_hash(self, code_hash: str) -> Invite | None:
        q = select(Invite).where(Invite.code_hash == code_hash)
        return (await self.session.execute(q)).scalar_one_or_none()

    async def claim_invite(self, invite_id: int, person_id: int, now: datetime) -> bool:
        """Mark an invite used, atomically: only one redeemer wins a race."""
        result = await self.session.execute(
            update(Invite)
            .where(
                Invite.id == invite_id,
                Invite.used_at.is_(None),
                Invite.revoked_at.is_(None),
                Invite.voided_at.is_(None),
                Invite.expires_at > now,
            )
            .values(used_at=now, used_by=person_id)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def void_invite(self, invite_id: int, now: datetime, reason: str) -> bool:
        """Make an open invite void (its code was exposed), atomically: False when it was no
        longer open (used, revoked, void or expired), so nothing changed."""
        result = await self.session.execute(
            update(Invite)
            .where(
                Invite.id == invite_id,
                Invite.used_at.is_(None),
                Invite.revoked_at.is_(None),
                Invite.voided_at.is_(None),
                Invite.expires_at > now,
            )
            .values(voided_at=now, void_reason=reason)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def invite(self, invite_id: int) -> Invite | None:
        return await self.session.get(Invite, invite_id)

    async def invites(self) -> Sequence[Invite]:
        return (await self.session.execute(select(Invite).order_by(Invite.id))).scalars().all()

    async def add_invite(
        self,
        now: datetime,
        code_hash: str,
        role: str,
        *,
        zone_id: int | None,
        bin_id: int | None,
        expires_at: datetime,
        created_by: str = "admin",
    ) -> Invite:
        """Store a new single-use invite (only the hash of its code)."""
        row = Invite(
            code_hash=code_hash,
            role=role,
            zone_id=zone_id,
            bin_id=bin_id,
            created_by=created_by,
            created_at=now,
            expires_at=expires_at,
        )
        added: Invite = await self.add(row)
        return added


class AuditRepo(_Base):
    """The append-only audit log."""

    async def record(
        self,
        now: datetime,
        actor: str,
        action: str,
        *,
        outcome: str = "ok",
        zone_id: int | None = None,
        bin_id: int | None = None,
        **detail: Any,
    ) -> None:
        """Append one entry to the audit log. `detail` must hold no personal data."""
        self.session.add(
            AuditEntry(
                at=now,
                actor=actor,
                action=action,
                outcome=outcome,
                zone_id=zone_id,
                bin_id=bin_id,
                detail=detail or None,
            )
        )

    async def entries(
        self, since: datetime | None = None, limit: int | None = None
    ) -> Sequence[AuditEntry]:
        """Entries since a time, oldest first; with `limit`, only the newest `limit` of them."""
        if limit is not None and limit < 1:
            raise ValueError("the limit is at least 1")
        q = select(AuditEntry).order_by(AuditEntry.id.desc())
        if since is not None:
            q = q.where(AuditEntry.at >= since)
        if limit is not None:
            q = q.limit(limit)
        newest_first = (await self.session.execute(q)).scalars().all()
        return newest_first[::-1]


class StateRepo(_Base):
    """Small durable state of adapters (the Matrix sync token, say)."""

    async def get(self, key: str) -> str | None:
        row = await self.session.get(KeyValue, key)
        return row.value if row else None

    async def put(self, key: str, value: str) -> None:
        row = await self.session.get(KeyValue, key)
        if row is None:
            self.session.add(KeyValue(key=key, value=value))
        else:
            row.value = value

    async def put_once(self, key: str, value: str) -> str:
        """Store `value` under `key` unless a value is there already (another process may
        have stored one a moment ago); the value that holds."""
        dialect = postgresql if self.session.get_bind().dialect.name == "postgresql" else sqlite
        await self.session.execute(
            dialect.insert(KeyValue).values(key=key, value=value).on_conflict_do_nothing()
        )
        held = await self.session.execute(select(KeyValue.value).where(KeyValue.key == key))
        return str(held.scalar_one())
