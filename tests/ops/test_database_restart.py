"""Delivery survives a real restart of its PostgreSQL server half-way through a fan-out.

The shared server of the other PostgreSQL tests cannot be restarted, so each test here starts
a private cluster of its own (tests/ops/private_postgres.py; skipped, with the reason, when
the server binaries are missing or the cluster cannot be started), seeds one official message
to 500 groups, lets the delivery worker send, and restarts the server when 150 sends are out:

- `restart`: `pg_ctl restart -m fast`, the ordinary restart (upgrades, configuration): the
  server ends every session, rolls back what was in progress and checkpoints;
- `crash`: `pg_ctl stop -m immediate` and start again: every server process is killed, and
  the server replays its WAL (crash recovery) before it accepts connections.

The worker's pooled connections all die; rows in hand that the platform took meanwhile cannot
be recorded as `sent` and stay `sending` until their lease runs out. Delivery must resume by
itself: every row ends `sent`, every group has the message, and a group has it twice only for
a row that was `sending` when the server went down (the crash window of bot/delivery.py,
allowed as in tests/ops/test_delivery_faults.py), never more than twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime

import asyncpg
import pytest

from config.settings import DeliverySettings
from storage.db import Database
from tests.ops.delivery_proc import LedgerPlatform, make_worker, open_count, seed
from tests.ops.private_postgres import PrivatePostgres
from tests.ops.test_delivery_faults import Ledger, rows

GROUPS = 500
LEASE = 1.5  # seconds: rows stranded in `sending` by the restart are taken up again after it


@pytest.fixture
async def outbox() -> AsyncIterator[PrivatePostgres]:
    """A private cluster at head with 500 pending deliveries (one message, 500 groups)."""
    with PrivatePostgres.create() as pg:
        db = Database(pg.url)
        try:
            await db.upgrade()
            await seed(db, groups=GROUPS)
        finally:
            await db.dispose()
        yield pg


async def started_at(pg: PrivatePostgres) -> datetime:
    """When the server's postmaster started (a restart makes it later)."""
    conn = await asyncpg.connect(pg.raw_url)
    try:
        started: datetime = await conn.fetchval("SELECT pg_postmaster_start_time()")
        return started
    finally:
        await conn.close()


@pytest.mark.parametrize("how", ["restart", "crash"])
async def test_postgresql_restarts_mid_fan_out_and_delivery_resumes(
    outbox: PrivatePostgres, how: str
) -> None:
    pg = outbox
    first_start = await started_at(pg)
    ledger = Ledger()
    db = Database(pg.url)
    # Slow enough sends that the fan-out is well under way, not over, when the server goes.
    platform = LedgerPlatform(ledger.sink("a"), 0.02)
    settings = DeliverySettings(lease=LEASE, poll_interval=0.2, concurrency=16)
    worker = make_worker(db, platform, settings, "a")
    await worker.start()
    try:
        while platform.group_sends < 150:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        sends_before = platform.group_sends
        await (pg.restart() if how == "restart" else pg.crash())
        conn = await asyncpg.connect(pg.raw_url)
        try:
            restarted: datetime = await conn.fetchval("SELECT pg_postmaster_start_time()")
            # What the server held when it went down: a claim made since it is back is later
            # than its start (the worker takes the time just before it connects).
            window = {
                f"binbot-d{r['id']}"
                for r in await conn.fetch(
                    "SELECT id FROM deliveries WHERE status = 'sending' "
                    "AND claimed_at < pg_postmaster_start_time()"
                )
            }
            left = await conn.fetchval("SELECT count(*) FROM deliveries WHERE status <> 'sent'")
        finally:
            await conn.close()
        assert restarted > first_start, "the server was not restarted"
        assert left > 0, "the fan-out was over before the server went down"
        begin = time.monotonic()
        while await open_count(db):
            assert time.monotonic() - begin < 30, "delivery did not resume"
            await asyncio.sleep(0.1)
    finally:
        await worker.stop()
        await db.dispose()
    if how == "crash":
        log = pg.log_text()
        assert "automatic recovery in progress" in log and "redo done" in log, (
            "the server ran no crash recovery:\n" + log
        )
    settled = await rows(pg.url)
    assert len(settled) == GROUPS and {r.status for r in settled} == {"sent"}
    assert {f"g{i}" for i in range(GROUPS)} == {chat for chat, _ in ledger.sends}
    assert {f"binbot-d{r.id}" for r in settled} == {txn for _, txn in ledger.sends}
    twice = {txn for (_, txn), n in ledger.sends.items() if n > 1}
    assert twice <= window, f"duplicates outside the crash window: {twice - window}"
    assert max(ledger.sends.values()) <= 2
    assert platform.group_sends > sends_before, "nothing was sent after the restart"
    print(
        f"{how}: {sends_before} sent before, {left} left and {len(window)} sending at the "
        f"restart, {len(twice)} sent twice"
    )
