"""One retention run over a year of history, and delivery while it runs.

The database holds benchmarks/memory.py's data (10,000 groups, 100,000 members: its
`populate` fills it) plus a year of history: 5,000 official messages with one delivery per
group of their BIN, 50,000 Seen marks (as a database migrated from before Seen was swept
holds them), 20,000 decided join requests, an audit entry for each message and decision,
and 5,000 people who wrote once and never joined. Then one retention run (`bot.services.
retention.run`, as the daily job runs it) goes while the real delivery worker runs; every
half second an official message to a BIN of four groups is confirmed (`alerts.store`, as the
wizard's confirm does) and the time until its first group has it is taken.

    python benchmarks/retention.py [--groups 10000] [--members 100000] [--postgres URL]
                                   [--no-postgres]

Targets: the run under 30 s, and every message confirmed during it in its first group in
under 1 s; on SQLite and on PostgreSQL (127.0.0.1:5432 when reachable). The last line
printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, insert, select, text

from benchmarks.memory import GROUPS_PER_BIN, populate
from benchmarks.pg import drop_postgres, postgres_database
from bot.dispatch import Core
from bot.services import retention
from config.settings import DeliverySettings
from storage.db import Database
from storage.tables import (
    Alert,
    AlertTarget,
    AuditEntry,
    Bin,
    Delivery,
    Group,
    Identity,
    JoinRequest,
    Person,
    RoleGrant,
    Seen,
)
from tests.ops.delivery_proc import LedgerPlatform, make_worker
from tests.ops.delivery_proc import store as store_alert

RUN_TARGET_S = 30.0
FIRST_TARGET_S = 1.0
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
CHUNK = 5_000


async def _insert(db: Database, table: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        async with db.session() as s:
            await s.execute(insert(table), rows[start : start + CHUNK])


async def _sequences(db: Database) -> None:
    """Move PostgreSQL's id sequences past the ids inserted explicitly (memory.py does)."""
    if not db.is_postgres:
        return
    async with db.session() as s:
        for table in ("zones", "bins", "persons", "identities", "alerts", "groups"):
            await s.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
                )
            )


