"""Queries about groups, join requests and memberships."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.tables import Group, Membership


class GroupRepo:
    """Group and membership queries over one session/transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def group_by_chat(self, platform: str, chat_id: str) -> Group | None:
        """The linked (or formerly linked) group for a platform chat."""
        q = select(Group).where(Group.platform == platform, Group.chat_id == chat_id)
        return (await self.session.execute(q)).scalar_one_or_none()

    async def groups_of_bins(self, bin_ids: Sequence[int], *, active: bool = True) -> Sequence[Group]:
        """The groups linked to any of `bin_ids`."""
        q = select(Group).where(Group.bin_id.in_(list(bin_ids))).order_by(Group.id)
        if active:
            q = q.where(Group.active.is_(True))
        return (await self.session.execute(q)).scalars().all()

    async def memberships_of(self, person_id: int, *, active: bool = True) -> Sequence[Membership]:
        """The BINs a person belongs to."""
        q = select(Membership).where(Membership.person_id == person_id)
        if active:
            q = q.where(Membership.status == "active")
        return (await self.session.execute(q)).scalars().all()
