"""What a careless or hostile admin types: one clear `error:` line per problem, exit 1, and
nothing written (bot/services/validation.py holds the rules, for commands and files alike)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot import admin
from bot.admin import run_admin
from bot.cli import admin_parser
from storage.tables import AuditEntry, Bin, Invite, Zone
from tests.fakes import Harness

ROOT = Path(__file__).resolve().parents[2]


async def written(h: Harness) -> tuple[int, ...]:
    """Rows of every table an admin command writes."""
    counts = []
    async with h.db.session() as s:
        for table in (Zone, Bin, Invite, AuditEntry):
            counts.append((await s.execute(select(func.count()).select_from(table))).scalar_one())
    return tuple(counts)


async def refused(h: Harness, argv: list[str]) -> list[str]:
    """Run `binbot ARGV` as the shell passes it; assert exit 1 and nothing written."""
    before = await written(h)
    out: list[str] = []
    args = admin_parser().parse_args(argv)
    code = await run_admin(args, h.db, out.append, h.core.clock, h.core.rng)
    assert code == 1, out
    assert out and all(line.startswith("error: ") for line in out), out
    assert await written(h) == before
    return out


# -- names and options on the command line --------------------------------------------------


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("x" * 10_000, "(10000 characters)"),
        ("x" * 101, "(101 characters)"),
        ("", "(0 characters)"),
        ("   ", "(0 characters)"),
        ("Koersel\nNoord", "U+000A"),
        ("Koersel\tNoord", "U+0009"),
        ("\u202eDROON", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("Zero\u200bWidth", "U+200B ZERO WIDTH SPACE"),
        ("Noord\u2028Zuid", "U+2028 LINE SEPARATOR"),
        ("***", "a name with a letter or digit"),
    ],
    ids=["10k", "101", "empty", "spaces", "newline", "tab", "rtl", "zero-width", "u2028", "stars"],
)
async def test_zone_and_bin_names_are_one_visible_line_of_1_to_100_characters(
    h: Harness, name: str, why: str
) -> None:
    await h.admin("zone add Beringen")
    for argv in (["zone", "add", name], ["bin", "add", name, "--zone", "Beringen"]):
        [line] = await refused(h, argv)
        assert line.startswith("error: NAME: expected ") and why in line
        assert len(line) < 200  # a 10,000-character name is not echoed back


async def test_a_name_is_stored_in_nfc_with_its_spaces_collapsed(h: Harness) -> None:
    assert await h.admin("zone add 'E\u0301caussinnes   Sud '") == [
        "zone Écaussinnes Sud added (urgent 101, language nl)"
    ]
    assert len("Écaussinnes Sud") == 15
    assert (await h.admin("zone add " + "é" * 100))[0].startswith("zone ééé")  # 100 is fine


async def test_a_zero_width_look_alike_of_a_zone_cannot_be_made(h: Harness) -> None:
    await h.admin("zone add ZeroWidth")
    [line] = await refused(h, ["zone", "add", "Zero\u200bWidth"])
    assert "U+200B ZERO WIDTH SPACE" in line
    assert await h.admin("zone list") != [] and len(await h.admin("zone list")) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["invite", "police", "--zone", "Beringen", "--expires", "99999999w"], "--expires: "),
        (["invite", "police", "--zone", "Beringen", "--expires", "100000w"], "--expires: "),
        (["invite", "police", "--zone", "Beringen", "--expires", "366d"], "1 minute to 365 d"),
        (["invite", "police", "--zone", "Beringen", "--expires", "0m"], "1 minute to 365 d"),
        (["bin", "add", "Noord", "--zone", "Beringen", "--code", ""], "--code: expected 2-32"),
        (["bin", "add", "Noord", "--zone", "Beringen", "--code=-x"], "starting with a letter"),
        (
            ["bin", "add", "Noord", "--zone", "Beringen", "--intake", "a", "--no-intake"],
            "--intake and --no-intake contradict",
        ),
        (
            ["bin", "add", "Noord", "--zone", "Beringen", "--intake", ""],
            "--intake: expected 1-200 characters",
        ),
        (["bin", "add", "Noord", "--zone", "Beringen", "--intake", "a\nb"], "question 1, "),
        (["bin", "add", "Noord", "--zone", "Beringen", "--area", "x" * 201], "--area: "),
        (
            ["zone", "add", "Genk", "--reminder-days", "100000000000000000000"],
            "--reminder-days: expected a whole number from 1 to 365",
        ),
        (["zone", "add", "Genk", "--reminder-days", "seven"], "--reminder-days: "),
        (["zone", "add", "Genk", "--reminder-days", "0"], "--reminder-days: "),
        (["zone", "add", "Genk", "--urgent", ""], "--urgent: expected a phone number"),
        (["revoke", "invite", "99999999999999999999999"], "invite id: expected a whole number"),
        (["revoke", "role", "-1"], "role id: expected a whole number"),
        (["audit", "--since", "99999999w"], "--since: expected a duration"),
    ],
)
async def test_options_out_of_bounds_or_contradictory_are_refused(
    h: Harness, argv: list[str], message: str
) -> None:
    await h.admin("zone add Beringen")
    [line] = await refused(h, argv)
    assert message in line


async def test_the_command_line_shows_one_line_and_exits_1_instead_of_a_traceback(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BINBOT_DATABASE_URL": str(tmp_path / "x.db")}

    def binbot(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot.cli", *argv],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert binbot("zone", "add", "Beringen").returncode == 0
    done = binbot("invite", "police", "--zone", "Beringen", "--expires", "99999999w")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stdout.splitlines() == [
        "error: --expires: expected a duration from 1 minute to 365 days: a number and m, h, "
        "d or w (e.g. 48h), got '99999999w'"
    ]
    assert binbot("invite", "list").stdout == ""


# -- the audit log ----------------------------------------------------------------------------


async def test_audit_limit_gives_the_newest_entries_oldest_first(h: Harness) -> None:
    for name in ("Beringen", "Genk", "Hasselt", "Lommel"):
        await h.admin(f"zone add {name}")
    lines = await h.admin("audit --limit 2 --json")
    assert [line.split('"zone": ')[1].rstrip("}") for line in lines] == ["3", "4"]
    assert len(await h.admin("audit --limit 10")) == 4
    for bad in ("0", "-1", "two"):
        [line] = await refused(h, ["audit", "--limit", bad])
        assert line.startswith("error: --limit: expected a whole number from 1 to ")


async def test_an_unexpected_failure_prints_a_reference_not_a_traceback(
    h: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(run: object) -> None:
        raise RuntimeError("a defect")

    monkeypatch.setitem(admin._COMMANDS, "audit", broken)
    [line] = await refused(h, ["audit"])
    reference = line.rsplit("reference ", 1)[1].rstrip(")")
    assert line == f"error: unexpected failure, nothing was changed (reference {reference})"
    assert f"reference {reference}" in caplog.text and "RuntimeError: a defect" in caplog.text
