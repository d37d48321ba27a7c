"""One official message to 200 Matrix rooms on a local Synapse: the delivery worker against a
plain sequential `room_send` loop.

Starts a Synapse with the test harness (tests/matrix/synapse.py; loopback, SQLite, the bot's
message rate limit lifted), creates the rooms with the bot in them and links them to one BIN,
and runs the bot as `binbot run` wires it (tests/scenarios/matrix_stack.py: MatrixPlatform on
matrix-nio, the core on SQLite, the DeliveryWorker in the background). An officer composes the
message in a direct chat with `!alert`, as in real life; confirming stores the alert and one
delivery row per room, and the worker sends them. Then the same 200 messages go out through a
plain sequential `room_send` loop of the bot's account, for comparison.

    python benchmarks/matrix_fanout.py [--rooms 200] [--matrix-concurrency 16]
                                       [--delivery-concurrency 32] [--rtt-ms 50]
    python benchmarks/matrix_fanout.py --photo [--rooms 200]

`--photo`: only binbot's fan-out, of a missing-person message with a ~2 MB photo, counting
the uploads (benchmarks/matrix_photo.py).

`--rtt-ms N` puts a delaying TCP proxy on loopback between the bot's clients and Synapse
(the bot's MatrixPlatform, so the delivery worker and its sync, and both plain loops): every
chunk of bytes waits N/2 ms each way, as if the homeserver were N ms of round trip away. The
officer's and the readers' own clients talk to Synapse directly.

Per-room latency is from the moment the alert was stored to the `origin_server_ts` the
homeserver gave the room's event. Every room is read back: `lost` counts rooms without the
message, `duplicates` the extra copies. `flood_errors` counts 429 / M_LIMIT_EXCEEDED answers.
Targets: at least 5 times the rooms per second of the sequential loop at `--rtt-ms 50`, and
at least 0.9 of the plain concurrent loop (`ceiling_fraction`) at `--rtt-ms 0`; nothing lost
or duplicated. The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nio import AsyncClient, AsyncClientConfig, RoomSendResponse
from sqlalchemy import select

from storage.tables import Alert, Bin, Delivery, Group
from tests.matrix.harness import MatrixUser
from tests.matrix.synapse import RegisteredUser, SynapseServer, start_synapse
from tests.scenarios.matrix_stack import MatrixStack, body, direct_room, says, sees

TARGET_SPEEDUP = 5.0
REF = re.compile(r"\b[A-Z]-[0-9A-Z]{4}\b")
TARGET_CEILING_FRACTION = 0.9
SETUP_CONCURRENCY = 8
T = TypeVar("T")


class FloodCounter(logging.Handler):
    """Counts the 429 / M_LIMIT_EXCEEDED answers the Matrix adapter reports."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if any(str(a) in ("M_LIMIT_EXCEEDED", "429") for a in record.args or ()):
            self.count += 1


class DelayProxy:
    """A TCP proxy on 127.0.0.1 that holds every chunk `delay` seconds in each direction."""

    def __init__(self, upstream: str, delay: float) -> None:
        parts = urlsplit(upstream)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.delay = delay
        self.base_url = ""
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
            await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # a peer went away, or the proxy is stopping
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy one direction, each chunk written `delay` after it was read, in order."""
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await chunks.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    writer.close()
                    return
                writer.write(data)
                await writer.drain()

        sender = loop.create_task(deliver())
        try:
            while data := await reader.read(65536):
                chunks.put_nowait((loop.time() + self.delay, data))
            chunks.put_nowait((loop.time() + self.delay, b""))
            await sender
        finally:
            sender.cancel()


class Cpu:
    """CPU seconds used by Synapse (its process, from /proc) and by this process (the bot's
    worker, its clients, the proxy and the plain loops all run here), between two marks."""

    TICK = os.sysconf("SC_CLK_TCK")

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._at = self._now()

    def _now(self) -> tuple[float, float, float]:
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        synapse = (int(fields[11]) + int(fields[12])) / self.TICK  # utime + stime
        return time.monotonic(), synapse, time.process_time()

    def lap(self) -> dict[str, float]:
        """Seconds since the last lap: wall, Synapse's CPU, this process's CPU, and each CPU
        as a share of one core over the wall time."""
        now = self._now()
        wall, synapse, here = (b - a for a, b in zip(self._at, now, strict=True))
        self._at = now
        return {
            "wall_s": round(wall, 2),
            "synapse_cpu_s": round(synapse, 2),
            "synapse_cores": round(synapse / wall, 2) if wall else 0.0,
            "bench_cpu_s": round(here, 2),
            "bench_cores": round(here / wall, 2) if wall else 0.0,
        }


class Through:
    """The Synapse as the bot's clients reach it: through the proxy when there is one."""

    def __init__(self, server: SynapseServer, base_url: str) -> None:
        self._server = server
        self.base_url = base_url

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server, name)


