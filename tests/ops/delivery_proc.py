"""One delivery worker in a process of its own, for the fault tests and benchmarks/delivery.py.

    python tests/ops/delivery_proc.py LEDGER [--delay 0.02]

Reads its settings as `binbot run` does (BINBOT_DATABASE_URL, BINBOT_PROCESS_NAME,
BINBOT_DELIVERY__LEASE, BINBOT_DELIVERY__POLL_INTERVAL, ...), builds a Core whose only
platform is a Telegram-like fake that takes `--delay` seconds per send and then appends one
line `chat_id txn_id unix_time` to LEDGER, and runs the real `DeliveryWorker` until no
delivery is pending or sending. No rate limit: the fake never answers 429.

`seed` (used by the tests and the benchmark) stores one zone (no quiet hours), one BIN with
`groups` linked groups, an author, and official messages whose delivery rows fill the outbox;
`add_bin` another BIN, `store` one more message (urgent from the police, or a non-urgent
notice from the prevention service).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.delivery import DeliveryWorker
from bot.dispatch import Core
from bot.model import ChatRef, MessageRef, Outgoing, Platform
from bot.ratelimit import RateLimiter
from bot.services import alerts
from config.settings import DeliverySettings, load_settings
from storage.db import Database
from storage.tables import Bin, Delivery, Group, Identity, Person, Zone
from tests.fakes import RecordingPlatform

Sink = Callable[[str, str], None]


class LedgerPlatform(RecordingPlatform):
    """Telegram-like (no idempotent transaction id): every group send reaches `sink`.

    Private messages (the author's receipt) are recorded as RecordingPlatform does."""

    def __init__(self, sink: Sink, delay: float = 0.0) -> None:
        super().__init__(Platform.TELEGRAM)
        self.sink, self.delay = sink, delay
        self.first_send = asyncio.Event()
        self.group_sends = 0

    async def send(
        self, chat: ChatRef, message: Outgoing, *, txn_id: str | None = None
    ) -> MessageRef:
        if chat.is_private:
            return await super().send(chat, message, txn_id=txn_id)
        self._check(chat.chat_id)  # failures queued with `fail`
        self.first_send.set()
        self.group_sends += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        self.sink(chat.chat_id, txn_id or "-")  # the platform has accepted it
        return MessageRef(chat, txn_id or str(self.group_sends))


def file_sink(path: Path) -> Sink:
    """Append one line per send with a single write on an O_APPEND descriptor."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def sink(chat_id: str, txn_id: str) -> None:
        os.write(fd, f"{chat_id} {txn_id} {time.time():.6f}\n".encode())

    return sink


def read_ledger(*paths: Path) -> list[tuple[str, str, float]]:
    """(chat_id, txn_id, time) of every send recorded in these files."""
    out: list[tuple[str, str, float]] = []
    for path in paths:
        if path.exists():
            for line in path.read_text().splitlines():
                chat, txn, t = line.split()
                out.append((chat, txn, float(t)))
    return out


async def seed(db: Database, groups: int, messages: int = 1) -> list[int]:
    """A zone, one BIN with `groups` groups, an author; `messages` alerts to the whole BIN.

    Returns the alert ids; each alert has one pending delivery per group."""
    now = datetime.now(UTC)
    async with db.session() as s:
        zone = Zone(
            name="Beringen",
            non_urgent_number="011 27 95 79",
            created_at=now,
            quiet_start=0,
            quiet_end=0,
        )
        s.add(zone)
        await s.flush()
        b = Bin(zone_id=zone.id, name="Noord", code="noord", created_at=now)
        s.add(b)
        person = Person(pseudonym="p-author", created_at=now, failed_redeems=0)
        s.add(person)
        await s.flush()
        s.add(
            Identity(
                person_id=person.id,
                platform="telegram",
                user_id="jan",
                display_name="Jan",
                dm_chat_id="jan",
                created_at=now,
            )
        )
        s.add_all(
            Group(
                bin_id=b.id,
                platform="telegram",
                chat_id=f"g{i}",
                title=f"g{i}",
                linked_at=now,
                active=True,
            )
            for i in range(groups)
        )
        zone_id, bin_id, person_id = zone.id, b.id, person.id
    return [await store(db, zone_id, bin_id, person_id) for _ in range(messages)]


async def add_bin(db: Database, zone_id: int, code: str, chats: list[str]) -> int:
    """Another BIN of the zone, with a linked group per chat id; returns its id."""
    now = datetime.now(UTC)
    async with db.session() as s:
        b = Bin(zone_id=zone_id, name=code.capitalize(), code=code, created_at=now)
        s.add(b)
        await s.flush()
        s.add_all(
            Group(
                bin_id=b.id,
                platform="telegram",
                chat_id=chat,
                title=chat,
                linked_at=now,
                active=True,
            )
            for chat in chats
        )
        return int(b.id)


async def store(
    db: Database, zone_id: int, bin_id: int, person_id: int, role: str = "police"
) -> int:
    """Store one message to the BIN, as confirming the wizard does: urgent from the police,
    a non-urgent notice from the prevention service."""
    core = Core(db, {}, rng=random.Random())
    async with core.uow() as uow:
        ref = await alerts.new_ref(uow.alerts, core.rng)
        draft = alerts.Draft(
            zone_id,
            role,
            [bin_id],
            "burglary",
            "Burglary in the Kerkstraat.",
            ref,
            person_id,
            "telegram",
            "jan",
            "en",
        )
        alert, _ = await alerts.store(uow, draft, datetime.now(UTC), core.rng)
        await uow.commit()
        return int(alert.id)


async def open_count(db: Database) -> int:
    """Deliveries not settled yet (pending, or sending)."""
    async with db.session() as s:
        q = select(func.count()).where(Delivery.status.in_(("pending", "sending")))
        return int((await s.execute(q)).scalar() or 0)


def make_worker(
    db: Database, platform: LedgerPlatform, settings: DeliverySettings, name: str
) -> DeliveryWorker:
    core = Core(db, {platform.platform: platform}, rng=random.Random())
    return DeliveryWorker(core, settings, RateLimiter(), name=name)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("ledger", type=Path)
    parser.add_argument("--delay", type=float, default=0.02)
    args = parser.parse_args()
    settings = load_settings()
    db = Database(settings.database_url)
    platform = LedgerPlatform(file_sink(args.ledger), args.delay)
    worker = make_worker(db, platform, settings.delivery, settings.process_name)
    await worker.start()
    print("started", flush=True)
    try:
        while await open_count(db):  # noqa: ASYNC110 (the database is what is watched)
            await asyncio.sleep(0.1)
    finally:
        await worker.stop()
        await db.dispose()
    print("done", platform.group_sends, flush=True)


if __name__ == "__main__":
    asyncio.run(main())
