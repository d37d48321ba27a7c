"""Delivery of official messages: time from confirm to the first delivery, and throughput.

1. Confirm to first delivery: the real `DeliveryWorker` runs in the background (its poll
   interval as shipped, 1 s); each of `--messages` official messages to a BIN of 20 groups is
   stored as confirming the wizard does (`alerts.store`, one transaction), the worker is woken
   (`wake()`), and the time until the fake platform accepts the first group message is taken.
   SQLite and PostgreSQL; median and p95. Target: under 200 ms.
2. Urgent during a notice: a non-urgent notice to `--notice-groups` Telegram groups is mid
   fan-out at Telegram's 30/s through the fake Bot API server of the tests (which enforces
   the limits and answers 429 beyond them), sent by the real stack (python-telegram-bot in
   TelegramPlatform, the worker as `binbot run` builds it); then an urgent message to 20
   other groups is confirmed (stored and the worker woken, as the wizard's Confirm does).
   Time from confirm until the server took the first and the last of its 20 messages, and
   the 429s. Targets: first within 1 s, all 20 within 2 s, no 429.
3. Throughput on PostgreSQL: `--deliveries` rows (one message to a BIN of that many groups)
   sent by one and by two worker processes (tests/ops/delivery_proc.py, the real worker with
   its shipped settings) against a Telegram-like fake with a fixed `--latency` per send and no
   rate limit. Deliveries per second from the first to the last send, and the duplicates and
   lost rows found afterwards.

    python benchmarks/delivery.py [--messages 20] [--deliveries 2000] [--latency 0.02]
                                  [--notice-groups 1000] [--postgres URL | --no-postgres]

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.pg import drop_postgres, postgres_database
from bot.services import alerts
from config.settings import DeliverySettings
from storage.db import Database
from storage.repo import DirectoryRepo
from storage.tables import Bin, Delivery, Group, Identity, Person
from tests.ops.delivery_proc import LedgerPlatform, make_worker, open_count, read_ledger, seed
from tests.ops.delivery_proc import store as store_alert
from tests.scenarios.telegram_stack import TelegramStack
from tests.telegram.botapi import FakeBotApi
from tests.telegram.botapi_state import JSON

ROOT = Path(__file__).resolve().parents[1]
TARGET_MS = 200.0
URGENT_FIRST_MS, URGENT_ALL_MS = 1000.0, 2000.0
PROC = ROOT / "tests" / "ops" / "delivery_proc.py"


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


async def first_delivery(url: str, messages: int, groups: int = 20) -> dict[str, Any]:
    """Store `messages` messages one after another; ms from store to the first accepted send."""
    db = Database(url)
    await db.upgrade()
    await seed(db, groups, messages=0)
    async with db.session() as s:
        bin_ = (await s.execute(select(Bin))).scalar_one()
        author = (await s.execute(select(Person))).scalar_one()
        ids = bin_.zone_id, bin_.id, author.id
    first: list[float] = []

    def sink(chat: str, txn: str) -> None:
        if not first:
            first.append(time.perf_counter())

    platform = LedgerPlatform(sink)
    worker = make_worker(db, platform, DeliverySettings(), "bench")
    await worker.start()
    took: list[float] = []
    try:
        await asyncio.sleep(0.2)  # the worker is idle, waiting for its poll or a wake
        for _ in range(messages):
            first.clear()
            begin = time.perf_counter()
            await store_alert(db, *ids)
            worker.wake()
            while not first:  # noqa: ASYNC110 (set by the fake's sink)
                await asyncio.sleep(0.001)
            took.append((first[0] - begin) * 1000)
            while await open_count(db):  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
    finally:
        await worker.stop()
        await db.dispose()
    return {
        "messages": messages,
        "groups_per_message": groups,
        "median_ms": round(statistics.median(took), 1),
        "p95_ms": round(p95(took), 1),
        "max_ms": round(max(took), 1),
        "met": p95(took) < TARGET_MS,
    }


class TimedBotApi(FakeBotApi):
    """The fake server, noting when it took each message (chat id, clock)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.accepted: list[tuple[int, float]] = []

    async def m_sendMessage(self, p: JSON) -> JSON:
        result = await super().m_sendMessage(p)
        self.accepted.append((int(result["chat"]["id"]), self.clock()))
        return result


