"""The queries of the desk's People page: who holds a role in some zones and BINs, their
display names, the officers behind the pseudonyms that issued invites, and open invites.

Each is one statement over all the zones and BINs a page covers.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.tables import Identity, Invite, Person, RoleGrant


class RoleRepo:
    """Role holders and open invites, per zone and BIN."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def holders(
        self, zone_ids: Collection[int], bin_ids: Collection[int]
    ) -> Sequence[RoleGrant]:
        """The roles held now (not revoked) in these zones (police, prevention) and BINs
        (coordinators), oldest grant first."""
        if not zone_ids and not bin_ids:
            return []
        q = (
            select(RoleGrant)
            .where(
                RoleGrant.revoked_at.is_(None),
                or_(RoleGrant.zone_id.in_(list(zone_ids)), RoleGrant.bin_id.in_(list(bin_ids))),
            )
            .order_by(RoleGrant.granted_at, RoleGrant.id)
        )
        return (await self.session.execute(q)).scalars().all()

    async def display_names(self, person_ids: Collection[int]) -> dict[int, str]:
        """Each person's display name as their platforms give it (the first of their
        accounts that has one); people without one are left out. Never an account id."""
        if not person_ids:
            return {}
        q = (
            select(Identity.person_id, Identity.display_name)
            .where(Identity.person_id.in_(list(person_ids)))
            .order_by(Identity.id)
        )
        names: dict[int, str] = {}
        for person_id, name in (await self.session.execute(q)).all():
            if name and name.strip() and person_id not in names:
                names[person_id] = name
        return names

    async def persons_by_pseudonym(self, pseudonyms: Collection[str]) -> dict[str, int]:
        """The persons behind these pseudonyms (those still known)."""
        if not pseudonyms:
            return {}
        q = select(Person.pseudonym, Person.id).where(Person.pseudonym.in_(list(pseudonyms)))
        return {pseudonym: pid for pseudonym, pid in (await self.session.execute(q)).all()}

    async def open_invites(
        self, zone_ids: Collection[int], bin_ids: Collection[int], now: datetime
    ) -> Sequence[Invite]:
        """Invites of these zones and BINs that can still be redeemed, soonest to expire
        first."""
        if not zone_ids and not bin_ids:
            return []
        q = (
            select(Invite)
            .where(
                Invite.used_at.is_(None),
                Invite.revoked_at.is_(None),
                Invite.voided_at.is_(None),
                Invite.expires_at > now,
                or_(Invite.zone_id.in_(list(zone_ids)), Invite.bin_id.in_(list(bin_ids))),
            )
            .order_by(Invite.expires_at, Invite.id)
        )
        return (await self.session.execute(q)).scalars().all()
