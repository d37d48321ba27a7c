"""Inbound updates per second through the whole core: Core.handle on the console platform.

A realistic mix from residents of a zone with one BIN and its linked groups: chatter in the
groups (a few messages read like an incident and meet the 101 nudge and its cooldown), and
commands in private chats (/help, /numbers, /check, /mydata, a stray text). Every resident is
known already, as in a running deployment; a few newcomers write for the first time. Output
goes to the console platform with its lines discarded, so what is measured is the core and the
database. Runs on SQLite, and on PostgreSQL when one is reachable.

Measured in the steady state of a running process: `--warm` updates of the same mix go first
(by default three per resident, so the process has met its residents, as one that has been up
a while has). Read-only commands then reuse the context read for the person less than a minute
before, as `binbot run` does; the share of updates answered that way is printed. The "no
reuse" run reads every person afresh: the cost of a resident the process has not met lately.

    python benchmarks/inbound.py [--events 6000] [--warm 6000] [--concurrency 8]
                                 [--postgres URL | --no-postgres]

Target: at least 2,000 updates per second on SQLite in one process. The last line printed is
one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.console.platform import ConsolePlatform
from benchmarks.pg import drop_postgres, postgres_database
from bot.app import CONTEXT_REUSE_SECONDS, tune_gc
from bot.core_config import CoreConfig
from bot.dispatch import Core
from bot.events import Event
from bot.metrics import REGISTRY
from bot.model import Platform
from storage.db import Database, open_database
from storage.tables import Bin, Group, Identity, Membership, Person, Zone

TARGET = 2000.0
RESIDENTS = 2000
GROUPS = 20
CHATTER = [
    "Goedemorgen allemaal!",
    "Wie heeft er een pakje van PostNL gezien voor nummer 12?",
    "De vuilniszakken worden morgen opgehaald, niet vergeten",
    "Merci voor de hulp gisteren",
    "Is er iemand die een ladder kan uitlenen?",
    "De straatverlichting aan de kerk is weer kapot",
    "Leuke buurtbarbecue zaterdag!",
    "Kat gevonden, grijs met witte pootjes",
]
INCIDENTS = ["Verdachte wagen rijdt al een uur rond in de straat", "Inbraak bij de buren!"]


# (share of updates, kind, console line): WHO is a resident, GROUP one of the linked groups.
MIX = (
    (0.50, "group chatter", "WHO@GROUP: CHATTER"),
    (0.03, "group incident", "WHO@GROUP: INCIDENT"),
    (0.20, "/help", "WHO@dm: /help"),
    (0.15, "/numbers", "WHO@dm: /numbers"),
    (0.05, "/check", "WHO@dm: /check A-7K2Q"),
    (0.03, "/mydata", "WHO@dm: /mydata"),
    (0.02, "private text", "WHO@dm: hallo?"),
    (0.02, "newcomer /start", "NEW@dm: /start"),
)


CUMULATIVE = tuple(
    (sum(share for share, _, _ in MIX[: i + 1]), kind, line)
    for i, (_, kind, line) in enumerate(MIX)
)


def mix(rng: random.Random, n: int) -> list[tuple[str, str]]:
    """`n` (kind, console input line) pairs, in the proportions of MIX."""
    out = []
    for i in range(n):
        roll = rng.random()
        kind, line = next((k, t) for limit, k, t in CUMULATIVE if roll < limit)
        line = (
            line.replace("WHO", f"r{rng.randrange(RESIDENTS)}")
            .replace("GROUP", f"g{rng.randrange(GROUPS)}")
            .replace("CHATTER", rng.choice(CHATTER))
            .replace("INCIDENT", rng.choice(INCIDENTS))
            .replace("NEW", f"new{i}x{rng.randrange(10**9)}")
        )
        out.append((kind, line))
    return out


async def populate(db: Database) -> None:
    """One zone, one BIN, its linked console groups, and every resident a known member."""
    now = datetime.now(UTC)
    async with db.session() as s:
        zone = Zone(name="Beringen", non_urgent_number="011 27 95 79", created_at=now)
        s.add(zone)
        await s.flush()
        b = Bin(zone_id=zone.id, name="Noord", code="noord", created_at=now)
        s.add(b)
        await s.flush()
        s.add_all(
            Group(bin_id=b.id, platform="console", chat_id=f"g{i}", title=f"g{i}", linked_at=now)
            for i in range(GROUPS)
        )
        persons = [
            Person(pseudonym=f"p-{i:012x}", created_at=now, failed_redeems=0)
            for i in range(RESIDENTS)
        ]
        s.add_all(persons)
        await s.flush()
        s.add_all(
            Identity(
                person_id=p.id,
                platform="console",
                user_id=f"r{i}",
                display_name=f"r{i}",
                dm_chat_id=f"dm:r{i}",
                created_at=now,
            )
            for i, p in enumerate(persons)
        )
        s.add_all(Membership(bin_id=b.id, person_id=p.id, joined_at=now) for p in persons)


def parse_all(platform: ConsolePlatform, lines: list[tuple[str, str]]) -> list[tuple[str, Event]]:
    """The (kind, event) of each line (the groups exist already, so one event per line)."""
    events = []
    for kind, line in lines:
        parsed = platform.parse(line)
        assert isinstance(parsed, list) and len(parsed) == 1, parsed
        events.append((kind, parsed[0]))
    return events


def contexts() -> dict[str, float]:
    """The process's context lookups so far, by source (read afresh or reused)."""
    return {
        source: REGISTRY.get_sample_value("binbot_contexts_total", {"source": source}) or 0.0
        for source in ("read", "reused")
    }


