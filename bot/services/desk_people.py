"""People and invites on the desk: who holds a role in a zone and its BINs, issuing and
revoking invites, revoking roles.

Who may do what (the README and the desk's own help say the same):

- **Coordinators** of a BIN are invited by the police or the prevention service of the BIN's
  zone. A coordinator invites nobody, not even a co-coordinator: the municipality signs the
  BIN's charter with its coordinators, so the zone decides who they are (a coordinator asks
  the zone to invite a colleague).
- **Police** of a zone are invited by police of that zone, **prevention** by prevention of
  that zone: each organisation vouches for its own people. Nobody invites for another zone,
  nor for another organisation.
- An open invite is revoked, and a role held is revoked, by whoever could have issued it;
  nobody revokes their own role on the desk (a colleague or the admin does), so that a zone
  cannot lock itself out by a slip.
- Police and prevention see their zone's officers, its BINs' coordinators and its open
  invites; a coordinator sees the coordinators of their own BINs, and no invites.

Invites are issued and revoked through bot/services/invites.py, like `binbot invite …` and
`binbot revoke …`: the same single-use codes, the same expiry rule, the same audit entries.
The code exists only in the answer to the request that made it; only its hash is stored.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

from bot import texts
from bot.model import Role
from bot.services import alert_render, audience, invites, links, validation
from bot.services.desk import Viewer

if TYPE_CHECKING:
    from bot.dispatch import Core
    from storage.tables import Bin, RoleGrant, Zone
    from storage.uow import UnitOfWork

# What the invite form offers (each checked by the same rule as `binbot invite --expires`).
EXPIRY_CHOICES = ("1d", "3d", "7d", "14d", "30d")
DEFAULT_EXPIRY = "7d"
ZONE_ROLES = (Role.POLICE, Role.PREVENTION)
INVITABLE = frozenset(r.value for r in (Role.COORDINATOR, *ZONE_ROLES))


# -- the rule ------------------------------------------------------------------------------


def may_invite(who: Viewer, role: str, zone_id: int) -> bool:
    """Whether `who` may issue (and so revoke) an invite or a role `role` in zone `zone_id`
    (a coordinator's: the zone of their BIN). See the module's docstring."""
    if role == Role.COORDINATOR.value:
        return zone_id in who.zones
    if role in (Role.POLICE.value, Role.PREVENTION.value):
        return any(g.role.value == role and g.zone_id == zone_id for g in who.roles.grants)
    return False


def may_revoke_role(who: Viewer, grant: RoleGrant, zone_id: int) -> bool:
    """A role is revoked by whoever could have invited it, and never by its holder."""
    return grant.person_id != who.person_id and may_invite(who, grant.role, zone_id)


# -- what the People page shows ------------------------------------------------------------


@dataclass(frozen=True)
class Holder:
    """A role held, as the page lists it: names as in chat, never an account id."""

    grant_id: int
    name: str
    role: str
    granted: str
    by: str
    may_revoke: bool
    is_me: bool


@dataclass(frozen=True)
class OpenInvite:
    """An invite not redeemed yet."""

    id: int
    role: str
    scope: str
    created: str
    by: str
    expires: str
    may_revoke: bool


@dataclass
class BinPeople:
    id: int
    name: str
    coordinators: list[Holder] = field(default_factory=list)


@dataclass
class ZonePeople:
    """One zone as its police and prevention see it, or a coordinator's own BINs in it."""

    id: int
    name: str
    official: bool
    officers: list[Holder] = field(default_factory=list)
    bins: list[BinPeople] = field(default_factory=list)
    invites: list[OpenInvite] = field(default_factory=list)


@dataclass(frozen=True)
class PeopleView:
    zones: list[ZonePeople]
    may_invite: bool


def day(moment: datetime, zone: Zone, lang: str) -> str:
    """A date with its year, in the zone's time (a role may be years old)."""
    return str(format_datetime(moment, "d MMM yyyy", tzinfo=ZoneInfo(zone.timezone), locale=lang))


class _Names:
    """Display names of role holders, and of who issued what (pseudonyms as stored)."""

    def __init__(self, uow: UnitOfWork, lang: str) -> None:
        self.uow = uow
        self.lang = lang
        self.names: dict[int, str] = {}
        self.pseudonyms: dict[str, int] = {}

    async def load(self, person_ids: set[int], issuers: set[str]) -> None:
        self.pseudonyms = await self.uow.roles.persons_by_pseudonym(issuers - {"admin"})
        wanted = person_ids | set(self.pseudonyms.values())
        self.names = await self.uow.roles.display_names(wanted)

    def person(self, person_id: int) -> str:
        found = self.names.get(person_id)
        return audience.shown_name(found) if found else texts.text("people.no_name", self.lang)

    def issuer(self, by: str | None) -> str:
        """Who issued an invite: the admin's shell, a person (by name), or someone no longer
        known (their data was erased, or the role is older than this record)."""
        if by == "admin":
            return texts.text("people.by_admin", self.lang)
        if by is not None and by in self.pseudonyms:
            return self.person(self.pseudonyms[by])
        return texts.text("people.by_unknown", self.lang)


async def people(core: Core, who: Viewer) -> PeopleView:
    """The People page: per zone of the viewer (police, prevention) its officers, its BINs'
    coordinators and its open invites; for a coordinator, their own BINs' coordinators."""
    lang = who.lang
    now = core.clock.now()
    async with core.uow() as uow:
        zones = {z.id: z for z in await uow.directory.zones()}
        shown: dict[int, ZonePeople] = {}
        bins: dict[int, Bin] = {}
        for zone_id in sorted(who.zones):
            if zone_id in zones:
                shown[zone_id] = ZonePeople(zone_id, zones[zone_id].name, True)
                bins.update({b.id: b for b in await uow.directory.bins(zone_id)})
        for bin_id in sorted(who.coordinated):
            b = await uow.directory.bin(bin_id)
            if b is None or b.zone_id in shown or b.zone_id not in zones:
                continue
            bins[b.id] = b
        for b in sorted(bins.values(), key=lambda b: b.name.casefold()):
            if b.zone_id not in shown:
                shown[b.zone_id] = ZonePeople(b.zone_id, zones[b.zone_id].name, False)
            shown[b.zone_id].bins.append(BinPeople(b.id, b.name))
        official_zones = [z for z in shown if shown[z].official]
        grants = await uow.roles.holders(official_zones, list(bins))
        open_invites = await uow.roles.open_invites(official_zones, list(bins), now)
        names = _Names(uow, lang)
        issuers = {g.granted_by for g in grants if g.granted_by}
        await names.load(
            {g.person_id for g in grants}, issuers | {i.created_by for i in open_invites}
        )
    per_bin: dict[int, list[Holder]] = defaultdict(list)
    for g in grants:
        zone_id = g.zone_id if g.zone_id is not None else bins[g.bin_id or 0].zone_id
        zone = zones[zone_id]
        holder = Holder(
            g.id,
            names.person(g.person_id),
            g.role,
            day(g.granted_at, zone, lang),
            names.issuer(g.granted_by),
            may_revoke_role(who, g, zone_id),
            g.person_id == who.person_id,
        )
        if g.bin_id is not None:
            per_bin[g.bin_id].append(holder)
        elif zone_id in shown:
            shown[zone_id].officers.append(holder)
    for z in shown.values():
        for bp in z.bins:
            bp.coordinators = per_bin.get(bp.id, [])
    for i in open_invites:
        zone_id = i.zone_id if i.zone_id is not None else bins[i.bin_id or 0].zone_id
        zone = zones[zone_id]
        shown[zone_id].invites.append(
            OpenInvite(
                i.id,
                i.role,
                bins[i.bin_id].name if i.bin_id is not None else zone.name,
                alert_render.when(i.created_at, zone, lang),
                names.issuer(i.created_by),
                alert_render.when(i.expires_at, zone, lang),
                may_invite(who, i.role, zone_id),
            )
        )
    ordered = [
        shown[z] for z in sorted(shown, key=lambda z: (not shown[z].official, shown[z].name))
    ]
    return PeopleView(ordered, bool(who.zones))


# -- issuing an invite ---------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """One kind of invite the viewer may issue: `value` as the form sends it back."""

    value: str
    role: str
    zone: str
    bin: str


async def choices(core: Core, who: Viewer) -> list[Choice]:
    """What the viewer may invite for: coordinators of each BIN of their zones, and their
    own organisation in each of their zones."""
    found: list[Choice] = []
    async with core.uow() as uow:
        for zone_id in sorted(who.zones):
            zone = await uow.directory.zone(zone_id)
            if zone is None:
                continue
            active = [b for b in await uow.directory.bins(zone_id) if b.archived_at is None]
            for b in sorted(active, key=lambda b: b.name.casefold()):
                found.append(Choice(f"coordinator:{b.id}", "coordinator", zone.name, b.name))
            for role in ZONE_ROLES:
                if may_invite(who, role.value, zone_id):
                    found.append(Choice(f"{role.value}:{zone_id}", role.value, zone.name, ""))
    return found


@dataclass(frozen=True)
class Issued:
    """A new invite: its code (shown this once), what it is for, and where it leads."""

    id: int
    code: str
    role: str
    scope: str
    expires: str
    links: links.Links


@dataclass(frozen=True)
class Refused:
    """Why an invite or a revocation was refused; `hidden`: the thing is outside the
    viewer's zones and BINs (answered as not found)."""

    reason: str
    hidden: bool = False


def _visible(who: Viewer, zone: Zone, b: Bin | None) -> bool:
    """Whether a zone's or a BIN's people are the viewer's business at all: their zone as
    police or prevention, their own BIN as its coordinator. Anything else is answered as
    not found; within it, `may_invite` says what they may change."""
    return zone.id in who.zones or (b is not None and b.id in who.coordinated)


async def _scope_zone(uow: UnitOfWork, role: str, target: int) -> tuple[Zone, Bin | None] | None:
    """The zone (and BIN) an invite for `role` at `target` (a BIN id for coordinators, a
    zone id otherwise) is about; None when it does not exist."""
    if role == Role.COORDINATOR.value:
        b = await uow.directory.bin(target)
        if b is None:
            return None
        zone = await uow.directory.zone(b.zone_id)
        return (zone, b) if zone is not None else None
    zone = await uow.directory.zone(target)
    return (zone, None) if zone is not None else None


async def issue(core: Core, who: Viewer, what: str, expires: str) -> Issued | Refused:
    """Issue an invite chosen on the form (`coordinator:BIN`, `police:ZONE`,
    `prevention:ZONE`), valid for `expires` (`7d`), through `invites.issue`."""
    now = core.clock.now()
    role, _, target = what.partition(":")
    async with core.uow() as uow:
        if role not in INVITABLE or not (target.isascii() and target.isdigit()):
            await _refused(uow, core, who, "invite.issue", Refused("bad_request"))
            return Refused("bad_request")
        try:
            valid_for = validation.duration(expires, "expires")
        except validation.InvalidInput:
            return Refused("expires")  # the form says why; nothing was attempted
        found = await _scope_zone(uow, role, int(target[:9]))
        refusal = None
        if found is None or not _visible(who, *found):
            refusal = Refused("not_visible", hidden=True)
        elif not may_invite(who, role, found[0].id):
            refusal = Refused("not_allowed")
        elif found[1] is not None and found[1].archived_at is not None:
            refusal = Refused("archived")
        if refusal is not None or found is None:
            refusal = refusal or Refused("not_visible", hidden=True)
            await _refused(uow, core, who, "invite.issue", refusal, role=role)
            return refusal
        zone, b = found
        made = await invites.issue(
            uow,
            core.rng,
            now,
            Role(role),
            zone_id=None if b is not None else zone.id,
            bin_id=b.id if b is not None else None,
            valid_for=valid_for,
            created_by=who.pseudonym,
        )
        await uow.commit()
    return Issued(
        made.invite.id,
        made.code,
        role,
        b.name if b is not None else zone.name,
        alert_render.when(made.invite.expires_at, zone, who.lang),
        links.invite(core.config, made.code),
    )


async def _refused(
    uow: UnitOfWork, core: Core, who: Viewer, action: str, why: Refused, **detail: Any
) -> None:
    """Audit a refusal (nothing else is written)."""
    await uow.audit.record(
        core.clock.now(), who.pseudonym, action, outcome="refused", reason=why.reason, **detail
    )
    await uow.commit()
