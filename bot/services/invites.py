"""Role invites: issue, redeem, revoke. Only a hash of a code is ever stored.

Nothing a user types can grant a role except a redeemed invite. A used, expired, revoked or
unknown code gets one and the same refusal, so codes cannot be probed; after too many wrong
codes in a row a person must wait.
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from bot.model import MessageRef, Role
from bot.ports import PlatformError

if TYPE_CHECKING:
    from bot.context import Ctx
    from storage.tables import Invite, Person, RoleGrant
    from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

# No 0/O, 1/I/L: codes are read aloud and typed from paper.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_GROUPS = 3
GROUP_LEN = 4


def new_code(rng: random.Random) -> str:
    """A fresh code like `K7Q2-MX4P-9BDE` (about 59 bits)."""
    return "-".join(
        "".join(rng.choice(ALPHABET) for _ in range(GROUP_LEN)) for _ in range(CODE_GROUPS)
    )


# A code as it may stand in running text: three groups of four, dashes or spaces optional,
# any case. Most words of that shape are not codes; each is looked up by its hash only.
_GROUP = f"[{ALPHABET}]{{{GROUP_LEN}}}"
_IN_TEXT = re.compile(
    rf"(?<![^\W_]){_GROUP}[- ]?{_GROUP}[- ]?{_GROUP}(?![^\W_])", re.IGNORECASE | re.ASCII
)
VOID_POSTED_IN_GROUP = "posted_in_group"


def codes_in(text: str) -> list[str]:
    """The code-shaped words of a text (not a code unless an invite has its hash)."""
    return _IN_TEXT.findall(text)


def normalise(code: str) -> str:
    """Accept codes typed in lower case, with spaces or without dashes."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def code_hash(code: str) -> str:
    """What is stored of a code: its SHA-256, as normalised."""
    return hashlib.sha256(normalise(code).encode()).hexdigest()


@dataclass(frozen=True)
class IssuedInvite:
    """What the admin gets: the row, and the code itself (shown once, never stored)."""

    invite: Invite
    code: str


class BinArchived(ValueError):
    """An invite for a coordinator of an archived BIN was asked for."""


