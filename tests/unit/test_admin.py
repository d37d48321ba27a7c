"""The admin's shell commands: clear errors, non-zero exits, nothing half-written."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.services.validation import InvalidInput, duration
from storage.tables import Bin, Invite, Zone
from tests.fakes import Harness


async def count(h: Harness, table: type) -> int:
    async with h.db.session() as s:
        return int((await s.execute(select(func.count()).select_from(table))).scalar_one())


async def test_zone_and_bin_add_and_list(h: Harness) -> None:
    assert await h.admin("zone add Beringen --non-urgent '011 27 95 79' --quiet 22:00-07:00") == [
        "zone Beringen added (urgent 101, language nl)"
    ]
    await h.admin("bin add 'Koersel Noord' --zone beringen --area 'Koerselsesteenweg, 3582'")
    await h.admin("bin add Paal --zone Beringen --code paal-centrum")
    listing = await h.admin("zone list")
    assert listing == [
        "Beringen\turgent 101\tnon-urgent 011 27 95 79\tlanguage nl\tquiet 22:00-07:00"
    ]
    bins = await h.admin("bin list --zone Beringen")
    assert [line.split("\t")[0] for line in bins] == ["koersel-noord", "paal-centrum"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("bin add Noord --zone Atlantis", "unknown zone 'Atlantis'"),
        ("zone add Beringen", "exists already"),
        ("zone add Genk --non-urgent call-me", "phone number"),
        ("zone add Genk --quiet 22h", "START-END"),
        ("zone add Genk --language xx", "one of nl, fr, de, en"),
        ("zone add Genk --quiet 25:00-07:00", "HH:MM"),
        ("bin add Noord --zone Beringen --code 'No Spaces!'", "--code: expected 2-32 of a-z"),
        ("invite police --zone Atlantis", "unknown zone"),
        ("invite coordinator --bin nowhere", "unknown BIN"),
        ("invite coordinator --zone Beringen", "takes --bin"),
        ("invite police --zone Beringen --expires soon", "--expires: expected a duration"),
        ("invite police --zone Beringen --expires 0h", "--expires: expected a duration"),
        ("revoke invite 999", "no invite 999"),
        ("revoke role 999", "no role grant 999"),
        ("audit --since yesterday", "--since: expected a duration"),
    ],
)
async def test_bad_input_is_refused_and_writes_nothing(
    h: Harness, line: str, message: str
) -> None:
    await h.admin("zone add Beringen")
    before = (await count(h, Zone), await count(h, Bin), await count(h, Invite))
    out = await h.admin(line)
    assert out[-1].startswith("error: ") and message in out[-1]
    assert (await count(h, Zone), await count(h, Bin), await count(h, Invite)) == before


async def test_invite_prints_the_code_alone_on_its_last_line(h: Harness) -> None:
    await h.admin("zone add Beringen")
    out = await h.admin("invite police --zone Beringen --expires 48h")
    assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", out[-1])
    assert "expires 2026-01-07T12:00" in out[0]  # the harness clock starts 2026-01-05 12:00 UTC
    listing = await h.admin("invite list")
    assert listing == ["1\tpolice\topen\texpires 2026-01-07T12:00+00:00"]


async def test_revoked_invite_cannot_be_redeemed(h: Harness) -> None:
    await h.admin("zone add Beringen")
    await h.admin("invite police --zone Beringen")
    code = h.code
    assert await h.admin("revoke invite 1") == ["invite 1 revoked"]
    await h.say("jan", f"/redeem {code}")
    assert h.last("jan").startswith("Deze code is niet geldig")
    assert (await h.admin("revoke invite 1"))[-1] == "error: invite 1 is already revoked"


async def test_revoking_a_role_takes_it_away(h: Harness) -> None:
    await h.admin("zone add Beringen")
    await h.admin("invite police --zone Beringen")
    await h.say("jan", f"/redeem {h.code}")
    grants = await h.admin("role list --zone Beringen")
    assert grants == ["1\tpolice\tzone 1\tJan"]
    assert await h.admin("revoke role 1") == ["role police (grant 1) revoked"]
    assert await h.admin("role list") == []
    await h.say("jan", "/help")
    assert "politie" not in h.last("jan").split("Jouw rollen")[-1]


async def test_audit_lists_privileged_actions_as_json(h: Harness) -> None:
    await h.admin("zone add Beringen")
    await h.admin("invite police --zone Beringen")
    await h.say("jan", f"/redeem {h.code}")
    rows = [json.loads(line) for line in await h.admin("audit --json")]
    assert [r["action"] for r in rows] == ["zone.add", "invite.issue", "role.grant"]
    assert rows[2]["actor"].startswith("p-") and "Jan" not in json.dumps(rows)
    text = await h.admin("audit --since 1h")
    assert len(text) == 3 and "role.grant ok" in text[2]


APPLY = """
[[zone]]
name = "Beringen"
non_urgent = "011 27 95 79"
language = "nl"
quiet_hours = ["22:00", "07:00"]

[[zone.bin]]
name = "Koersel Noord"
code = "koersel-noord"
area = "3582"

[[zone.bin]]
name = "Paal"
intake = ["In welke straat woon je?", "Huisnummer?"]

[[zone]]
name = "Lanaken"
language = "nl"
"""


async def test_apply_is_idempotent(h: Harness, tmp_path: Path) -> None:
    f = tmp_path / "zones.toml"
    f.write_text(APPLY)
    assert (await h.admin(f"apply {f}"))[-1] == "4 created, 0 updated, 0 unchanged"
    assert (await h.admin(f"apply {f}"))[-1] == "0 created, 0 updated, 4 unchanged"
    f.write_text(APPLY.replace('area = "3582"', 'area = "3582, 3583"'))
    out = await h.admin(f"apply {f}")
    assert out == ["updated bin Koersel Noord", "0 created, 1 updated, 3 unchanged"]


async def test_apply_with_an_error_writes_nothing(h: Harness, tmp_path: Path) -> None:
    f = tmp_path / "zones.toml"
    f.write_text(APPLY + '\n[[zone]]\nname = "Genk"\nnon_urgent = "not a number"\n')
    out = await h.admin(f"apply {f}")
    assert out[-1].startswith("error: ") and "phone number" in out[-1]
    assert await count(h, Zone) == 0 and await count(h, Bin) == 0
    f.write_text("[[zone]]\nname = 'x'\nbogus = 1\n")
    assert "key bogus: unknown key" in (await h.admin(f"apply {f}"))[-1]
    f.write_text("not = [toml")
    assert "cannot read" in (await h.admin(f"apply {f}"))[-1]


def test_durations_run_from_one_minute_to_a_year() -> None:
    assert duration("48h").total_seconds() == 48 * 3600
    assert duration("7d").days == 7
    assert duration("2w").days == 14
    assert duration("1m").total_seconds() == 60 and duration("365d").days == 365
    for bad in ("-1h", "0m", "366d", "53w", "99999999w", "1" * 5000 + "m", "7 days"):
        with pytest.raises(InvalidInput, match="from 1 minute to 365 days"):
            duration(bad)


async def test_the_shipped_examples_apply_and_load(h: Harness) -> None:
    root = Path(__file__).resolve().parents[2]
    out = await h.admin(f"apply {root / 'examples' / 'zones.toml'}")
    assert out[-1] == "4 created, 0 updated, 0 unchanged"  # 2 zones, 2 BINs
    from config.settings import load_settings

    assert load_settings(root / "config" / "example.toml").matrix.encryption is True
