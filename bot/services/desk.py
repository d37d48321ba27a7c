"""The desk's identity and permissions: one-time login links given in chat, sessions, and
the scope checks every desk page and action goes through (the same predicates the chat
commands use: `Roles`, `alerts.may_see`, `alerts.may_follow_up`, the coordinator's BINs).

Only hashes of link and session tokens are stored. A session's roles are read afresh on every
request, so a revoked role or an erased person (/forgetme) ends it at once.
"""

from __future__ import annotations

import hashlib
import hmac
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.context import Grant, Roles
from bot.model import LANGUAGES, Role
from bot.services import alerts

if TYPE_CHECKING:
    from bot.dispatch import Core
    from storage.tables import Alert, Bin
    from storage.uow import UnitOfWork

DESK_ROLES = frozenset({Role.POLICE, Role.PREVENTION, Role.COORDINATOR})
OFFICIAL = (Role.POLICE, Role.PREVENTION)
LINK_VALID = timedelta(minutes=10)
# At most this many links per person in this window: a link is a key, not a toy.
LINK_LIMIT = 5
LINK_WINDOW = timedelta(hours=1)
# A session's idle clock is written at most this often (a page view is otherwise read-only).
TOUCH_EVERY = timedelta(minutes=1)


def digest(token: str) -> str:
    """What is stored of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(rng: random.Random) -> str:
    """256 random bits, URL-safe."""
    return f"{rng.getrandbits(256):064x}"


def may_use_desk(roles: Roles) -> bool:
    """Police, prevention and coordinators use the desk; residents do not."""
    return bool(roles.kinds & DESK_ROLES)


@dataclass(frozen=True)
class Link:
    """A login link was made: the token to put in it."""

    token: str


@dataclass(frozen=True)
class TooMany:
    """The person asked for too many links lately."""


async def issue_link(
    uow: UnitOfWork, person_id: int, lang: str, now: datetime, rng: random.Random
) -> Link | TooMany:
    """Make a one-time login link for a person who may use the desk (checked by the caller)."""
    if await uow.desk.logins_since(person_id, now - LINK_WINDOW) >= LINK_LIMIT:
        return TooMany()
    token = new_token(rng)
    await uow.desk.add_login(digest(token), person_id, lang, now, now + LINK_VALID)
    return Link(token)


@dataclass(frozen=True)
class Opened:
    """A login link was good: the new session's cookie."""

    cookie: str


async def open_link(core: Core, token: str) -> Opened | str:
    """Use a login link: a new session, or why not ("unknown", "used", "expired", "role")."""
    now = core.clock.now()
    async with core.uow() as uow:
        taken = await uow.desk.take_login(digest(token[:128]), now)
        person = await uow.people.person(taken.person_id) if taken.person_id else None
        actor = person.pseudonym if person is not None else "unknown"
        reason = taken.reason
        if reason == "ok" and not may_use_desk(await roles_of(uow, taken.person_id or 0)):
            reason = "role"
        if reason != "ok" or person is None:
            await uow.audit.record(now, actor, "desk.login", outcome="refused", reason=reason)
            await uow.commit()
            return reason
        cookie = new_token(core.rng)
        csrf = new_token(core.rng)
        await uow.desk.add_session(digest(cookie), csrf, person.id, taken.language, now)
        await uow.audit.record(now, actor, "desk.login")
        await uow.commit()
    return Opened(cookie)


async def roles_of(uow: UnitOfWork, person_id: int) -> Roles:
    """A person's roles as the dispatcher reads them for a privileged command."""
    return Roles(tuple(Grant(Role(r), z, b) for r, z, b in await uow.people.roles_of(person_id)))


@dataclass(frozen=True)
class Viewer:
    """Who is using the desk in one request: read afresh from the session and the roles."""

    session_id: int
    person_id: int
    pseudonym: str
    name: str
    roles: Roles
    lang: str
    csrf: str

    @property
    def zones(self) -> set[int]:
        """Zones this person serves as police or prevention."""
        return self.roles.zones(*OFFICIAL)

    @property
    def coordinated(self) -> set[int]:
        """BINs this person coordinates."""
        return self.roles.bins(Role.COORDINATOR)

    @property
    def official(self) -> bool:
        return bool(self.zones)

    def check_csrf(self, token: str) -> bool:
        """Whether a form carried this session's token."""
        return hmac.compare_digest(self.csrf.encode(), token.encode())

    def sign(self, value: str) -> str:
        """A signature of `value` that only this session can make (a previewed reference)."""
        return hmac.new(self.csrf.encode(), value.encode(), hashlib.sha256).hexdigest()[:32]


