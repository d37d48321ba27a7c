"""The register of processing: every table has a rule or an exemption, the README is the
register as printed with the default settings, and /mydata says how long each record stays."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot import cli, register
from bot.app import core_config
from bot.core_config import CoreConfig
from bot.register import Retention
from config.settings import load_settings
from storage.retention import tables_of
from storage.tables import Base
from tests.fakes import Harness
from tests.unit.test_groups_support import member, ready

ROOT = Path(__file__).resolve().parents[2]


def test_every_table_has_a_retention_rule_or_a_documented_exemption() -> None:
    covered = register.covered()
    missing = sorted(t for t in Base.metadata.tables if t not in covered)
    assert missing == [], f"tables without a rule in bot/register.py: {missing}"
    assert sorted(t for t in covered if t not in Base.metadata.tables) == []
    for rec in register.RECORDS:
        assert rec.holds and rec.why and rec.who and rec.kept and rec.reason and rec.mine


def test_every_table_the_job_deletes_from_has_a_rule_that_says_so() -> None:
    ruled = {t for rec in register.RECORDS for t in rec.tables}
    assert tables_of() <= ruled
    assert not tables_of() & set(register.EXEMPT)


def test_the_readme_privacy_section_is_the_register_with_default_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in list(__import__("os").environ):
        if name.upper().startswith("BINBOT_"):
            monkeypatch.delenv(name)
    printed = register.render(core_config(load_settings()))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- register -->\n(.*?)\n<!-- /register -->", readme, re.S)
    assert found, "README.md has no <!-- register --> section"
    assert found.group(1) == printed, "regenerate it: binbot privacy register"


def test_the_register_prints_the_periods_in_force(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BINBOT_RETENTION__AUDIT_DAYS", "400")
    monkeypatch.setenv("BINBOT_RETENTION__INACTIVE_DAYS", "60")
    assert cli.main(["privacy", "register"]) == 0
    out = capsys.readouterr().out
    assert "- **Kept:** 400 days." in out
    assert "then erased 60 days after their last contact" in out
    monkeypatch.setenv("BINBOT_RETENTION__AUDIT_DAYS", "0")
    assert cli.main(["privacy", "register"]) == 2
    assert "BINBOT_RETENTION__AUDIT_DAYS" in capsys.readouterr().err


def test_purge_dry_run_shows_what_the_next_run_deletes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"

    async def old_world() -> None:
        h = await Harness.create(tmp_path, url=url)
        h.clock.set(datetime.now(UTC) - timedelta(days=400))
        await ready(h)
        await member(h, "jan")
        await h.ask_join("lies", "buurt")  # declined: nothing of Lies is left to keep
        await h.say("lies", "Dorpsplein 1")
        await h.press("an", "Weigeren")
        await h.close()

    asyncio.run(old_world())
    monkeypatch.setenv("BINBOT_DATABASE_URL", url)
    assert cli.main(["db", "purge", "--dry-run"]) == 0
    dry = capsys.readouterr().out
    assert "join_requests\twould delete 2" in dry and "audit_log\twould delete " in dry
    would = int(re.search(r"audit_log\twould delete (\d+)", dry).group(1))  # type: ignore[union-attr]
    assert would > 3
    assert "persons\twould delete 1" in dry  # Lies, once her declined request is gone
    assert cli.main(["db", "purge"]) == 0
    done = capsys.readouterr().out
    assert f"audit_log\tdeleted {would}" in done and "join_requests\tdeleted 2" in done
    # The dry run foretold every step exactly.
    foretold = [line.replace("would delete", "deleted") for line in dry.splitlines()]
    assert [line for line in done.splitlines() if "\tdeleted " in line] == foretold[:-1]
    assert cli.main(["db", "purge", "--dry-run"]) == 0
    assert "0 rows would be deleted in all" in capsys.readouterr().out


async def test_mydata_says_how_long_each_record_is_kept(h: Harness) -> None:
    await ready(h)
    await member(h, "jan")
    await h.say("jan", "/mydata")
    shown = h.new("jan")[-1]
    assert "Hoe lang ik het bewaar" in shown
    assert "daarna 180 dagen na je laatste contact" in shown
    assert "Lidmaatschappen: zolang ze lopen; 90 dagen nadat je vertrok" in shown
    assert "de aanvraag 30 dagen na de beslissing" in shown
    assert "„Gezien”: bewaard zonder je id" in shown
    assert "Rollen:" not in shown  # Jan holds none
    await h.say("an", "/language en")
    await h.say("an", "/mydata")
    assert "• Roles: while you hold them; 90 days after one is revoked." in h.last("an")


async def test_mydata_follows_the_settings_in_force(tmp_path: Path) -> None:
    config = CoreConfig(retention=Retention(inactive_days=45, audit_days=730))
    h = await Harness.create(tmp_path, config=config)
    try:
        await h.say("lars", "/language fr")
        await h.say("lars", "/mydata")
        shown = h.last("lars")
        assert "ensuite 45 jours après votre dernier contact" in shown
        assert "Lignes du journal d'audit : 730 jours" in shown
    finally:
        await h.close()