async def run(
    url: str, n: int, concurrency: int, seed: int, reuse: float, warm_n: int
) -> dict[str, Any]:
    """Measure one database: sequential and concurrent throughput, and per-update latency."""
    db = await open_database(url)
    await populate(db)
    platform = ConsolePlatform(lambda line: None)
    config = CoreConfig(context_reuse_seconds=reuse)
    core = Core(db, {Platform.CONSOLE: platform}, config=config, rng=random.Random(seed))
    await platform.start(core.handle)
    rng = random.Random(seed)
    for i in range(GROUPS):  # the groups exist in the console before anyone writes
        platform.parse(f"r0@g{i}: hallo")
    warm = parse_all(platform, mix(rng, warm_n))
    sequential = parse_all(platform, mix(rng, n))
    concurrent = [event for _, event in parse_all(platform, mix(rng, n))]
    for _, event in warm:
        await core.handle(event)
    await core.idle()

    latencies: list[float] = []
    per_kind: dict[str, list[float]] = {}
    statements = [0]

    def count(*_: object) -> None:
        statements[0] += 1

    sqlalchemy.event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    before = contexts()
    start = time.perf_counter()
    for kind, event in sequential:
        t0 = time.perf_counter()
        await core.handle(event)
        took = time.perf_counter() - t0
        latencies.append(took)
        per_kind.setdefault(kind, []).append(took)
    await core.idle()
    seq_s = time.perf_counter() - start
    after = contexts()
    sqlalchemy.event.remove(db.engine.sync_engine, "before_cursor_execute", count)

    gate = asyncio.Semaphore(concurrency)

    async def one(event: Event) -> None:
        async with gate:
            await core.handle(event)

    start = time.perf_counter()
    await asyncio.gather(*(one(e) for e in concurrent))
    await core.idle()
    conc_s = time.perf_counter() - start
    await platform.stop()
    await db.dispose()
    latencies.sort()
    return {
        "events": n,
        "context_reuse_s": reuse,
        "sequential_per_s": round(n / seq_s, 1),
        "concurrent_per_s": round(n / conc_s, 1),
        "concurrency": concurrency,
        "p50_ms": round(statistics.median(latencies) * 1000, 3),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 3),
        "statements_per_update": round(statements[0] / n, 2),
        "contexts_reused_share": round(
            (after["reused"] - before["reused"])
            / max(1.0, sum(after.values()) - sum(before.values())),
            3,
        ),
        "mean_ms_by_kind": {
            kind: round(statistics.fmean(v) * 1000, 3) for kind, v in sorted(per_kind.items())
        },
        "share_of_time_by_kind": {
            kind: round(sum(v) / sum(latencies), 3) for kind, v in sorted(per_kind.items())
        },
    }


def show(label: str, r: dict[str, Any]) -> None:
    print(
        f"{label:<20} {r['sequential_per_s']:>8.0f} updates/s one at a time, "
        f"{r['concurrent_per_s']:>8.0f} updates/s {r['concurrency']} at a time; "
        f"latency p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms ({r['events']} updates, "
        f"{r['statements_per_update']} SQL statements each, "
        f"{r['contexts_reused_share']:.0%} of contexts reused)"
    )
    for kind, mean in r["mean_ms_by_kind"].items():
        share = r["share_of_time_by_kind"][kind]
        print(f"    {kind:<16} {mean:7.2f} ms each, {share:6.1%} of the time")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=6000)
    parser.add_argument("--warm", type=int, default=3 * RESIDENTS)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "BINBOT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="URL of the server's postgres database (a fresh database is made beside it)",
    )
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()

    tune_gc()  # as `binbot run` does
    results: dict[str, Any] = {"benchmark": "inbound", "target_per_s": TARGET}
    # As `binbot run` has it (read-only commands reuse a recent context), and without reuse.
    for label, reuse in (("", CONTEXT_REUSE_SECONDS), ("_no_reuse", 0.0)):
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            results["sqlite" + label] = await run(
                url, args.events, args.concurrency, args.seed, reuse, args.warm
            )
        show("SQLite" + (" (no reuse)" if label else ""), results["sqlite" + label])
    results["postgresql"] = None
    made = None if args.no_postgres else await postgres_database(args.postgres)
    if made is not None:
        try:
            results["postgresql"] = await run(
                made[0], args.events, args.concurrency, args.seed, CONTEXT_REUSE_SECONDS, args.warm
            )
        finally:
            await drop_postgres(args.postgres, made[1])
        show("PostgreSQL", results["postgresql"])
    results["met"] = results["sqlite"]["sequential_per_s"] >= TARGET
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
