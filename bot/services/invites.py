"""Role invites: issue, redeem, revoke. Only a hash of a code is ever stored.

Nothing a user types can grant a role except a redeemed invite. A used, expired, revoked or
unknown code gets one and the same refusal, so codes cannot be probed; after too many wrong
codes in a row a person must wait.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bot.model import Role
from storage.repo import Repo
from storage.tables import Invite, Person, RoleGrant

# No 0/O, 1/I/L: codes are read aloud and typed from paper.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_GROUPS = 3
GROUP_LEN = 4


def new_code(rng: random.Random) -> str:
    """A fresh code like `K7Q2-MX4P-9BDE` (about 59 bits)."""
    return "-".join(
        "".join(rng.choice(ALPHABET) for _ in range(GROUP_LEN)) for _ in range(CODE_GROUPS)
    )


def normalise(code: str) -> str:
    """Accept codes typed in lower case, with spaces or without dashes."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def code_hash(code: str) -> str:
    return hashlib.sha256(normalise(code).encode()).hexdigest()


@dataclass(frozen=True)
class IssuedInvite:
    """What the admin gets: the row, and the code itself (shown once, never stored)."""

    invite: Invite
    code: str


async def issue(
    repo: Repo,
    rng: random.Random,
    now: datetime,
    role: Role,
    *,
    zone_id: int | None,
    bin_id: int | None,
    valid_for: timedelta,
    created_by: str = "admin",
) -> IssuedInvite:
    """Create a single-use invite for `role`, scoped to a zone or a BIN."""
    if role in (Role.POLICE, Role.PREVENTION) and zone_id is None:
        raise ValueError("a police or prevention invite needs a zone")
    if role == Role.COORDINATOR and bin_id is None:
        raise ValueError("a coordinator invite needs a BIN")
    code = new_code(rng)
    invite = await repo.add(
        Invite(
            code_hash=code_hash(code),
            role=role.value,
            zone_id=zone_id,
            bin_id=bin_id,
            created_by=created_by,
            created_at=now,
            expires_at=now + valid_for,
        )
    )
    await repo.audit(
        now,
        created_by,
        "invite.issue",
        zone_id=zone_id,
        bin_id=bin_id,
        invite=invite.id,
        role=role.value,
    )
    return IssuedInvite(invite, code)


class Redeemed(StrEnum):
    OK = "ok"
    REFUSED = "refused"
    LOCKED = "locked"
    ALREADY = "already"


@dataclass(frozen=True)
class RedeemResult:
    outcome: Redeemed
    grant: RoleGrant | None = None
    retry_at: datetime | None = None


async def redeem(
    repo: Repo,
    person: Person,
    code: str,
    now: datetime,
    *,
    max_failures: int = 5,
    lockout: timedelta = timedelta(minutes=15),
) -> RedeemResult:
    """Bind the invite's role to `person`, or refuse without saying why."""
    if person.redeem_blocked_until is not None and person.redeem_blocked_until > now:
        await repo.audit(
            now, person.pseudonym, "invite.redeem", outcome="refused", reason="locked"
        )
        return RedeemResult(Redeemed.LOCKED, retry_at=person.redeem_blocked_until)
    invite = await repo.invite_by_hash(code_hash(code)) if normalise(code) else None
    if invite is None or not await repo.claim_invite(invite.id, person.id, now):
        person.failed_redeems += 1
        if person.failed_redeems >= max_failures:
            person.redeem_blocked_until = now + lockout
            person.failed_redeems = 0
        await repo.audit(
            now,
            person.pseudonym,
            "invite.redeem",
            outcome="refused",
            invite=invite.id if invite else None,
        )
        return RedeemResult(Redeemed.REFUSED)
    person.failed_redeems = 0
    existing = [
        g
        for g in await repo.grants_of(person.id)
        if g.role == invite.role and g.zone_id == invite.zone_id and g.bin_id == invite.bin_id
    ]
    if existing:
        await repo.audit(
            now, person.pseudonym, "invite.redeem", invite=invite.id, note="role already held"
        )
        return RedeemResult(Redeemed.ALREADY, grant=existing[0])
    grant = await repo.add(
        RoleGrant(
            person_id=person.id,
            role=invite.role,
            zone_id=invite.zone_id,
            bin_id=invite.bin_id,
            invite_id=invite.id,
            granted_at=now,
        )
    )
    await repo.audit(
        now,
        person.pseudonym,
        "role.grant",
        zone_id=invite.zone_id,
        bin_id=invite.bin_id,
        invite=invite.id,
        grant=grant.id,
        role=invite.role,
    )
    return RedeemResult(Redeemed.OK, grant=grant)


async def revoke_invite(repo: Repo, invite_id: int, now: datetime, by: str = "admin") -> Invite:
    """Revoke an unused invite; raises LookupError / ValueError with a clear message."""
    invite = await repo.invite(invite_id)
    if invite is None:
        raise LookupError(f"no invite {invite_id}")
    if invite.used_at is not None:
        raise ValueError(f"invite {invite_id} was already used; revoke the role instead")
    if invite.revoked_at is not None:
        raise ValueError(f"invite {invite_id} is already revoked")
    invite.revoked_at = now
    await repo.audit(
        now, by, "invite.revoke", zone_id=invite.zone_id, bin_id=invite.bin_id, invite=invite.id
    )
    return invite


async def revoke_grant(repo: Repo, grant_id: int, now: datetime, by: str = "admin") -> RoleGrant:
    """Revoke a role a person holds."""
    grant = await repo.grant(grant_id)
    if grant is None:
        raise LookupError(f"no role grant {grant_id}")
    if grant.revoked_at is not None:
        raise ValueError(f"role grant {grant_id} is already revoked")
    grant.revoked_at = now
    grant.revoked_by = by
    person = await repo.person(grant.person_id)
    await repo.audit(
        now,
        by,
        "role.revoke",
        zone_id=grant.zone_id,
        bin_id=grant.bin_id,
        grant=grant.id,
        role=grant.role,
        person=person.pseudonym if person else None,
    )
    return grant