async def issue(
    uow: UnitOfWork,
    rng: random.Random,
    now: datetime,
    role: Role,
    *,
    zone_id: int | None,
    bin_id: int | None,
    valid_for: timedelta,
    created_by: str = "admin",
) -> IssuedInvite:
    """Create a single-use invite for `role`, scoped to a zone or a BIN (in `uow`). Raises
    BinArchived for a coordinator of an archived BIN (it takes on no one new)."""
    if role in (Role.POLICE, Role.PREVENTION) and zone_id is None:
        raise ValueError("a police or prevention invite needs a zone")
    if role == Role.COORDINATOR and bin_id is None:
        raise ValueError("a coordinator invite needs a BIN")
    if bin_id is not None:
        b = await uow.directory.bin(bin_id)
        if b is not None and b.archived_at is not None:
            raise BinArchived(b.name)
    code = new_code(rng)
    invite = await uow.invites.add_invite(
        now,
        code_hash(code),
        role.value,
        zone_id=zone_id,
        bin_id=bin_id,
        expires_at=now + valid_for,
        created_by=created_by,
    )
    await uow.audit.record(
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
    """How a redeem attempt ended."""

    OK = "ok"
    REFUSED = "refused"
    LOCKED = "locked"
    ALREADY = "already"


@dataclass(frozen=True)
class RedeemResult:
    """The outcome, with the role (and its scope) now held, or when to try again."""

    outcome: Redeemed
    role: str | None = None
    zone_id: int | None = None
    bin_id: int | None = None
    retry_at: datetime | None = None


async def redeem(
    uow: UnitOfWork,
    person_id: int,
    code: str,
    now: datetime,
    *,
    max_failures: int = 5,
    lockout: timedelta = timedelta(minutes=15),
) -> RedeemResult:
    """Bind the invite's role to the person, or refuse without saying why (in `uow`, which
    the caller commits either way: a refusal counts towards the lockout)."""
    person = await uow.people.person(person_id)
    if person is None:
        raise LookupError(f"no person {person_id}")
    if person.redeem_blocked_until is not None and person.redeem_blocked_until > now:
        await uow.audit.record(
            now, person.pseudonym, "invite.redeem", outcome="refused", reason="locked"
        )
        return RedeemResult(Redeemed.LOCKED, retry_at=person.redeem_blocked_until)
    invite = await uow.invites.invite_by_hash(code_hash(code)) if normalise(code) else None
    if invite is None or not await uow.invites.claim_invite(invite.id, person.id, now):
        await _failed(uow, person, invite, now, max_failures, lockout)
        return RedeemResult(Redeemed.REFUSED)
    person.failed_redeems = 0
    return await _grant(uow, person, invite, now)


async def _failed(
    uow: UnitOfWork,
    person: Person,
    invite: Invite | None,
    now: datetime,
    max_failures: int,
    lockout: timedelta,
) -> None:
    """Count a wrong code; too many in a row lock the person out for a while."""
    person.failed_redeems += 1
    if person.failed_redeems >= max_failures:
        person.redeem_blocked_until = now + lockout
        person.failed_redeems = 0
    await uow.audit.record(
        now,
        person.pseudonym,
        "invite.redeem",
        outcome="refused",
        invite=invite.id if invite else None,
    )


async def _grant(uow: UnitOfWork, person: Person, invite: Invite, now: datetime) -> RedeemResult:
    """Give the claimed invite's role, unless the person holds it already."""
    held = any(
        g.role == invite.role and g.zone_id == invite.zone_id and g.bin_id == invite.bin_id
        for g in await uow.people.grants_of(person.id)
    )
    result = RedeemResult(
        Redeemed.ALREADY if held else Redeemed.OK,
        role=invite.role,
        zone_id=invite.zone_id,
        bin_id=invite.bin_id,
    )
    if held:
        await uow.audit.record(
            now, person.pseudonym, "invite.redeem", invite=invite.id, note="role already held"
        )
        return result
    grant = await uow.people.add_grant(
        now,
        person.id,
        invite.role,
        zone_id=invite.zone_id,
        bin_id=invite.bin_id,
        invite_id=invite.id,
        granted_by=invite.created_by,
    )
    await uow.audit.record(
        now,
        person.pseudonym,
        "role.grant",
        zone_id=invite.zone_id,
        bin_id=invite.bin_id,
        invite=invite.id,
        grant=grant.id,
        role=invite.role,
    )
    return result


async def revoke_invite(
    uow: UnitOfWork, invite_id: int, now: datetime, by: str = "admin"
) -> Invite:
    """Revoke an unused invite; raises LookupError / ValueError with a clear message."""
    invite = await uow.invites.invite(invite_id)
    if invite is None:
        raise LookupError(f"no invite {invite_id}")
    if invite.used_at is not None:
        raise ValueError(f"invite {invite_id} was already used; revoke the role instead")
    if invite.revoked_at is not None:
        raise ValueError(f"invite {invite_id} is already revoked")
    invite.revoked_at = now
    await uow.audit.record(
        now, by, "invite.revoke", zone_id=invite.zone_id, bin_id=invite.bin_id, invite=invite.id
    )
    return invite


@dataclass(frozen=True)
class Revoked:
    """A role revoked, and how many desk sessions of its holder that ended."""

    grant: RoleGrant
    sessions_ended: int


async def revoke_grant(
    uow: UnitOfWork, grant_id: int, now: datetime, by: str = "admin"
) -> Revoked:
    """Revoke a role a person holds; their desk sessions end with it (a session would lose
    the role at its next request anyway: this makes it visible, and audited, at once). Raises
    LookupError / ValueError with a clear message."""
    grant = await uow.people.grant(grant_id)
    if grant is None:
        raise LookupError(f"no role grant {grant_id}")
    if grant.revoked_at is not None:
        raise ValueError(f"role grant {grant_id} is already revoked")
    grant.revoked_at = now
    grant.revoked_by = by
    person = await uow.people.person(grant.person_id)
    pseudonym = person.pseudonym if person else None
    await uow.audit.record(
        now,
        by,
        "role.revoke",
        zone_id=grant.zone_id,
        bin_id=grant.bin_id,
        grant=grant.id,
        role=grant.role,
        person=pseudonym,
    )
    ended = await uow.desk.end_sessions_of(grant.person_id)
    if ended:
        await uow.audit.record(
            now, pseudonym or "unknown", "desk.session_end", reason="role", sessions=ended
        )
    return Revoked(grant, ended)


@dataclass(frozen=True)
class Voided:
    """An invite made void because its code was exposed."""

    invite_id: int
    role: str
    zone_id: int | None
    bin_id: int | None


async def shows_open_invite(uow: UnitOfWork, words: Iterable[str], now: datetime) -> bool:
    """Whether any of `words` is the code of an invite still open (reads only)."""
    for digest in {code_hash(w) for w in words if normalise(w)}:
        invite = await uow.invites.invite_by_hash(digest)
        if invite is not None and invite.expires_at > now:
            if invite.used_at is None and invite.revoked_at is None and invite.voided_at is None:
                return True
    return False


async def void_exposed(
    uow: UnitOfWork,
    words: Iterable[str],
    now: datetime,
    *,
    actor: str,
    platform: str,
    group_id: int | None,
    reason: str = VOID_POSTED_IN_GROUP,
) -> list[Voided]:
    """Void the open invites whose codes are among `words` (each hashed as `redeem` hashes
    what is typed), audited in `uow` with where they were seen. A word that matches no open
    invite changes nothing."""
    voided: list[Voided] = []
    hashes = {code_hash(w) for w in words if normalise(w)}
    for digest in sorted(hashes):
        invite = await uow.invites.invite_by_hash(digest)
        if invite is None or not await uow.invites.void_invite(invite.id, now, reason):
            continue
        voided.append(Voided(invite.id, invite.role, invite.zone_id, invite.bin_id))
        await uow.audit.record(
            now,
            actor,
            "invite.void",
            zone_id=invite.zone_id,
            bin_id=invite.bin_id,
            invite=invite.id,
            role=invite.role,
            reason=reason,
            platform=platform,
            group=group_id,
        )
    return voided


async def void_if_shown(ctx: Ctx, text: str, *, typed_code: bool) -> bool:
    """A code shown in a group chat was read by everyone there: its invite is void at once,
    the message deleted where the bot may, the poster told privately. True when a code was
    voided. `typed_code`: the whole text was typed as a code (`/redeem CODE`)."""
    if ctx.chat.is_private:
        return False
    words = [w for w in ([text] if typed_code else []) + codes_in(text) if normalise(w)]
    if not words:
        return False
    async with ctx.core.uow() as uow:
        voided = await void_exposed(
            uow,
            words,
            ctx.core.clock.now(),
            actor=ctx.actor,
            platform=ctx.chat.platform.value,
            group_id=ctx.group.id if ctx.group else None,
        )
        await uow.commit()
    if not voided:
        return False
    deleted = await _delete_message(ctx)
    await ctx.core.notify_person(ctx.person.id, "core.code_voided_private")
    await ctx.reply("core.code_voided_deleted" if deleted else "core.code_voided_group")
    return True


async def _delete_message(ctx: Ctx) -> bool:
    """Delete the message that showed a code, where the platform and the bot's rights allow."""
    port = ctx.core.platform(ctx.chat.platform)
    if ctx.message_id is None or not port.capabilities.delete:
        return False
    try:
        await port.delete(MessageRef(ctx.chat, ctx.message_id))
    except PlatformError as exc:
        log.info("deleting a message that showed an invite code failed: %s", exc.reason)
        return False
    return True
