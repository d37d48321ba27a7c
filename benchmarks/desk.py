"""How fast the desk answers with real volumes.

The memory benchmark's data (10,000 groups, 100,000 members; `benchmarks/memory.py`'s
builder) plus 5,000 official messages, all in the zone measured (the worst case for its pages),
each to one to three BINs with one delivery per group (some failed), each delivered between a
fifth of a second and half a minute after its send time (the delivery-time figures), Seen
marks, and a year of 101 nudge counts for every BIN of the zone. Then an officer of that zone,
logged in through a real login link, asks for the overview, the message list (first and a
later page, and filtered), a message's page, the statistics page (its open months counted
afresh at most once a minute, as the page does) and CSVs of it (deliveries, delivery times,
nudges), and the audit log (15,000 entries: first page, a filtered later page, and filtered
by actor and period) over HTTP, many times each. The recount of the open months, which the
statistics page does once a minute, is timed on its own.

    python benchmarks/desk.py [--groups 10000] [--members 100000] [--messages 5000]
                              [--requests 60] [--postgres URL]

Target: every page under 150 ms at the 95th percentile (the issue asks 300 ms for the
statistics and audit pages; this is stricter). The last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.memory import NullPlatform, populate
from benchmarks.pg import drop_postgres, postgres_database

TARGET_MS = 150.0


async def add_messages(url: str, messages: int, seed: int = 7) -> None:
    """`messages` official messages in zone 1 with their targets, deliveries and Seen."""
    from sqlalchemy import insert, select, text

    from storage.db import open_database
    from storage.figures import EVENT_KINDS, EVENTS
    from storage.tables import (
        Alert,
        AlertTarget,
        AuditEntry,
        Bin,
        Delivery,
        Group,
        MonthlyFigure,
        Seen,
    )

    rng = random.Random(seed)
    now = datetime.now(UTC)
    db = await open_database(url)
    async with db.session() as s:
        bins = (await s.execute(select(Bin.id).where(Bin.zone_id == 1))).scalars().all()
        groups: dict[int, list[tuple[int, str]]] = {}
        for gid, bid, chat in (
            await s.execute(
                select(Group.id, Group.bin_id, Group.chat_id).where(Group.bin_id.in_(bins))
            )
        ).all():
            groups.setdefault(bid, []).append((gid, chat))
        alerts, targets, deliveries, seen, audit = [], [], [], [], []
        for i in range(messages):
            created = now - timedelta(minutes=10 * (messages - i))
            urgent = rng.random() < 0.5
            alerts.append(
                {
                    "id": i + 1,
                    "ref": f"B-{i:04X}"[:6] if i < 65536 else f"C-{i % 65536:04X}",
                    "zone_id": 1,
                    "author_role": "police" if urgent else "prevention",
                    "urgency": "urgent" if urgent else "non_urgent",
                    "category": rng.choice(["burglary", "suspicious_vehicle", "other"]),
                    "text": f"Message {i}",
                    "state": rng.choice(["active", "resolved", "withdrawn", "updated"]),
                    "created_at": created,
                    "release_at": created,
                    "valid_until": created + timedelta(days=1),
                }
            )
            for bid in rng.sample(list(bins), rng.randint(1, 3)):
                targets.append({"alert_id": i + 1, "bin_id": bid})
                for gid, chat in groups.get(bid, []):
                    failed = rng.random() < 0.01
                    delay = timedelta(seconds=rng.uniform(0.2, 30.0))
                    deliveries.append(
                        {
                            "alert_id": i + 1,
                            "group_id": gid,
                            "platform": "console",
                            "chat_id": chat,
                            "status": "failed" if failed else "sent",
                            "error": "forbidden" if failed else None,
                            "next_attempt_at": created,
                            "created_at": created,
                            "sent_at": None if failed else created + delay,
                            "priority": 0,
                            "attempts": 1,
                        }
                    )
            for person in rng.sample(range(1, 1000), 5):
                seen.append({"alert_id": i + 1, "mark": f"{person:032x}"})
            for action in ("alert.compose", "delivery.sent", "desk.message"):
                audit.append(
                    {"at": created, "actor": f"p-{i % 40:04d}", "action": action, "zone_id": 1}
                )
        await s.execute(insert(Alert), alerts)
        await s.execute(insert(AlertTarget), targets)
        for start in range(0, len(deliveries), 10_000):
            await s.execute(insert(Delivery), deliveries[start : start + 10_000])
        await s.execute(insert(Seen), seen)
        await s.execute(insert(AuditEntry), audit)
        # 101 nudges and what followed, counted as they happen: every month of the past year.
        events = []
        for months_back in range(12):
            month = (now.replace(day=15) - timedelta(days=30 * months_back)).strftime("%Y-%m")
            for bid in bins:
                for kind in EVENT_KINDS:
                    n = rng.randint(0, 6)
                    if n:
                        events.append(
                            {
                                "month": month,
                                "bin_id": bid,
                                "figure": EVENTS,
                                "detail": kind,
                                "value": n,
                            }
                        )
        await s.execute(insert(MonthlyFigure), events)
        if db.engine.dialect.name == "postgresql":  # rows were given their ids: move on
            for table in ("persons", "alerts", "zones", "bins"):
                await s.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
        await s.commit()
    if db.engine.dialect.name == "postgresql":
        # Statistics, as autovacuum would have gathered them after a bulk load.
        async with db.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("ANALYZE"))
    await db.dispose()


async def measure(url: str, requests: int) -> dict[str, Any]:
    """Log an officer of zone 1 in and time each page over HTTP."""
    import aiohttp

    from adapters.http.desk import Desk
    from adapters.http.health import HealthServer
    from bot.dispatch import Core
    from bot.health import Health
    from bot.model import Platform
    from bot.services import desk, retention
    from storage.db import open_database

    db = await open_database(url)
    core = Core(db, {Platform.CONSOLE: NullPlatform()})  # type: ignore[dict-item]
    now = core.clock.now()
    async with core.uow() as uow:
        person, _ = await uow.people.ensure_identity(
            Platform.CONSOLE.value, "officer", "Officer", now, pseudonym="p-officer"
        )
        await uow.people.add_grant(now, person.id, "police", zone_id=1, bin_id=None)
        link = await desk.issue_link(uow, person.id, "en", now, core.rng)
        await uow.commit()
    assert isinstance(link, desk.Link)
    server = HealthServer(Health(core, process="bench"), port=0)
    site = Desk(core, "http://127.0.0.1:1")
    server.desk = site
    await server.start()
    base = f"http://127.0.0.1:{server.port}"
    site.__init__(core, base)  # type: ignore[misc]
    since = (now - timedelta(days=20)).strftime("%Y-%m-%d")
    until = (now - timedelta(days=5)).strftime("%Y-%m-%d")
    recounts = []
    for _ in range(5):  # what the statistics page does at most once a minute
        began = time.perf_counter()
        await retention.count_figures(core, core.clock.now(), pause=False)
        recounts.append((time.perf_counter() - began) * 1000)
    pages = {
        "overview": "/desk/",
        "messages": "/desk/messages",
        "messages_page_50": "/desk/messages?page=50",
        "messages_filtered": "/desk/messages?category=burglary&state=resolved&bin=1",
        "message": "/desk/messages/B-1000",
        "stats": "/desk/stats",
        "stats_csv": "/desk/stats/deliveries.csv",
        "stats_timings_csv": "/desk/stats/timings.csv",
        "stats_nudges_csv": "/desk/stats/nudges.csv",
        "audit": "/desk/audit",
        "audit_filtered": "/desk/audit?action=alert.compose&page=3",
        "audit_actor_period": f"/desk/audit?actor=p-0007&since={since}&until={until}",
        "audit_csv": f"/desk/audit.csv?action=alert.compose&since={since}",
    }
    timings: dict[str, list[float]] = {name: [] for name in pages}
    jar = aiohttp.CookieJar(unsafe=True)
    try:
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            async with http.get(f"{base}/desk/login/{link.token}") as r:
                assert r.status == 200, await r.text()
            for _ in range(requests):
                for name, path in pages.items():
                    began = time.perf_counter()
                    async with http.get(base + path) as r:
                        body = await r.text()
                        assert r.status == 200, (name, body[:300])
                    timings[name].append((time.perf_counter() - began) * 1000)
    finally:
        await server.stop()
        await db.dispose()
    out: dict[str, Any] = {}
    for name, values in timings.items():
        values = values[2:]  # the first requests warm the caches
        values.sort()
        out[name] = {
            "median_ms": round(statistics.median(values), 1),
            "p95_ms": round(values[int(len(values) * 0.95) - 1], 1),
        }
    out["recount_open_months"] = {
        "median_ms": round(statistics.median(recounts), 1),
        "p95_ms": round(max(recounts), 1),  # of five: the slowest
    }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=10_000)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=5_000)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--postgres", help="URL of a server's postgres database to use instead")
    args = parser.parse_args()
    made: tuple[str, str] | None = None
    with tempfile.TemporaryDirectory() as tmp:
        if args.postgres:
            made = asyncio.run(postgres_database(args.postgres))
            if made is None:
                return 2
            url = made[0]
        else:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'desk.db'}"
        try:
            began = time.perf_counter()
            asyncio.run(populate(url, args.groups, args.members))
            asyncio.run(add_messages(url, args.messages))
            filled = time.perf_counter() - began
            result = asyncio.run(measure(url, args.requests))
        finally:
            if made is not None:
                asyncio.run(drop_postgres(args.postgres, made[1]))
    engine = "PostgreSQL" if made else "SQLite"
    print(
        f"database: {engine}, filled in {filled:.0f} s: {args.groups} groups, "
        f"{args.members} members, {args.messages} official messages in the zone measured"
    )
    recount = result.pop("recount_open_months")
    worst = 0.0
    for name, figures in result.items():
        worst = max(worst, figures["p95_ms"])
        print(f"{name:20} median {figures['median_ms']:7.1f} ms   p95 {figures['p95_ms']:7.1f} ms")
    verdict = "met" if worst < TARGET_MS else "NOT met"
    print(f"target: p95 < {TARGET_MS:.0f} ms on every page: {verdict}")
    print(
        f"recount of the open months (once a minute at most): median "
        f"{recount['median_ms']:.0f} ms, slowest of five {recount['p95_ms']:.0f} ms"
    )
    print(
        json.dumps(
            {
                "benchmark": "desk",
                "database": engine.lower(),
                "groups": args.groups,
                "members": args.members,
                "messages": args.messages,
                "pages": result,
                "recount_open_months": recount,
                "worst_p95_ms": worst,
                "target_ms": TARGET_MS,
                "met": worst < TARGET_MS,
            }
        )
    )
    return 0 if worst < TARGET_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
