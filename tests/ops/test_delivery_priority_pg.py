"""Two worker processes on a real PostgreSQL (127.0.0.1) claim the outbox by priority: an urgent
message stored while both are busy with a long non-urgent notice goes out before the rest of
the notice, from both processes, each row once. Skipped when PostgreSQL is unreachable."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import select

from storage.db import Database
from storage.tables import Bin, Delivery, Person
from tests.ops.delivery_proc import add_bin, read_ledger, seed, store

ROOT = Path(__file__).resolve().parents[2]
PROC = ROOT / "tests" / "ops" / "delivery_proc.py"
NOTICE_GROUPS = 600
URGENT_GROUPS = 60
CONCURRENCY = 8


async def test_two_processes_send_an_urgent_message_before_the_rest_of_a_notice(
    pg_url: str, tmp_path: Path
) -> None:
    db = Database(pg_url)
    await db.upgrade()
    await seed(db, NOTICE_GROUPS, messages=0)
    async with db.session() as s:
        noord = (await s.execute(select(Bin))).scalar_one()
        author = (await s.execute(select(Person))).scalar_one()
        zone_id, noord_id, author_id = noord.zone_id, noord.id, author.id
    zuid_id = await add_bin(db, zone_id, "zuid", [f"u{i}" for i in range(URGENT_GROUPS)])
    await store(db, zone_id, noord_id, author_id, role="prevention")

    env = os.environ | {
        "BINBOT_DATABASE_URL": pg_url,
        "BINBOT_DELIVERY__CONCURRENCY": str(CONCURRENCY),
        "BINBOT_DELIVERY__POLL_INTERVAL": "0.2",
    }
    ledgers = {n: tmp_path / f"{n}.sends" for n in ("a", "b")}
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(PROC),
            str(path),
            "--delay",
            "0.05",
            cwd=ROOT,
            env=env | {"BINBOT_PROCESS_NAME": n},
            stdout=asyncio.subprocess.DEVNULL,
        )
        for n, path in ledgers.items()
    ]
    try:
        begin = time.monotonic()
        while True:  # both processes are sending the notice
            per = [len(read_ledger(p)) for p in ledgers.values()]
            if min(per) >= 20:
                break
            assert time.monotonic() - begin < 60, f"the workers did not get going: {per}"
            await asyncio.sleep(0.01)
        stored_at = time.time()
        await store(db, zone_id, zuid_id, author_id, role="police")
        codes = [await asyncio.wait_for(p.wait(), 120) for p in procs]
    finally:
        for p in procs:
            if p.returncode is None:
                p.kill()
                await p.wait()
    async with db.session() as s:
        rows = list((await s.execute(select(Delivery))).scalars())
    await db.dispose()
    assert codes == [0, 0]
    assert len(rows) == NOTICE_GROUPS + URGENT_GROUPS
    assert {r.status for r in rows} == {"sent"}

    sends = {n: read_ledger(p) for n, p in ledgers.items()}
    every = sorted((t, chat, n) for n, rows_ in sends.items() for chat, _, t in rows_)
    assert Counter(chat for _, chat, _ in every).most_common(1)[0][1] == 1, "sent twice"
    urgent = [(t, n) for t, chat, n in every if chat.startswith("u")]
    assert len(urgent) == URGENT_GROUPS
    assert {n for _, n in urgent} == {"a", "b"}, "both processes take the urgent rows"
    last_urgent = max(t for t, _ in urgent)
    notice_meanwhile = [t for t, chat, _ in every if chat.startswith("g") and stored_at < t]
    before_last = [t for t in notice_meanwhile if t < last_urgent]
    # What each process had in hand (or was claiming) when the urgent message came may finish;
    # nothing more of the notice goes before the urgent message has reached every group.
    assert len(before_last) <= 4 * CONCURRENCY, (len(before_last), len(notice_meanwhile))
    assert len(notice_meanwhile) - len(before_last) > 100, "the notice was not left waiting"
