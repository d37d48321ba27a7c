"""Queries for operating a deployment: figures for /metrics, groups for `binbot doctor`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.tables import Bin, Delivery, Group, JoinRequest


async def delivery_counts(session: AsyncSession) -> dict[tuple[str, str], int]:
    """Deliveries per (platform, status)."""
    q = select(Delivery.platform, Delivery.status, func.count()).group_by(
        Delivery.platform, Delivery.status
    )
    return {(p, s): int(n) for p, s, n in (await session.execute(q)).all()}


async def pending_join_requests(session: AsyncSession) -> int:
    """Join requests nobody has decided yet."""
    q = select(func.count()).select_from(JoinRequest).where(JoinRequest.status == "pending")
    return int((await session.execute(q)).scalar_one())


@dataclass(frozen=True)
class LinkedGroup:
    """An active group with the code of its BIN."""

    id: int
    platform: str
    chat_id: str
    title: str
    bin_code: str


async def linked_groups(session: AsyncSession) -> Sequence[LinkedGroup]:
    """Every active group linked to a BIN, in a stable order."""
    q = (
        select(Group.id, Group.platform, Group.chat_id, Group.title, Bin.code)
        .join(Bin, Bin.id == Group.bin_id)
        .where(Group.active.is_(True))
        .order_by(Group.id)
    )
    return [LinkedGroup(*row) for row in (await session.execute(q)).all()]