async def viewer(core: Core, cookie: str | None) -> Viewer | None:
    """The person behind a session cookie, or None (no session, idle too long, or no desk
    role any more: then the session ends here, audited)."""
    if not cookie or len(cookie) > 128:
        return None
    now = core.clock.now()
    idle = timedelta(hours=core.config.desk_idle_hours)
    async with core.uow() as uow:
        found = await uow.desk.session_by_hash(digest(cookie))
        if found is None:
            return None
        person = await uow.people.person(found.person_id)
        roles = await roles_of(uow, found.person_id)
        reason = None
        if person is None:
            reason = "gone"
        elif now - found.last_seen_at > idle:
            reason = "idle"
        elif not may_use_desk(roles):
            reason = "role"
        if reason is not None:
            await uow.desk.end_session(found.id)
            actor = person.pseudonym if person is not None else "unknown"
            await uow.audit.record(now, actor, "desk.session_end", reason=reason)
            await uow.commit()
            return None
        assert person is not None
        if now - found.last_seen_at >= TOUCH_EVERY:
            await uow.desk.touch(found.id, now)
            await uow.commit()
        lang = found.language or await core.person_language(uow, person.id)
        idents = await uow.people.identities_of(person.id)
        name = next((i.display_name for i in idents if i.display_name), person.pseudonym)
        return Viewer(
            found.id,
            person.id,
            person.pseudonym,
            name,
            roles,
            lang if lang in LANGUAGES else core.config.default_language,
            found.csrf,
        )


async def logout(core: Core, who: Viewer) -> None:
    """End this session."""
    async with core.uow() as uow:
        await uow.desk.end_session(who.session_id)
        await uow.audit.record(core.clock.now(), who.pseudonym, "desk.logout")
        await uow.commit()


async def set_language(core: Core, who: Viewer, lang: str) -> bool:
    """Switch this session's language; False for a language the desk does not speak."""
    if lang not in LANGUAGES:
        return False
    async with core.uow() as uow:
        await uow.desk.set_language(who.session_id, lang)
        await uow.commit()
    return True


async def refused(core: Core, who: Viewer, action: str, reason: str, **detail: object) -> None:
    """Audit a refused attempt on the desk (nothing else is changed)."""
    await core.audit(who.pseudonym, action, outcome="refused", reason=reason, **detail)


# -- scope: the one place the desk decides who sees and does what -------------------------


def may_see_zone(who: Viewer, zone_id: int) -> bool:
    """Police and prevention see their zones."""
    return zone_id in who.zones


def may_see_bin(who: Viewer, b: Bin) -> bool:
    """A BIN is seen by its zone's officials and by its coordinators."""
    return b.zone_id in who.zones or b.id in who.coordinated


def may_see_figures(who: Viewer, b: Bin) -> bool:
    """A BIN's monthly figures: its zone's police and prevention, and its coordinators."""
    return may_see_bin(who, b)


def may_see_audit(who: Viewer, zone_id: int) -> bool:
    """A zone's audit log: its police and prevention only (coordinators see none)."""
    return zone_id in who.zones


def may_see_alert(who: Viewer, alert: Alert) -> bool:
    """The same check as /status."""
    return alerts.may_see(who.roles, alert)


def may_follow_up(who: Viewer, alert: Alert) -> bool:
    """Whether to offer follow-ups on a message's page (the same check as /update; posting
    one goes through all of their rules, `alerts.follow_up_refusal`)."""
    return alerts.may_follow_up(who.roles, alert)


def may_compose(who: Viewer, role: str, zone_id: int) -> bool:
    """The same check as the /alert wizard's confirm step."""
    return any(g.role.value == role and g.zone_id == zone_id for g in who.roles.grants)


def may_decide(who: Viewer, bin_id: int) -> bool:
    """The same BINs `membership.decide` is given for /approve and /decline."""
    return bin_id in who.coordinated


async def sweep(core: Core) -> int:
    """Forget idle sessions and used or expired links (kept a day for the audit's sake)."""
    now = core.clock.now()
    async with core.uow() as uow:
        gone = await uow.desk.sweep(
            now - timedelta(hours=core.config.desk_idle_hours), now - timedelta(days=1)
        )
        await uow.commit()
    return gone
