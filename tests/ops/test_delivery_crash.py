"""A real `binbot run` SIGKILLed in the middle of an official message to 40 Telegram groups, then
started again on the same database, on SQLite and on PostgreSQL (skipped when unreachable).

The fake Bot API server (tests/telegram) answers each group message half a second after it
took it, so that many sends are under way at the kill. Afterwards every group has the message,
soon after the restart (the rows the dead process left `sending` are taken back at once, not
after the lease); the only second copies are of messages the server had taken but not yet
recorded as sent at the kill (unanswered, or answered a moment before it: Telegram has no
idempotency key, so nobody can know they arrived), as few as the sends the worker keeps under
way, and they too arrive soon after the restart.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import select

from storage.db import Database
from storage.tables import Bin, Delivery, Person
from tests.ops.delivery_proc import add_bin, seed, store
from tests.telegram.botapi import FakeBotApi
from tests.telegram.botapi_state import JSON

ROOT = Path(__file__).resolve().parents[2]
SERVE = (
    "import asyncio; from bot.app import serve; from bot.cli import setup_logging; "
    "from config.settings import load_settings; s = load_settings(); setup_logging(s); "
    "asyncio.run(serve(s))"
)
GROUPS = 40
ANSWER_AFTER = 0.5  # seconds between taking a group message and answering the call
WITHIN = 10.0  # seconds after the restart, as the issue asks; a run takes 2-4 s


class SlowAnswers(FakeBotApi):
    """Takes each group message at once (members see it), answers the call only later."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.taken: list[tuple[int, float]] = []  # (chat, when members saw it)
        self.answered: Counter[int] = Counter()

    async def m_sendMessage(self, p: JSON) -> JSON:
        result = await super().m_sendMessage(p)
        if result["chat"]["type"] == "private":
            return result
        chat = int(result["chat"]["id"])
        self.taken.append((chat, time.monotonic()))
        await asyncio.sleep(ANSWER_AFTER)
        self.answered[chat] += 1
        return result


async def start_bot(api: FakeBotApi, url: str, tmp_path: Path, name: str) -> Any:
    env = os.environ | {
        "BINBOT_DATABASE_URL": url,
        "BINBOT_TELEGRAM__TOKEN": api.token,
        "BINBOT_TELEGRAM__BASE_URL": api.base_url,
        "BINBOT_TELEGRAM__POLL_TIMEOUT": "1",
        "BINBOT_HTTP__PORT": "0",
        "BINBOT_RUN_SCHEDULER": "false",
        "BINBOT_PROCESS_NAME": "bot",
        "BINBOT_DATA_DIR": str(tmp_path / "data"),
        "BINBOT_LOG_JSON": "true",
    }
    log = (tmp_path / f"{name}.log").open("wb")
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-c", SERVE, cwd=ROOT, env=env, stdout=log, stderr=log
        )
    finally:
        log.close()


async def test_sigkill_mid_fan_out_then_restart_every_group_soon_few_doubles(
    db_url: str, tmp_path: Path
) -> None:
    db = Database(db_url)
    await db.upgrade()
    procs: list[Any] = []
    async with SlowAnswers() as api:
        groups = [api.add_group(f"Straat {i:02}") for i in range(GROUPS)]
        await seed(db, 0, messages=0)
        async with db.session() as s:
            first = (await s.execute(select(Bin))).scalar_one()
            author = (await s.execute(select(Person))).scalar_one()
            zone_id, author_id = first.zone_id, author.id
        bin_id = await add_bin(db, zone_id, "straten", [str(g.id) for g in groups])
        try:
            procs.append(await start_bot(api, db_url, tmp_path, "first"))
            await store(db, zone_id, bin_id, author_id)
            begin = time.monotonic()
            while len(api.taken) < GROUPS // 2:
                assert time.monotonic() - begin < 30, "the first process did not start sending"
                await asyncio.sleep(0.005)
            procs[0].send_signal(signal.SIGKILL)
            assert await procs[0].wait() == -signal.SIGKILL
            killed_at = time.monotonic()
            seen = {chat for chat, _ in api.taken}
            unanswered = {chat for chat in seen if not api.answered[chat]}
            async with db.session() as s:  # the crash window: taken, not recorded as sent
                q = select(Delivery.chat_id).where(Delivery.status == "sending")
                window = {int(c) for c in (await s.execute(q)).scalars()} & seen
            assert len(seen) < GROUPS, "the fan-out was over before the kill"

            restarted = time.monotonic()
            procs.append(await start_bot(api, db_url, tmp_path, "second"))
            while {chat for chat, _ in api.taken} != {g.id for g in groups}:
                assert time.monotonic() - restarted < 60, "the groups did not all get it"
                await asyncio.sleep(0.02)
            await asyncio.sleep(ANSWER_AFTER + 1.0)  # late second copies would show now
        finally:
            for p in procs:
                if p.returncode is None:
                    p.send_signal(signal.SIGTERM)
                    try:
                        await asyncio.wait_for(p.wait(), 15)
                    except TimeoutError:
                        p.kill()
                        await p.wait()
        async with db.session() as s:
            rows = list((await s.execute(select(Delivery))).scalars())
        await db.dispose()

    copies = Counter(chat for chat, _ in api.taken)
    after = [t - restarted for chat, t in api.taken if t > killed_at]
    doubled = {chat for chat, n in copies.items() if n > 1}
    figures = {
        "sent_before_kill": len(seen),
        "unanswered_at_kill": len(unanswered),
        "unrecorded_at_kill": len(window),
        "doubled": len(doubled),
        "last_after_restart_s": round(max(after), 2),
    }
    print(json.dumps(figures))
    assert {r.status for r in rows} == {"sent"} and len(rows) == GROUPS
    assert set(copies) == {g.id for g in groups}, "a group never got the message"
    assert max(copies.values()) <= 2
    assert doubled <= window, f"second copies of sends recorded as sent: {doubled - window}"
    # No more than the sends the worker keeps under way at this latency: at 0.5 s answers the
    # 30/s limit needs about 11 under way (bot/delivery_send.py, InFlight), plus 2 to spare.
    assert len(doubled) <= 15, figures
    # Every group, second copies included, within WITHIN of the restart (not the lease).
    assert max(after) < WITHIN, figures