async def bounded(
    items: Iterable[T], work: Callable[[T], Awaitable[Any]], limit: int
) -> list[Any]:
    """`work` on every item, at most `limit` at a time, results in order."""
    gate = asyncio.Semaphore(limit)

    async def one(item: T) -> Any:
        async with gate:
            return await work(item)

    return list(await asyncio.gather(*(one(i) for i in items)))


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of some values."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


async def make_rooms(
    server: SynapseServer, an: MatrixUser, account: RegisteredUser, n: int
) -> list[str]:
    """`n` rooms of coordinator An with the bot joined at power 50."""
    bot, bot_id = MatrixUser(server, account), account.user_id
    try:

        async def room(i: int) -> str:
            room_id = await an.create_room(
                f"Straat {i}", invite=(bot_id,), power={bot_id: 50}, join_rule="knock"
            )
            await bot.join(room_id)
            return room_id

        return await bounded(range(n), room, SETUP_CONCURRENCY)
    finally:
        await bot.close()


async def link(stack: MatrixStack, rooms: list[str], small: list[str]) -> None:
    """Zone, BINs noord (`rooms`) and zuid (`small`), the rooms as their linked groups (what
    `!link` leaves in the database)."""
    await stack.admin('zone add Beringen --non-urgent "011 27 95 79" --quiet 00:00-00:00')
    await stack.admin('bin add "Koersel Noord" --zone Beringen --code noord')
    await stack.admin('bin add "Koersel Zuid" --zone Beringen --code zuid')
    now = datetime.now(UTC)
    async with stack.core.db.session() as session:
        bins = {b.code: b for b in (await session.execute(select(Bin))).scalars()}
        for i, room in enumerate(rooms + small):
            session.add(
                Group(
                    bin_id=bins["noord" if i < len(rooms) else "zuid"].id,
                    platform="matrix",
                    chat_id=room,
                    title=f"Straat {i}",
                    linked_at=now,
                    active=True,
                )
            )


async def officer(server: SynapseServer, stack: MatrixStack) -> tuple[MatrixUser, str]:
    """Jan, police officer, with a direct chat with the bot in which he redeemed his invite."""
    account = await server.create_user("jan", displayname="Jan")
    jan = MatrixUser(server, account)
    dm = await direct_room(jan, stack)
    code = await stack.invite_code("invite police --zone Beringen")
    await says(jan, dm, stack, f"!redeem {code}", "Gelukt")
    await says(jan, dm, stack, "!alert", "nummers")
    await says(jan, dm, stack, "1", "Stap 2 van 4")
    await says(jan, dm, stack, "3", "Stap 3 van 4")
    return jan, dm


async def settled(stack: MatrixStack, alert_id: int, within: float) -> list[Delivery]:
    """The alert's deliveries once none is pending or sending any more (or time is up)."""
    deadline = time.monotonic() + within
    while True:
        async with stack.core.db.session() as session:
            q = select(Delivery).where(Delivery.alert_id == alert_id)
            rows = list((await session.execute(q)).scalars())
        if all(r.status in ("sent", "failed", "cancelled") for r in rows) or (
            time.monotonic() > deadline
        ):
            return rows
        await asyncio.sleep(0.05)


