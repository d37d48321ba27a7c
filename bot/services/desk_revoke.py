"""Revoking on the desk's People page: an open invite, or a role someone holds, by whoever
could have issued it (`desk_people.may_invite`, `may_revoke_role`), after a confirmation
step; what followed (desk sessions ended, who was told in chat) is returned for the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bot import texts
from bot.model import Rich, Role
from bot.services import alert_render, audience, invites
from bot.services.desk import Viewer
from bot.services.desk_people import (
    Refused,
    _Names,
    _refused,
    _scope_zone,
    _visible,
    may_invite,
    may_revoke_role,
)

if TYPE_CHECKING:
    from bot.dispatch import Core
    from storage.tables import Bin, Invite, RoleGrant, Zone
    from storage.uow import UnitOfWork


@dataclass(frozen=True)
class RoleToRevoke:
    """What the confirmation step shows."""

    grant_id: int
    name: str
    role: str
    scope: str
    bin_id: int | None
    coordinators_told: int


@dataclass(frozen=True)
class RoleRevoked:
    """What revoking did: the desk sessions it ended and who was told in chat."""

    name: str
    role: str
    scope: str
    sessions_ended: int
    person_told: bool
    coordinators_told: int


async def _grant_in_scope(
    uow: UnitOfWork, who: Viewer, grant_id: int
) -> tuple[RoleGrant, Zone, Bin | None] | Refused:
    grant = await uow.people.grant(grant_id)
    if grant is None or grant.revoked_at is not None:
        return Refused("not_visible", hidden=True)
    target = grant.bin_id if grant.bin_id is not None else grant.zone_id
    found = await _scope_zone(uow, grant.role, target or 0)
    if found is None or not _visible(who, *found):
        return Refused("not_visible", hidden=True)
    if grant.person_id == who.person_id:
        return Refused("own_role")
    if not may_revoke_role(who, grant, found[0].id):
        return Refused("not_allowed")
    return grant, found[0], found[1]


async def role_to_revoke(core: Core, who: Viewer, grant_id: int) -> RoleToRevoke | Refused:
    """The confirmation step: whose role, and who will be told."""
    async with core.uow() as uow:
        found = await _grant_in_scope(uow, who, grant_id)
        if isinstance(found, Refused):
            await _refused(uow, core, who, "role.revoke", found, grant=grant_id)
            return found
        grant, zone, b = found
        names = _Names(uow, who.lang)
        await names.load({grant.person_id}, set())
        others = []
        if b is not None:
            others = [p for p in await audience.coordinator_ids(uow, b.id) if p != grant.person_id]
    return RoleToRevoke(
        grant.id,
        names.person(grant.person_id),
        grant.role,
        b.name if b is not None else zone.name,
        b.id if b is not None else None,
        len(others),
    )


def _organisation(who: Viewer, zone: Zone, lang: str) -> str:
    """The viewer's organisation in a zone, as the chat names it."""
    held = {g.role.value for g in who.roles.grants if g.zone_id == zone.id}
    role = Role.POLICE.value if Role.POLICE.value in held else Role.PREVENTION.value
    return alert_render.organisation(role, zone, lang)


async def revoke_role(core: Core, who: Viewer, grant_id: int) -> RoleRevoked | Refused:
    """Revoke a role through `invites.revoke_grant` (the holder's desk sessions end with it),
    then tell the holder and, for a coordinator, the BIN's other coordinators in chat."""
    now = core.clock.now()
    async with core.uow() as uow:
        found = await _grant_in_scope(uow, who, grant_id)
        if isinstance(found, Refused):
            await _refused(uow, core, who, "role.revoke", found, grant=grant_id)
            return found
        grant, zone, b = found
        # The language they read the news in is the one their role gave them (without it,
        # a person may have no zone any more to take a language from).
        lang = await core.person_language(uow, grant.person_id)
        done = await invites.revoke_grant(uow, grant.id, now, by=who.pseudonym)
        names = _Names(uow, who.lang)
        await names.load({grant.person_id}, set())
        await uow.commit()
    person_id, role = grant.person_id, grant.role
    scope = b.name if b is not None else zone.name
    name = names.person(person_id)
    found_name = names.names.get(person_id)
    key = "people.told_revoked_sessions" if done.sessions_ended else "people.told_revoked"

    def to_person(lang: str, prefix: str) -> Rich:
        return texts.rich(
            key,
            lang,
            role=texts.text(f"role.{role}", lang),
            scope=scope,
            organisation=_organisation(who, zone, lang),
        )

    def to_coordinators(lang: str, prefix: str) -> Rich:
        return texts.rich(
            "people.told_coordinator_revoked",
            lang,
            name=audience.shown_name(found_name)
            if found_name
            else texts.text("people.no_name", lang),
            bin=scope,
            organisation=_organisation(who, zone, lang),
        )

    told = await audience.tell(core, person_id, to_person, lang=lang)
    others = []
    if b is not None:
        others = await audience.tell_coordinators(core, b.id, to_coordinators, skip=[person_id])
    return RoleRevoked(name, role, scope, done.sessions_ended, told is not None, len(others))


@dataclass(frozen=True)
class InviteToRevoke:
    id: int
    role: str
    scope: str
    expires: str


async def _invite_in_scope(
    uow: UnitOfWork, who: Viewer, invite_id: int, now: datetime
) -> tuple[Invite, Zone, Bin | None] | Refused:
    invite = await uow.invites.invite(invite_id)
    if invite is None:
        return Refused("not_visible", hidden=True)
    target = invite.bin_id if invite.bin_id is not None else invite.zone_id
    found = await _scope_zone(uow, invite.role, target or 0)
    if found is None or found[0].id not in who.zones:
        # Coordinators see no invites, not even their own BIN's.
        return Refused("not_visible", hidden=True)
    if not may_invite(who, invite.role, found[0].id):
        return Refused("not_allowed")
    closed = invite.used_at or invite.revoked_at or invite.voided_at or invite.expires_at <= now
    if closed:
        return Refused("invite_closed")
    return invite, found[0], found[1]


async def invite_to_revoke(core: Core, who: Viewer, invite_id: int) -> InviteToRevoke | Refused:
    """The confirmation step of revoking an open invite."""
    now = core.clock.now()
    async with core.uow() as uow:
        found = await _invite_in_scope(uow, who, invite_id, now)
        if isinstance(found, Refused):
            await _refused(uow, core, who, "invite.revoke", found, invite=invite_id)
            return found
    invite, zone, b = found
    scope = b.name if b is not None else zone.name
    return InviteToRevoke(
        invite.id, invite.role, scope, alert_render.when(invite.expires_at, zone, who.lang)
    )


async def revoke_invite(core: Core, who: Viewer, invite_id: int) -> InviteToRevoke | Refused:
    """Revoke an open invite through `invites.revoke_invite` (audited there)."""
    now = core.clock.now()
    async with core.uow() as uow:
        found = await _invite_in_scope(uow, who, invite_id, now)
        if isinstance(found, Refused):
            await _refused(uow, core, who, "invite.revoke", found, invite=invite_id)
            return found
        invite, zone, b = found
        await invites.revoke_invite(uow, invite.id, now, by=who.pseudonym)
        await uow.commit()
    scope = b.name if b is not None else zone.name
    return InviteToRevoke(
        invite.id, invite.role, scope, alert_render.when(invite.expires_at, zone, who.lang)
    )
