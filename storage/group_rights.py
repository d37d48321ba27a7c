"""The rights the bot lacks in each group, as last seen: what failed actions, the link's own
check, `binbot doctor` and the hourly re-check found (the desk lists such groups).

Rights are the names the adapters give them ("pin", "invite", "send messages"), stored as
one sorted, comma-separated text. A change is a conditional update on the text it replaces,
so two processes recording at once never lose each other's rights.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import NOT_A_DIRECTORY_CHANGE
from storage.tables import Group

# A conditional update that lost a race reads the row again; more than this many rounds
# would mean a storm of writers, and the next failure or check records it anyway.
_ROUNDS = 3


def parse(stored: str | None) -> tuple[str, ...]:
    """The rights in a stored text, in order."""
    return tuple(r for r in (stored or "").split(",") if r)


def _stored(rights: Collection[str]) -> str | None:
    clean = sorted({r.strip().replace(",", " ") for r in rights if r.strip()})
    return ",".join(clean) or None


class RightsRepo:
    """Read and record the rights the bot lacks in groups."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _change(
        self, group_id: int, compute: Callable[[set[str]], set[str]], now: datetime | None
    ) -> tuple[str, ...] | None:
        """Store `compute(the rights stored)` (and `now` as checked, if given): the new set
        when it changed, else None."""
        for _ in range(_ROUNDS):
            q = select(Group.missing_rights).where(Group.id == group_id)
            found = (await self.session.execute(q)).one_or_none()
            if found is None:
                return None
            old = found[0]
            new = _stored(compute(set(parse(old))))
            if new == old and now is None:
                return None
            values: dict[str, object] = {"missing_rights": new}
            if now is not None:
                values["rights_checked_at"] = now
            same = Group.missing_rights.is_(None) if old is None else Group.missing_rights == old
            result = await self.session.execute(
                update(Group)
                .where(Group.id == group_id, same)
                .values(**values)
                .execution_options(**NOT_A_DIRECTORY_CHANGE)  # no one's context is made of it
            )
            if getattr(result, "rowcount", 0) == 1:
                return parse(new) if new != old else None
        return None

    async def lost(
        self, group_id: int, rights: Collection[str], now: datetime
    ) -> tuple[str, ...] | None:
        """An action failed for lack of `rights`: add them (as of `now`); the new set when it
        grew, else None."""
        return await self._change(group_id, lambda held: held | set(rights), now)

    async def regained(self, group_id: int, rights: Collection[str]) -> tuple[str, ...] | None:
        """An action that needs `rights` went through: drop them; the new set when it shrank."""
        return await self._change(group_id, lambda held: held - set(rights), None)

    async def found(
        self, group_id: int, missing: Collection[str], now: datetime
    ) -> tuple[str, ...] | None:
        """The platform was asked and named all it lacks: store exactly that, checked `now`;
        the new set when it changed, else None."""
        return await self._change(group_id, lambda held: set(missing), now)

    async def checked(self, group_id: int, now: datetime) -> None:
        """The platform could not be asked now: try again in an hour, the rights as they were."""
        await self.session.execute(
            update(Group)
            .where(Group.id == group_id)
            .values(rights_checked_at=now)
            .execution_options(**NOT_A_DIRECTORY_CHANGE)
        )

    async def missing(self, group_id: int) -> tuple[str, ...]:
        """What the bot lacks in a group, as last seen."""
        q = select(Group.missing_rights).where(Group.id == group_id)
        return parse((await self.session.execute(q)).scalar_one_or_none())

    async def due(self, platforms: Sequence[str], before: datetime, limit: int) -> Sequence[Group]:
        """Linked groups on these platforms that lack rights and were last checked before
        `before`, longest unchecked first: the re-check asks only about known problems."""
        q = (
            select(Group)
            .where(
                Group.active.is_(True),
                Group.missing_rights.is_not(None),
                Group.platform.in_(list(platforms)),
                or_(Group.rights_checked_at.is_(None), Group.rights_checked_at < before),
            )
            .order_by(Group.rights_checked_at.is_not(None), Group.rights_checked_at, Group.id)
            .limit(limit)
        )
        return (await self.session.execute(q)).scalars().all()

    async def lacking(self, bin_ids: Sequence[int], limit: int = 50) -> Sequence[Group]:
        """Linked groups of these BINs whose bot lacks rights (the desk's problems)."""
        q = (
            select(Group)
            .where(
                Group.bin_id.in_(list(bin_ids)),
                Group.active.is_(True),
                Group.missing_rights.is_not(None),
            )
            .order_by(Group.bin_id, Group.id)
            .limit(limit)
        )
        return (await self.session.execute(q)).scalars().all()
