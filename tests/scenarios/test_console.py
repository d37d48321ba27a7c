"""Console scenarios in examples/ replayed and compared with their expected transcripts.

Regenerate a transcript after an intended change with BINBOT_UPDATE_TRANSCRIPTS=1.
"""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import console
from config.settings import load_settings
from tests.clock import ManualClock

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.txt"))
TRANSCRIPTS = Path(__file__).parent / "transcripts"


async def replay(scenario: str, tmp_path: Path) -> list[str]:
    """Run a scenario through `binbot console` in-process, with a fixed clock and seed."""
    settings = load_settings(database_url=str(tmp_path / "console.db"))
    out: list[str] = []
    clock = ManualClock(datetime(2026, 3, 2, 14, 0, tzinfo=UTC))
    await console(
        settings,
        io.StringIO(scenario),
        out.append,
        clock=clock,
        rng=random.Random(1),
        prompt=False,
    )
    return out


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
async def test_example_matches_its_transcript(example: Path, tmp_path: Path) -> None:
    got = "\n".join(await replay(example.read_text(encoding="utf-8"), tmp_path)) + "\n"
    expected = TRANSCRIPTS / f"{example.stem}.out"
    if os.environ.get("BINBOT_UPDATE_TRANSCRIPTS") == "1" or not expected.exists():
        expected.parent.mkdir(exist_ok=True)
        expected.write_text(got, encoding="utf-8")
        if os.environ.get("BINBOT_UPDATE_TRANSCRIPTS") != "1":
            pytest.fail(f"no transcript for {example.name}: wrote {expected.name}, review it")
    assert got == expected.read_text(encoding="utf-8")


async def test_foundation_flow_reads_right(tmp_path: Path) -> None:
    """What a new user checks by hand: roles redeemed, /help differs, bad input refused."""
    out = await replay((ROOT / "examples" / "foundation.txt").read_text(), tmp_path)
    text = "\n".join(out)
    assert "bot→jan: Gelukt: je bent nu politie voor Beringen." in out
    assert "bot→an: Gelukt: je bent nu coördinator voor Koersel Noord." in out
    assert "bot→lies: Deze code is niet geldig. Vraag je beheerder om een nieuwe." in out
    assert "error: unknown zone 'Atlantis' (see `binbot zone list`)" in out
    assert (
        "error: --expires: expected a duration from 1 minute to 365 days: a number and m, h, "
        "d or w (e.g. 48h), got 'soon'"
    ) in out
    helps = [
        line
        for line in out
        if line.startswith(("bot→jan: Wat je", "bot→an: Wat je", "bot→lies: Wat je"))
    ]
    assert len({h.split(":", 1)[1] for h in helps}) == 3  # three roles, three different helps
    assert "appelez d'abord" in text  # in French, for the one zone served


def test_binbot_console_reads_a_pipe_line_by_line(tmp_path: Path) -> None:
    """The installed command, driven through a pipe like another program would."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINBOT_")}
    env["BINBOT_DATABASE_URL"] = str(tmp_path / "pipe.db")
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "console"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert proc.stdin and proc.stdout
    proc.stdin.write("jan@dm: /numbers\n")
    proc.stdin.flush()
    assert proc.stdout.readline() == "> jan@dm: /numbers\n"
    assert proc.stdout.readline().startswith("bot→jan: Bel de politie eerst")
    proc.stdin.write("$ zone add Beringen\n")
    proc.stdin.flush()
    assert proc.stdout.readline() == "> $ zone add Beringen\n"
    assert proc.stdout.readline() == "zone Beringen added (urgent 101, language nl)\n"
    proc.stdin.close()
    assert proc.wait(timeout=30) == 0, proc.stderr.read() if proc.stderr else ""


async def test_a_second_console_run_continues_the_wizard_the_first_left(tmp_path: Path) -> None:
    """An officer's half-written /alert is a row: the next run on the database takes it up."""
    setup = "\n".join(
        [
            '$ zone add Beringen --language en --non-urgent "011 27 95 79" --quiet 00:00-00:00',
            '$ bin add "Koersel Noord" --zone Beringen --code noord',
            "$ invite coordinator --bin noord",
            "an@dm: /redeem {code}",
            "an@Kerkstraat: /link noord",
            "$ invite police --zone Beringen",
            "sofie@dm: /redeem {code}",
            "sofie@dm: /alert",
            "sofie@dm: [Koersel Noord]",
            "sofie@dm: [Done]",
            "sofie@dm: [Suspicious vehicle]",
        ]
    )
    first = await replay(setup, tmp_path)
    assert any("Step 3 of 4" in line for line in first)
    assert not any(line.startswith("bot→Kerkstraat: 🚨") for line in first)

    # The process is gone; a new one on the same database gets the text, then the word yes.
    # (The console's simulated chats live in its process: the group is opened again first.)
    second = await replay(
        "lies@Kerkstraat: good evening\n"
        "sofie@dm: Grey van driving slowly past the houses, 21:40.\n"
        "sofie@dm: yes\n",
        tmp_path,
    )
    previews = [line for line in second if line.startswith("bot→sofie: Step 4 of 4")]
    assert len(previews) == 1 and "Grey van driving slowly" in previews[0]
    posted = [line for line in second if line.startswith("bot→Kerkstraat: 🚨")]
    assert len(posted) == 1 and "OFFICIAL" in posted[0] and "Grey van" in posted[0]