async def copies(
    reader: MatrixUser, rooms: list[str], sender: str, needle: str
) -> list[list[int]]:
    """Per room, the `origin_server_ts` of every message of `sender` containing `needle`."""

    async def one(room: str) -> list[int]:
        return [
            int(e["origin_server_ts"])
            for e in await reader.messages(room, limit=20)
            if e.get("sender") == sender and needle in str(e["content"].get("body", ""))
        ]

    return await bounded(rooms, one, SETUP_CONCURRENCY)


async def plain_loop(
    server: SynapseServer,
    account: RegisteredUser,
    rooms: list[str],
    content: dict[str, Any],
    at_once: int = 1,
) -> tuple[float, list[float], int]:
    """The same message to every room through a plain nio client of the bot's account,
    `at_once` sends at a time (1: one `room_send` after the other): (seconds, per-send
    seconds, errors)."""
    client = AsyncClient(server.base_url, account.user_id, config=AsyncClientConfig())
    client.restore_login(account.user_id, account.device_id, account.access_token)
    per_send: list[float] = []

    async def send(room: str) -> bool:
        t = time.monotonic()
        resp = await client.room_send(room, "m.room.message", content)
        per_send.append(time.monotonic() - t)
        return isinstance(resp, RoomSendResponse)

    start = time.monotonic()
    try:
        if at_once == 1:
            done = [await send(room) for room in rooms]
        else:
            done = await bounded(rooms, send, at_once)
    finally:
        await client.close()
    return time.monotonic() - start, per_send, done.count(False)


