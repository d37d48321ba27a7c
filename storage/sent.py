"""Recording that a delivery went out: the row marked `sent` and its audit entry, written
together in one statement on PostgreSQL, and `SentWriter`, which a delivery worker uses to
write its sent rows over a few connections rather than one checkout per row.

Each row is still committed alone, right after the platform accepted its message: writing
several rows in one transaction would widen the window in which a crash shows a message
twice (see bot/delivery.py).
"""

from __future__ import annotations

import asyncio
from collections import deque
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, bindparam, func, insert, select, update

from storage.alerts import SENDING, SENT
from storage.tables import AuditEntry, Delivery

if TYPE_CHECKING:
    from storage.db import Database


def _record_sent_statements() -> tuple[Any, Any, Any]:
    """The statements of `record_sent`, built once with bound parameters: building them anew
    for each row costs more than running them (SQLAlchemy keys its compiled cache on them)."""
    claimed = and_(
        Delivery.id == bindparam("delivery_id"),
        Delivery.status == SENDING,
        Delivery.claimed_by == bindparam("token"),
    )
    mark = (
        update(Delivery)
        .where(claimed)
        .values(
            status=SENT,
            platform_message_id=bindparam("message_id"),
            chat_id=bindparam("chat_id"),
            sent_at=bindparam("now"),
            error=None,
        )
    )
    audit = insert(AuditEntry).values(
        at=bindparam("now"),
        actor="delivery",
        action="delivery.sent",
        outcome="ok",
        zone_id=bindparam("zone_id"),
        bin_id=bindparam("bin_id"),
        detail=bindparam("detail", type_=AuditEntry.__table__.c.detail.type),
    )
    marked = mark.returning(Delivery.id).cte("s")
    both = select(func.count()).select_from(marked).add_cte(audit.cte("a"))
    return mark.execution_options(synchronize_session=False), audit, both


_MARK_SENT, _AUDIT_SENT, _MARK_AND_AUDIT_SENT = _record_sent_statements()


def _sent_params(
    delivery_id: int,
    token: str,
    message_id: str,
    chat_id: str,
    now: datetime,
    zone_id: int | None,
    bin_id: int | None,
    detail: dict[str, Any],
) -> dict[str, Any]:
    return {
        "delivery_id": delivery_id,
        "token": token,
        "message_id": message_id,
        "chat_id": chat_id,
        "now": now,
        "zone_id": zone_id,
        "bin_id": bin_id,
        "detail": detail or None,
    }


async def record_sent(
    db: Database,
    delivery_id: int,
    token: str,
    message_id: str,
    chat_id: str,
    now: datetime,
    *,
    zone_id: int | None,
    bin_id: int | None,
    detail: dict[str, Any],
) -> bool:
    """Mark a claimed delivery `sent` and append its `delivery.sent` audit entry, together.

    On PostgreSQL that is one statement (two data-modifying CTEs), so one round trip and one
    implicit transaction; elsewhere one ordinary transaction. False if the claim was lost
    meanwhile (the audit entry is written all the same: the platform did take the message).
    """
    params = _sent_params(delivery_id, token, message_id, chat_id, now, zone_id, bin_id, detail)
    if db.is_postgres:
        async with db.engine.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            return bool((await auto.execute(_MARK_AND_AUDIT_SENT, params)).scalar() == 1)
    async with db.session() as session:
        result = await session.execute(_MARK_SENT, params)
        await session.execute(_AUDIT_SENT, params)
        return bool(getattr(result, "rowcount", 0) == 1)


class SentWriter:
    """`record_sent` for a worker, on at most `connections` connections at once.

    On PostgreSQL each of up to `connections` writers checks a connection out once and runs
    the rows waiting for it one after another, each its own statement committed at once (never
    several rows in one transaction), until none waits; then the connection goes back to the
    pool. Rows that settle together thus cost no checkout (with its liveness ping) each.
    """

    def __init__(self, db: Database, connections: int) -> None:
        self.db = db
        self.connections = max(1, connections)
        self._waiting: deque[tuple[dict[str, Any], asyncio.Future[bool]]] = deque()
        self._writers: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(self.connections)

    async def record(
        self,
        delivery_id: int,
        token: str,
        message_id: str,
        chat_id: str,
        now: datetime,
        *,
        zone_id: int | None,
        bin_id: int | None,
        detail: dict[str, Any],
    ) -> bool:
        """As `record_sent`; returns once this row's own statement has committed."""
        if not self.db.is_postgres:
            async with self._slots:
                return await record_sent(
                    self.db,
                    delivery_id,
                    token,
                    message_id,
                    chat_id,
                    now,
                    zone_id=zone_id,
                    bin_id=bin_id,
                    detail=detail,
                )
        params = _sent_params(
            delivery_id, token, message_id, chat_id, now, zone_id, bin_id, detail
        )
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((params, done))
        self._more_writers()
        return await done

    def _more_writers(self) -> None:
        loop = asyncio.get_running_loop()
        while len(self._writers) < min(self.connections, len(self._waiting)):
            task = loop.create_task(self._write())
            self._writers.add(task)
            task.add_done_callback(self._writer_done)

    def _writer_done(self, task: asyncio.Task[None]) -> None:
        self._writers.discard(task)
        if self._waiting:
            self._more_writers()

    async def _write(self) -> None:
        current: asyncio.Future[bool] | None = None
        try:
            async with self.db.engine.connect() as conn:
                auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
                while self._waiting:
                    params, current = self._waiting.popleft()
                    if current.done():  # its caller has gone (cancelled)
                        continue
                    n = (await auto.execute(_MARK_AND_AUDIT_SENT, params)).scalar()
                    if not current.done():
                        current.set_result(n == 1)
                    current = None
        except Exception as exc:
            # The row being written learns of it; the others wait for the next writer. When no
            # connection can be had at all, every waiting row learns of it.
            failed = [current] if current is not None else []
            if current is None:
                failed = [f for _, f in self._waiting]
                self._waiting.clear()
            for f in failed:
                if not f.done():
                    f.set_exception(exc)