async def urgent_during_notice(url: str | None, notice_groups: int) -> dict[str, Any]:
    """An urgent message confirmed while a notice to `notice_groups` groups is going out."""
    with tempfile.TemporaryDirectory() as tmp:
        async with TelegramStack.running(
            Path(tmp), database_url=url, start_worker=False, server=TimedBotApi
        ) as s:
            api = s.api
            assert isinstance(api, TimedBotApi)
            await s.admin('zone add Beringen --non-urgent "011 27 95 79" --quiet 00:00-00:00')
            await s.admin("bin add Noord --zone Beringen --code noord")
            await s.admin("bin add Zuid --zone Beringen --code zuid")
            officer = api.add_user("Jan")
            notice = [api.add_group(f"Straat {i:04}") for i in range(notice_groups)]
            urgent = [api.add_group(f"Plein {i:02}") for i in range(20)]
            async with s.core.db.session() as session:
                now = s.core.clock.now()
                found = {b.code: b for b in await DirectoryRepo(session).bins()}
                for code, chats in (("noord", notice), ("zuid", urgent)):
                    session.add_all(
                        Group(
                            bin_id=found[code].id,
                            platform="telegram",
                            chat_id=str(c.id),
                            title=c.title,
                            linked_at=now,
                            active=True,
                        )
                        for c in chats
                    )
                person = Person(pseudonym="p-jan", created_at=now, failed_redeems=0)
                session.add(person)
                await session.flush()
                session.add(
                    Identity(
                        person_id=person.id,
                        platform="telegram",
                        user_id=str(officer.id),
                        display_name="Jan",
                        dm_chat_id=str(officer.id),
                        created_at=now,
                    )
                )
                ids = found["noord"].zone_id, found["noord"].id, found["zuid"].id, person.id

            async def confirm(role: str, bin_id: int) -> None:
                async with s.core.uow() as uow:
                    ref = await alerts.new_ref(uow.alerts, s.core.rng)
                    draft = alerts.Draft(
                        ids[0],
                        role,
                        [bin_id],
                        "burglary",
                        "Inbraak in de Kerkstraat; twee daders te voet richting station.",
                        ref,
                        ids[3],
                        "telegram",
                        str(officer.id),
                        "nl",
                    )
                    await alerts.store(uow, draft, s.core.clock.now(), s.core.rng)
                    await uow.commit()
                s.worker.wake()

            await confirm("prevention", ids[1])
            await s.start_worker()
            mid = min(notice_groups // 3, 300)
            while len(api.accepted) < mid:  # noqa: ASYNC110 (the server's record is watched)
                await asyncio.sleep(0.005)
            refused = api.flood_429_count
            begin = api.clock()
            await confirm("police", ids[2])
            targets = {c.id for c in urgent}
            while len({c for c, _ in api.accepted if c in targets}) < len(targets):
                assert api.clock() - begin < 60, "the urgent message did not go out"
                await asyncio.sleep(0.002)
            times = sorted(t for c, t in api.accepted if c in targets)
            notice_sent = sum(1 for c, t in api.accepted if c not in targets and t > begin)
            flood = api.flood_429_count - refused
            await s.stop()  # the rest of the notice stays in the outbox
    first, last = (times[0] - begin) * 1000, (times[-1] - begin) * 1000
    return {
        "notice_groups": notice_groups,
        "notice_sent_before_confirm": mid,
        "notice_sent_meanwhile": notice_sent,
        "first_delivery_ms": round(first, 1),
        "all_delivered_ms": round(last, 1),
        "flood_429": flood,
        "met": first < URGENT_FIRST_MS and last < URGENT_ALL_MS and flood == 0,
    }


async def throughput(url: str, processes: int, deliveries: int, latency: float) -> dict[str, Any]:
    """`processes` worker processes drain `deliveries` rows; figures from their send ledgers."""
    db = Database(url)
    await db.upgrade()
    await seed(db, deliveries)
    with tempfile.TemporaryDirectory() as tmp:
        ledgers = [Path(tmp) / f"w{i}.sends" for i in range(processes)]
        env = os.environ | {"BINBOT_DATABASE_URL": url, "BINBOT_DATA_DIR": tmp}
        begin = time.monotonic()
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                str(PROC),
                str(path),
                "--delay",
                str(latency),
                cwd=ROOT,
                env=env | {"BINBOT_PROCESS_NAME": f"w{i}"},
                stdout=asyncio.subprocess.DEVNULL,
            )
            for i, path in enumerate(ledgers)
        ]
        codes = [await p.wait() for p in procs]
        wall = time.monotonic() - begin
        sends = read_ledger(*ledgers)
        per_process = [len(read_ledger(p)) for p in ledgers]
    async with db.session() as s:
        rows = list((await s.execute(select(Delivery))).scalars())
    await db.dispose()
    counts = Counter(txn for _, txn, _ in sends)
    sent_rows = {f"binbot-d{r.id}" for r in rows if r.status == "sent"}
    times = [t for _, _, t in sends]
    span = max(times) - min(times) if len(times) > 1 else float("nan")
    return {
        "processes": processes,
        "deliveries": deliveries,
        "latency_ms": latency * 1000,
        "per_s": round(len(counts) / span, 1),
        "seconds_first_to_last_send": round(span, 2),
        "seconds_with_process_start": round(wall, 2),
        "sends_per_process": per_process,
        "duplicates": sum(n - 1 for n in counts.values()),
        "lost": len({f"binbot-d{r.id}" for r in rows} - (sent_rows & set(counts))),
        "exit_codes": codes,
    }


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--notice-groups", type=int, default=1000)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "BINBOT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="URL of the server's postgres database (a fresh database is made beside it)",
    )
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {"benchmark": "delivery", "target_first_delivery_ms": TARGET_MS}

    def show_first(label: str, r: dict[str, Any]) -> None:
        print(
            f"confirm to first delivery, {label:<10}: median {r['median_ms']:.1f} ms, "
            f"p95 {r['p95_ms']:.1f} ms, max {r['max_ms']:.1f} ms ({r['messages']} messages "
            f"to {r['groups_per_message']} groups each; target < {TARGET_MS:.0f} ms)"
        )

    def show_urgent(label: str, r: dict[str, Any]) -> None:
        print(
            f"urgent during a notice, {label:<10}: first group {r['first_delivery_ms']:.0f} ms, "
            f"all 20 {r['all_delivered_ms']:.0f} ms after confirm, {r['flood_429']} x 429 "
            f"(notice to {r['notice_groups']} groups, {r['notice_sent_before_confirm']} sent "
            f"before, {r['notice_sent_meanwhile']} meanwhile; targets < "
            f"{URGENT_FIRST_MS:.0f} / {URGENT_ALL_MS:.0f} ms, no 429): "
            + ("met" if r["met"] else "MISSED")
        )

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        results["first_delivery_sqlite"] = await first_delivery(url, args.messages)
    show_first("SQLite", results["first_delivery_sqlite"])
    results["urgent_during_notice"] = await urgent_during_notice(None, args.notice_groups)
    show_urgent("SQLite", results["urgent_during_notice"])
    results["urgent_during_notice_postgresql"] = None
    results["first_delivery_postgresql"] = None
    results["throughput_postgresql"] = None
    if not args.no_postgres:
        made = await postgres_database(args.postgres)
        if made is not None:
            try:
                results["first_delivery_postgresql"] = await first_delivery(made[0], args.messages)
            finally:
                await drop_postgres(args.postgres, made[1])
            show_first("PostgreSQL", results["first_delivery_postgresql"])
            made = await postgres_database(args.postgres)
            assert made is not None
            try:
                r = await urgent_during_notice(made[0], args.notice_groups)
            finally:
                await drop_postgres(args.postgres, made[1])
            results["urgent_during_notice_postgresql"] = r
            show_urgent("PostgreSQL", r)
            results["throughput_postgresql"] = []
            for processes in (1, 2):
                made = await postgres_database(args.postgres)
                assert made is not None
                try:
                    r = await throughput(made[0], processes, args.deliveries, args.latency)
                finally:
                    await drop_postgres(args.postgres, made[1])
                results["throughput_postgresql"].append(r)
                print(
                    f"throughput, {processes} process(es), PostgreSQL: {r['per_s']:.0f} "
                    f"deliveries/s ({r['deliveries']} in {r['seconds_first_to_last_send']} s, "
                    f"{r['seconds_with_process_start']} s with process start; "
                    f"{r['latency_ms']:.0f} ms per send; per process {r['sends_per_process']}); "
                    f"duplicates {r['duplicates']}, lost {r['lost']}"
                )
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