async def confirm_to_first(
    stack: MatrixStack,
    jan: MatrixUser,
    dm: str,
    reader: MatrixUser,
    rooms: list[str],
    messages: int,
) -> dict[str, Any]:
    """The officer walks !alert to the BIN `zuid` `messages` times; per message the time from
    his "ja" to the first room's copy, both as the homeserver stamped them."""
    took: list[float] = []
    for i in range(messages):
        await says(jan, dm, stack, "!alert", "nummers")
        await says(jan, dm, stack, "zuid", "Stap 2 van 4")
        await says(jan, dm, stack, "3", "Stap 3 van 4")
        await says(jan, dm, stack, f"Verdachte wagen {i} in de Kerkstraat.", "Versturen?")
        mark = await jan.say(dm, "ja")
        said = next(e for e in await jan.messages(dm, limit=10) if e.get("event_id") == mark)
        receipt = await sees(jan, dm, stack, "Ontvangstbewijs", after=mark)
        found = REF.search(body(receipt))
        assert found, body(receipt)
        first: list[int] = []
        while not first:
            seen = await copies(reader, rooms, stack.bot_id, found.group(0))
            first = [ts for room in seen for ts in room]
            await asyncio.sleep(0.05)
        took.append(min(first) - int(said["origin_server_ts"]))
    return {
        "messages": messages,
        "p50": round(percentile(took, 50), 1),
        "p95": round(percentile(took, 95), 1),
        "max": round(max(took), 1),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="binbot-fanout-"))
    server = await asyncio.to_thread(start_synapse, workdir / "synapse")
    proxy = DelayProxy(server.base_url, args.rtt_ms / 2000) if args.rtt_ms > 0 else None
    via: Any = server
    if proxy is not None:
        await proxy.start()
        via = Through(server, proxy.base_url)
    flood = FloodCounter()
    errors_log = logging.getLogger("adapters.matrix.errors")
    errors_log.setLevel(logging.INFO)
    errors_log.addHandler(flood)
    errors_log.propagate = False  # counted, not printed
    people: list[MatrixUser] = []
    stack: MatrixStack | None = None
    try:
        t = time.monotonic()
        bot = await server.create_user("binbot", displayname="binbot")
        # The bot's own override: no limit (0, 0), or --bot-rate messages a second.
        await server.aset_ratelimit(bot.user_id, args.bot_rate, args.bot_rate)
        an = MatrixUser(server, await server.create_user("an", displayname="An"))
        people.append(an)
        rooms = await make_rooms(server, an, bot, args.rooms)
        small = await make_rooms(server, an, bot, 3)
        # As in a real BIN, the bot has written in each room before (the rules it posts when
        # a room is linked): no timed phase pays Synapse's first-message-in-a-room work, which
        # would fall on whichever phase came first (the worker's).
        rules = {"msgtype": "m.notice", "body": "Groepsregels – BIN Koersel Noord"}
        await plain_loop(server, bot, rooms + small, rules, args.matrix_concurrency)
        print(f"setup: {len(rooms)} rooms in {time.monotonic() - t:.1f}s", flush=True)

        stack = await MatrixStack.start(
            via,
            workdir / "bot",
            account=bot,
            matrix={"concurrency": args.matrix_concurrency},
            delivery={"concurrency": args.delivery_concurrency},
        )
        await link(stack, rooms, small)
        jan, dm = await officer(server, stack)
        people.append(jan)
        text = "Inbraak in de Kerkstraat; twee daders te voet richting station."
        await says(jan, dm, stack, text, "Versturen?")

        cpu = Cpu(server.pid)
        await jan.say(dm, "ja")
        async with stack.core.db.session() as session:
            alert = None
            while alert is None:
                alert = (await session.execute(select(Alert))).scalar_one_or_none()
                if alert is None:
                    await asyncio.sleep(0.01)
        rows = await settled(stack, alert.id, within=300)
        cpu_worker = cpu.lap()
        stored_ms = alert.created_at.timestamp() * 1000

        seen = await copies(an, rooms, bot.user_id, f"Ref. {alert.ref}")
        stamps = [ts for room in seen for ts in room[:1]]
        latencies = [ts - stored_ms for ts in stamps]
        lost = sum(1 for room in seen if not room)
        duplicates = sum(max(0, len(room) - 1) for room in seen)
        span = (max(stamps) - stored_ms) / 1000 if stamps else float("inf")
        rate = len(stamps) / span if span > 0 else 0.0
        worker_flood = flood.count

        sample = next(
            e
            for e in await an.messages(rooms[0], limit=20)
            if e.get("sender") == bot.user_id and f"Ref. {alert.ref}" in e["content"]["body"]
        )
        content = {
            k: sample["content"][k] for k in ("msgtype", "body", "format", "formatted_body")
        }
        cpu.lap()
        seq_seconds, per_send, seq_errors = await plain_loop(via, bot, rooms, content)
        cpu_seq = cpu.lap()
        seq_rate = len(rooms) / seq_seconds
        # The ceiling: what any client gets from this homeserver with many sends at once.
        raw_seconds, _, raw_errors = await plain_loop(
            via, bot, rooms, content, args.matrix_concurrency
        )
        cpu_raw = cpu.lap()
        raw_rate = len(rooms) / raw_seconds
        again = await copies(an, rooms, bot.user_id, f"Ref. {alert.ref}")
        seq_lost = sum(1 for room in again if len(room) < 3)
        c2f = await confirm_to_first(stack, jan, dm, an, small, args.wizard_messages)
    finally:
        if stack is not None:
            await stack.stop()
        if proxy is not None:
            await proxy.stop()
        for person in people:
            await person.close()
        errors_log.removeHandler(flood)
        await asyncio.to_thread(server.stop)

    return {
        "rooms": len(rooms),
        "rooms_per_s": round(rate, 1),
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p95_ms": round(percentile(latencies, 95), 1) if latencies else None,
        "max_ms": round(max(latencies), 1) if latencies else None,
        "seconds": round(span, 2),
        "sent_rows": sum(r.status == "sent" for r in rows),
        "failed_rows": sum(r.status != "sent" for r in rows),
        "lost": lost,
        "duplicates": duplicates,
        "flood_errors": worker_flood,
        "sequential_rooms_per_s": round(seq_rate, 1),
        "sequential_seconds": round(seq_seconds, 2),
        "sequential_send_p50_ms": round(statistics.median(per_send) * 1000, 1),
        "sequential_errors": seq_errors + raw_errors,
        "sequential_lost": seq_lost,
        "speedup": round(rate / seq_rate, 2) if seq_rate else None,
        "plain_concurrent_rooms_per_s": round(raw_rate, 1),
        "ceiling_speedup": round(raw_rate / seq_rate, 2) if seq_rate else None,
        "rate_fraction": round(rate / raw_rate, 2) if raw_rate else None,
        "ceiling_fraction": round(rate / raw_rate, 2) if raw_rate else None,
        "rtt_ms": args.rtt_ms,
        # CPU per phase: a homeserver near one core (`synapse_cores` ~1: Synapse runs its
        # Python on one core) is the ceiling, whatever the client does.
        "cpu_worker": cpu_worker,
        "cpu_sequential": cpu_seq,
        "cpu_plain_concurrent": cpu_raw,
        "synapse_cpu_ms_per_send": {
            "worker": round(cpu_worker["synapse_cpu_s"] * 1000 / len(rooms), 1),
            "sequential": round(cpu_seq["synapse_cpu_s"] * 1000 / len(rooms), 1),
            "plain_concurrent": round(cpu_raw["synapse_cpu_s"] * 1000 / len(rooms), 1),
        },
        "confirm_to_first_ms": c2f,
        "bot_rate_limit": args.bot_rate or None,
        "target_speedup": TARGET_SPEEDUP,
        "matrix_concurrency": args.matrix_concurrency,
        "delivery_concurrency": args.delivery_concurrency,
        "cpus": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rooms", type=int, default=200)
    parser.add_argument("--matrix-concurrency", type=int, default=16)
    parser.add_argument("--delivery-concurrency", type=int, default=32)
    parser.add_argument("--rtt-ms", type=float, default=0.0, help="round trip to Synapse")
    parser.add_argument("--wizard-messages", type=int, default=20)
    parser.add_argument(
        "--bot-rate", type=int, default=0, help="messages a second the bot may send (0: no limit)"
    )
    parser.add_argument("--photo", action="store_true", help="the fan-out of a 2 MB photo")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    logging.getLogger("nio").setLevel(logging.ERROR)
    if args.photo:
        from benchmarks.matrix_photo import photo_main

        sys.exit(photo_main(args))
    figures = asyncio.run(run(args))
    print(
        f"delivery worker: {figures['rooms']} rooms in {figures['seconds']}s = "
        f"{figures['rooms_per_s']} rooms/s; per room p50 {figures['p50_ms']} ms, "
        f"p95 {figures['p95_ms']} ms, max {figures['max_ms']} ms"
    )
    print(
        f"lost {figures['lost']}, duplicates {figures['duplicates']}, "
        f"429s {figures['flood_errors']}, failed rows {figures['failed_rows']}"
    )
    print(
        f"sequential room_send loop: {figures['sequential_seconds']}s = "
        f"{figures['sequential_rooms_per_s']} rooms/s (p50 per send "
        f"{figures['sequential_send_p50_ms']} ms, errors {figures['sequential_errors']})"
    )
    print(
        f"plain room_send loop, {figures['matrix_concurrency']} at once: "
        f"{figures['plain_concurrent_rooms_per_s']} rooms/s = {figures['ceiling_speedup']}x "
        "sequential, the most any client gets from this homeserver"
    )
    c2f = figures["confirm_to_first_ms"]
    print(
        f"confirm to first room, through the wizard ({c2f['messages']} messages): "
        f"p50 {c2f['p50']} ms, p95 {c2f['p95']} ms, max {c2f['max']} ms (target p95 < 200 ms)"
    )
    print(f"ceiling_fraction {figures['ceiling_fraction']} (at --rtt-ms 0, target >= 0.9)")
    for phase in ("cpu_worker", "cpu_sequential", "cpu_plain_concurrent"):
        c = figures[phase]
        print(
            f"{phase}: {c['wall_s']} s wall; Synapse {c['synapse_cpu_s']} s CPU "
            f"({c['synapse_cores']} of a core), this process {c['bench_cpu_s']} s "
            f"({c['bench_cores']} of a core)"
        )
    met = (figures["speedup"] or 0) >= TARGET_SPEEDUP and not figures["lost"]
    figures["target_met"] = met = met and not figures["duplicates"]
    print(
        f"speedup {figures['speedup']}x (target {TARGET_SPEEDUP}x): {'met' if met else 'MISSED'}"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
