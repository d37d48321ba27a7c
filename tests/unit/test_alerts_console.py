"""The issue's "done when" flow, replayed on the console from examples/alerts.txt as a new
user would type it: an urgent message to two BINs with three groups, each group shows it
once, the receipt, an update and the all-clear, a genuine reference and a made-up one."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime
from pathlib import Path

from bot.app import console
from config.settings import load_settings
from tests.clock import ManualClock
from tests.unit.test_alerts_world import REF

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
GROUPS = ("Kerkstraat", "Dorpsplein", "Molenweg")


async def test_the_console_scenario(tmp_path: Path) -> None:
    settings = load_settings(database_url=str(tmp_path / "console.db"))
    out: list[str] = []
    clock = ManualClock(datetime(2026, 3, 2, 20, 45, tzinfo=UTC))
    script = (EXAMPLES / "alerts.txt").read_text(encoding="utf-8")
    await console(
        settings, io.StringIO(script), out.append, clock=clock, rng=random.Random(3), prompt=False
    )
    bot = [line for line in out if line.startswith("bot")]
    found = REF.search(next(line for line in bot if "OFFICIAL BIN MESSAGE" in line))
    assert found is not None
    ref = found.group(0)

    for group in GROUPS:
        mine = [line for line in bot if line.startswith(f"bot→{group}: ")]
        official = [line for line in mine if "OFFICIAL BIN MESSAGE · URGENT" in line]
        assert len(official) == 1, group
        assert f"Ref. {ref} · Mon 2 Mar 21:45" in official[0]
        assert sum(f"↪ 🔄 UPDATE · {ref}" in line for line in mine) == 1
        assert sum(f"↪ ✅ ALL CLEAR · {ref}" in line for line in mine) == 1

    receipts = [line for line in bot if line.startswith("bot⇒sofie: edit 🧾 Receipt")]
    assert "Delivered: 3 of 3 groups (console 3)" in receipts[0]
    assert "Seen: 1 (who, I never say)" in receipts[-1]
    assert "state: resolved (all clear)" in receipts[-1]

    checks = [line for line in bot if line.startswith("bot→lies: ")]
    assert f"✅ {ref} is a genuine official message from Police zone Beringen" in checks[-2]
    assert "State: resolved (all clear)." in checks[-2]
    assert "❌ Z-9Q9Q is not an official message." in checks[-1] and "101" in checks[-1]