async def history(url: str, groups: int, members: int, rng: random.Random) -> dict[str, int]:
    """A year of messages, deliveries, Seen, requests, audit entries and passers-by."""
    db = Database(url)
    await _sequences(db)
    now = datetime.now(UTC)
    year = now - timedelta(days=365)
    bins = max(1, groups // GROUPS_PER_BIN)
    async with db.session() as s:
        author = Person(pseudonym="p-officer", created_at=year, failed_redeems=0)
        s.add(author)
        await s.flush()
        s.add(RoleGrant(person_id=author.id, role="police", zone_id=1, granted_at=year))
        bench = Bin(zone_id=1, name="Bench", code="bench", created_at=year)
        s.add(bench)
        await s.flush()
        s.add_all(
            Group(bin_id=bench.id, platform="telegram", chat_id=f"t{i}", linked_at=year)
            for i in range(GROUPS_PER_BIN)
        )
        author_id, bench_id = author.id, bench.id
        first_person = int((await s.execute(select(func.max(Person.id)))).scalar() or 0) + 1
    messages, seen, requests, passers = 5_000, 50_000, 20_000, 5_000
    step = timedelta(days=363) / messages
    alerts, targets, deliveries, marks, audit = [], [], [], [], []
    for i in range(messages):
        at = year + i * step
        b = rng.randrange(bins) + 1
        alerts.append(
            {
                "id": i + 1,
                "ref": f"B-{i:05d}",
                "zone_id": 1,
                "author_id": author_id,
                "author_role": "police",
                "urgency": "urgent",
                "category": rng.choice(("burglary", "suspicious_vehicle", "scam")),
                "text": "Burglary in the Kerkstraat.",
                "state": "expired",
                "created_at": at,
                "release_at": at,
                "valid_until": at + timedelta(hours=24),
                "receipt_platform": "console",
                "receipt_chat_id": "dm:officer",
                "seen_count": seen // messages,
                "seen_key": secrets.token_hex(32),
            }
        )
        targets.append({"alert_id": i + 1, "bin_id": b})
        for k in range(GROUPS_PER_BIN):  # memory.py puts group g (id g+1) in BIN g % bins + 1
            gid = b + k * bins
            deliveries.append(
                {
                    "alert_id": i + 1,
                    "group_id": gid,
                    "platform": "console",
                    "chat_id": f"g{gid - 1}",
                    "status": "sent",
                    "attempts": 1,
                    "next_attempt_at": at,
                    "created_at": at,
                    "sent_at": at,
                    "platform_message_id": str(i),
                }
            )
        marks += [{"alert_id": i + 1, "mark": secrets.token_hex(16)} for _ in range(10)]
        audit.append({"at": at, "actor": "p-officer", "action": "alert.send", "outcome": "ok"})
    joins = []
    for i in range(requests):
        at = year + i * (timedelta(days=363) / requests)
        status = rng.choice(("approved", "declined", "expired"))
        joins.append(
            {
                "bin_id": rng.randrange(bins) + 1,
                "person_id": rng.randrange(members) + 1,
                "platform": "console",
                "status": status,
                "created_at": at,
                "expires_at": at + timedelta(days=7),
                "decided_at": at + timedelta(days=1),
            }
        )
        audit.append({"at": at, "actor": "p-coord", "action": f"join.{status}", "outcome": "ok"})
    people = [
        {
            "id": first_person + i,
            "pseudonym": f"p-passer{i}",
            "created_at": year,
            "last_seen_at": year + timedelta(days=rng.randrange(180)),
            "failed_redeems": 0,
        }
        for i in range(passers)
    ]
    accounts = [
        {
            "person_id": p["id"],
            "platform": "console",
            "user_id": f"passer{i}",
            "display_name": f"Passer {i}",
            "created_at": year,
        }
        for i, p in enumerate(people)
    ]
    for table, rows in (
        (Alert, alerts),
        (AlertTarget, targets),
        (Delivery, deliveries),
        (Seen, marks),
        (JoinRequest, joins),
        (AuditEntry, audit),
        (Person, people),
        (Identity, accounts),
    ):
        await _insert(db, table, rows)
    await _sequences(db)
    await db.dispose()
    return {
        "author": author_id,
        "bench_bin": bench_id,
        "messages": messages,
        "deliveries": len(deliveries),
        "seen": len(marks),
        "requests": requests,
        "audit": len(audit),
        "passers_by": passers,
    }


async def measure(url: str, ids: dict[str, int]) -> dict[str, Any]:
    """One retention run beside the delivery worker, confirming a message every 0.5 s."""
    db = Database(url)
    first: list[float] = []

    def sink(chat: str, txn: str) -> None:
        if not first:
            first.append(time.perf_counter())

    worker = make_worker(db, LedgerPlatform(sink), DeliverySettings(), "bench")
    await worker.start()
    core = Core(db, {})
    latencies: list[float] = []
    try:
        await asyncio.sleep(0.2)
        began = time.perf_counter()
        run = asyncio.create_task(retention.run(core))
        while not run.done():
            await asyncio.sleep(0.5)
            if run.done():
                break
            first.clear()
            start = time.perf_counter()
            await store_alert(db, 1, ids["bench_bin"], ids["author"])
            worker.wake()
            while not first:  # noqa: ASYNC110 (set by the fake's sink)
                await asyncio.sleep(0.001)
            latencies.append(first[0] - start)
        report = await run
        took = time.perf_counter() - began
    finally:
        await worker.stop()
        await db.dispose()
    return {
        "run_s": round(took, 2),
        "deleted": report.deleted,
        "cleared": report.cleared,
        "months_counted": report.months,
        "confirmed_during_run": len(latencies),
        "first_group_max_s": round(max(latencies, default=0.0), 3),
        "first_group_median_s": round(sorted(latencies)[len(latencies) // 2], 3)
        if latencies
        else None,
        "met": took < RUN_TARGET_S and bool(latencies) and max(latencies) < FIRST_TARGET_S,
    }


async def one(url: str, args: argparse.Namespace) -> dict[str, Any]:
    began = time.perf_counter()
    await populate(url, args.groups, args.members)
    ids = await history(url, args.groups, args.members, random.Random(7))
    filled = round(time.perf_counter() - began, 1)
    result = await measure(url, ids)
    return {"filled_s": filled, **{k: v for k, v in ids.items() if k not in ("author",)}, **result}


def show(name: str, r: dict[str, Any]) -> None:
    deleted = sum(r["deleted"].values())
    print(
        f"{name}: one run in {r['run_s']} s ({deleted} rows deleted, {r['months_counted']} "
        f"months counted); {r['confirmed_during_run']} messages confirmed during it reached "
        f"their first group in at most {r['first_group_max_s']} s "
        f"(median {r['first_group_median_s']} s); met: {r['met']}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=10_000)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--postgres", default=PG_ADMIN, help="a server's postgres database")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'retention.db'}"
        results["sqlite"] = asyncio.run(one(url, args))
        show("SQLite", results["sqlite"])
    if not args.no_postgres:
        made = asyncio.run(postgres_database(args.postgres))
        if made is not None:
            try:
                results["postgresql"] = asyncio.run(one(made[0], args))
                show("PostgreSQL", results["postgresql"])
            finally:
                asyncio.run(drop_postgres(args.postgres, made[1]))
    results["met"] = all(r["met"] for r in results.values() if isinstance(r, dict))
    print(json.dumps(results, sort_keys=True))
    return 0 if results["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
