"""The queries of the desk's BIN pages: how many members each BIN has on each platform.

The bot records memberships per BIN, not per group: a member counts on a platform when the
person has an account there, the platform whose group they were let into.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.tables import Identity, Membership


class BinsRepo:
    """Figures of one BIN for its page (one grouped statement each)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def members_per_platform(self, bin_id: int) -> dict[str, int]:
        """Active members of a BIN per platform they have an account on."""
        q = (
            select(Identity.platform, func.count(func.distinct(Membership.person_id)))
            .join(Identity, Identity.person_id == Membership.person_id)
            .where(Membership.bin_id == bin_id, Membership.status == "active")
            .group_by(Identity.platform)
        )
        return {str(p): int(n) for p, n in (await self.session.execute(q)).all()}
