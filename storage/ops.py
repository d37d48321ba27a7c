"""Queries for operating a deployment: figures for /metrics, groups for `binbot doctor`.

Each opens a read-only transaction of its own on the database it is given (the operator's
tools read; they never change what the bot holds).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.tables import Bin, Delivery, Group, JoinRequest

if TYPE_CHECKING:
    from storage.db import Database


@dataclass(frozen=True)
class Figures:
    """What /metrics reports from the database."""

    deliveries: dict[tuple[str, str], int]  # (platform, status) -> how many
    join_requests_pending: int


async def figures(db: Database) -> Figures:
    """Deliveries per (platform, status) and undecided join requests, in one transaction."""
    async with db.session() as session:
        return Figures(await delivery_counts(session), await pending_join_requests(session))


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


async def linked_groups(db: Database) -> Sequence[LinkedGroup]:
    """Every active group linked to a BIN, in a stable order."""
    q = (
        select(Group.id, Group.platform, Group.chat_id, Group.title, Bin.code)
        .join(Bin, Bin.id == Group.bin_id)
        .where(Group.active.is_(True))
        .order_by(Group.id)
    )
    async with db.session() as session:
        return [LinkedGroup(*row) for row in (await session.execute(q)).all()]
