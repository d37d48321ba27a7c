"""Resident memory of a running core with 10,000 groups and 100,000 members stored.

The database is filled by a child process (so that filling it costs this process nothing);
then this process starts what `binbot run` starts around the core (the services, the scheduler
leadership, the health and metrics endpoint) on a platform that discards what it is given,
handles updates from random members, runs every scheduled job once (the 101 reminder goes to
all 10,000 groups), and serves /healthz and /metrics. Memory is read from /proc/self/status:
VmRSS (resident now) and VmHWM (the peak).

    python benchmarks/memory.py [--groups 10000] [--members 100000] [--updates 5000]
                                [--postgres URL]

Target: under 150 MB resident. The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.pg import drop_postgres, postgres_database

TARGET_MB = 150.0
GROUPS_PER_BIN = 4
BINS_PER_ZONE = 100


def memory_mb() -> dict[str, float]:
    """VmRSS and VmHWM of this process, in MB (from /proc/self/status)."""
    found: dict[str, float] = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0]) / 1024
    return found


# -- filling the database (child process) -------------------------------------------------


async def populate(url: str, groups: int, members: int) -> None:
    """Zones, BINs, `groups` linked groups and `members` people, each a member of one BIN."""
    from sqlalchemy import insert

    from storage.db import open_database
    from storage.tables import Bin, Group, Identity, Membership, Person, Zone

    now = datetime.now(UTC)
    bins = max(1, groups // GROUPS_PER_BIN)
    zones = max(1, bins // BINS_PER_ZONE)
    db = await open_database(url)
    async with db.session() as s:
        await s.execute(
            insert(Zone),
            [
                # A bulk insert passes no validator: the name keys are given here.
                {"id": z + 1, "name": f"Zone {z}", "name_key": f"zone {z}", "created_at": now}
                for z in range(zones)
            ],
        )
        await s.execute(
            insert(Bin),
            [
                {
                    "id": b + 1,
                    "zone_id": b % zones + 1,
                    "name": f"BIN {b}",
                    "name_key": f"bin {b}",
                    "code": f"bin{b}",
                    "created_at": now,
                }
                for b in range(bins)
            ],
        )
        await s.execute(
            insert(Group),
            [
                {
                    "bin_id": g % bins + 1,
                    "platform": "console",
                    "chat_id": f"g{g}",
                    "title": f"BIN group {g}",
                    "linked_at": now,
                }
                for g in range(groups)
            ],
        )
        for start in range(0, members, 20_000):
            ids = range(start + 1, min(members, start + 20_000) + 1)
            await s.execute(
                insert(Person),
                [
                    {"id": i, "pseudonym": f"p-{i:012x}", "created_at": now, "failed_redeems": 0}
                    for i in ids
                ],
            )
            await s.execute(
                insert(Identity),
                [
                    {
                        "person_id": i,
                        "platform": "console",
                        "user_id": f"m{i}",
                        "display_name": f"Member {i}",
                        "dm_chat_id": f"dm:m{i}",
                        "created_at": now,
                    }
                    for i in ids
                ],
            )
            await s.execute(
                insert(Membership),
                [{"bin_id": i % bins + 1, "person_id": i, "joined_at": now} for i in ids],
            )
    await db.dispose()


# -- the running core (this process) ------------------------------------------------------


class NullPlatform:
    """A platform that accepts everything and keeps nothing (real adapters keep no messages
    either; the console platform does, for its buttons, which would count against the core)."""

    def __init__(self) -> None:
        from bot.model import Capabilities, Platform

        self.platform = Platform.CONSOLE
        self.capabilities = Capabilities(max_text_length=4096)
        self._ids = itertools.count(1)
        self.sent = 0

    async def start(self, sink: Any) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(self, chat: Any, message: Any, *, txn_id: str | None = None) -> Any:
        from bot.model import MessageRef

        self.sent += 1
        return MessageRef(chat, str(next(self._ids)))

    async def send_direct(self, user_id: str, message: Any) -> Any:
        return await self.send(await self.direct_chat(user_id), message)

    async def direct_chat(self, user_id: str) -> Any:
        from bot.model import ChatRef

        return ChatRef(self.platform, f"dm:{user_id}", True)

    async def edit(self, ref: Any, message: Any) -> None:
        return None

    async def delete(self, ref: Any) -> None:
        return None

    async def pin(self, ref: Any) -> None:
        return None

    async def approve_join(self, chat: Any, user_id: str) -> None:
        return None

    async def decline_join(self, chat: Any, user_id: str) -> None:
        return None

    async def remove_member(self, chat: Any, user_id: str) -> None:
        return None

    async def secure_group(self, chat: Any) -> Any:
        from bot.model import BotRights
        from bot.ports import GroupSetup

        return GroupSetup(BotRights(), None)

    async def check_rights(self, chat: Any) -> Any:
        from bot.model import BotRights

        return BotRights()

    async def leave(self, chat: Any) -> None:
        return None

    async def set_commands(self, commands: Mapping[str, Sequence[tuple[str, str]]]) -> None:
        return None


def updates(n: int, groups: int, members: int, seed: int) -> list[Any]:
    """Group chatter, incident-like posts and private commands from random members."""
    from bot.events import CommandIssued, MessagePosted
    from bot.model import ChatRef, Platform, UserRef

    rng = random.Random(seed)
    out: list[Any] = []
    for i in range(n):
        m = rng.randrange(1, members + 1)
        user = UserRef(Platform.CONSOLE, f"m{m}", display_name=f"Member {m}")
        roll = rng.random()
        if roll < 0.55:
            g = rng.randrange(groups)
            chat = ChatRef(Platform.CONSOLE, f"g{g}", False, f"BIN group {g}")
            text = "Verdachte wagen in de straat" if roll < 0.05 else "Goedemorgen buren"
            out.append(MessagePosted(chat, user, text, str(i)))
        else:
            chat = ChatRef(Platform.CONSOLE, f"dm:m{m}", True, f"Member {m}")
            word = rng.choice(["help", "numbers", "mydata", "check"])
            out.append(
                CommandIssued(chat, user, word, "A-7K2Q" if word == "check" else "", str(i))
            )
    return out


async def measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    import aiohttp

    from adapters.http.health import HealthServer
    from bot import scheduler
    from bot.app import CONTEXT_REUSE_SECONDS, assemble, publish_commands, tune_gc
    from bot.core_config import CoreConfig
    from bot.health import Health
    from bot.leader import lead_scheduler
    from bot.model import Platform
    from config.settings import load_settings
    from storage.db import open_database
    from storage.locks import AdvisoryLock
    from tests.clock import ManualClock

    rss: dict[str, float] = {"imported": memory_mb()["VmRSS"]}
    tune_gc()  # as `binbot run` does
    settings = load_settings(database_url=url, process_name="memory-bench")
    db = await open_database(url)
    platform = NullPlatform()
    config = CoreConfig(context_reuse_seconds=CONTEXT_REUSE_SECONDS)
    bot = assemble(
        settings,
        db,
        {Platform.CONSOLE: platform},  # type: ignore[dict-item]
        clock=ManualClock(),
        config=config,
    )
    core, services = bot.core, bot.services
    leadership = lead_scheduler(core, AdvisoryLock(db, "scheduler"))
    health = Health(core, process="memory-bench", leadership=leadership)
    http = HealthServer(health, port=0)
    await http.start()
    await platform.start(core.handle)
    health.started(Platform.CONSOLE)
    await publish_commands(core)
    for service in [*services, leadership]:
        await service.start()
    rss["started"] = memory_mb()["VmRSS"]

    events = updates(args.updates, args.groups, args.members, seed=7)
    began = time.perf_counter()
    for event in events:
        await core.handle(event)
    await core.idle()
    took_updates = time.perf_counter() - began
    del events
    rss["after_updates"] = memory_mb()["VmRSS"]

    began = time.perf_counter()
    await scheduler.run_all(core)  # every job once: reminders to every group, expiries, sweeps
    await core.idle()
    took_jobs = time.perf_counter() - began
    rss["after_jobs"] = memory_mb()["VmRSS"]

    async with aiohttp.ClientSession() as client:
        for path in ("/healthz", "/metrics"):
            async with client.get(f"http://127.0.0.1:{http.port}{path}") as resp:
                assert resp.status == 200, (path, resp.status, await resp.text())
    now = memory_mb()
    rss["serving"] = now["VmRSS"]

    for service in reversed([*services, leadership]):
        await service.stop()
    await http.stop()
    await db.dispose()
    return {
        "rss_mb": {k: round(v, 1) for k, v in rss.items()},
        "peak_mb": round(now["VmHWM"], 1),
        "updates": args.updates,
        "updates_s": round(took_updates, 1),
        "jobs_s": round(took_jobs, 1),
        "messages_sent": platform.sent,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=10_000)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--updates", type=int, default=5_000)
    parser.add_argument("--postgres", help="URL of a server's postgres database to use instead")
    parser.add_argument("--populate", help=argparse.SUPPRESS)  # the child process's job
    args = parser.parse_args()
    if args.populate:
        asyncio.run(populate(args.populate, args.groups, args.members))
        return 0

    made: tuple[str, str] | None = None
    with tempfile.TemporaryDirectory() as tmp:
        if args.postgres:
            made = asyncio.run(postgres_database(args.postgres))
            if made is None:
                return 2
            url = made[0]
        else:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'memory.db'}"
        try:
            began = time.perf_counter()
            child = [sys.executable, __file__, "--populate", url]
            child += ["--groups", str(args.groups), "--members", str(args.members)]
            subprocess.run(child, check=True, env=os.environ)
            filled = time.perf_counter() - began
            result = asyncio.run(measure(url, args))
        finally:
            if made is not None:
                asyncio.run(drop_postgres(args.postgres, made[1]))
    rss = result["rss_mb"]
    print(
        f"database: {'PostgreSQL' if made else 'SQLite'}, filled in {filled:.0f} s with "
        f"{args.groups} groups and {args.members} members"
    )
    rows = [
        ("resident after imports", rss["imported"], ""),
        ("resident once started", rss["started"], ""),
        (f"after {args.updates} updates", rss["after_updates"], f"({result['updates_s']} s)"),
        (
            "after every job once",
            rss["after_jobs"],
            f"({result['jobs_s']} s, {result['messages_sent']} messages sent in all)",
        ),
        ("serving /healthz and /metrics", rss["serving"], ""),
        ("peak (VmHWM)", result["peak_mb"], f"target < {TARGET_MB:.0f} MB"),
    ]
    for label, mb, note in rows:
        print(f"{label:<30} {mb:7.1f} MB {note}".rstrip())
    summary = {
        "benchmark": "memory",
        "database": "postgresql" if made else "sqlite",
        "groups": args.groups,
        "members": args.members,
        **result,
        "target_mb": TARGET_MB,
        "met": result["peak_mb"] < TARGET_MB,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
