"""`binbot apply FILE`: a typed, strict file; every problem named by entry, key, what was
given and what is expected; the whole file applied or nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes import Harness
from tests.unit.test_admin_input import refused, written


async def apply(h: Harness, tmp_path: Path, toml: str) -> list[str]:
    f = tmp_path / "zones.toml"
    f.write_text(toml, encoding="utf-8")
    return await h.admin(f"apply {f}")


async def apply_refused(h: Harness, tmp_path: Path, toml: str) -> list[str]:
    f = tmp_path / "zones.toml"
    f.write_text(toml, encoding="utf-8")
    return await refused(h, ["apply", str(f)])


@pytest.mark.parametrize(
    ("entry", "line"),
    [
        ("name = 42", "zone #1, key name: expected text in quotes, got 42 (a number)"),
        ('name = ["list"]', "zone #1, key name: expected text in quotes, got ['list'] (a list)"),
        (
            'name = "Genk"\nreminder_days = true',
            "zone #1 'Genk', key reminder_days: expected a whole number, got true (true/false)",
        ),
        (
            'name = "Genk"\nreminder_days = 3.7',
            "zone #1 'Genk', key reminder_days: expected a whole number, got 3.7 (a number)",
        ),
        (
            'name = "Genk"\nreminder_days = "seven"',
            "zone #1 'Genk', key reminder_days: expected a whole number, got 'seven'",
        ),
        (
            'name = "Genk"\nreminder_days = 100000000000000000000',
            "zone #1 'Genk', key reminder_days: expected a whole number from 1 to 365, "
            "got 100000000000000000000 (a number)",
        ),
        (
            'name = "Genk"\nnon_urgent = 11111',
            "zone #1 'Genk', key non_urgent: expected text in quotes, got 11111 (a number)",
        ),
        (
            'name = "Genk"\nunknown_key = 1',
            "zone #1 'Genk', key unknown_key: unknown key; the known keys are name, urgent, "
            "emergency, non_urgent, language, quiet_hours, reminder_days, bin",
        ),
        ("urgent = '101'", "zone #1, key name: missing, and it is required"),
        (
            'name = "Genk"\nquiet_hours = ["22:00"]',
            'zone #1 \'Genk\', key quiet_hours: expected two times, e.g. ["22:00", "07:00"], '
            "got ['22:00'] (a list)",
        ),
        (
            'name = "Genk"\nlanguage = "xx"',
            "zone #1 'Genk', key language: expected one of nl, fr, de, en, got 'xx'",
        ),
        (
            'name = "Genk\\u200b"',
            "zone #1 'Genk\\u200b', key name: expected 1-100 characters on one line, none "
            "invisible, got 'Genk\\u200b' (character 5 is U+200B ZERO WIDTH SPACE)",
        ),
        (
            'name = "Genk"\n[[zone.bin]]\nname = "Noord"\ncode = 123',
            "zone #1 'Genk', BIN #1 'Noord', key code: expected text in quotes, got 123 (a number)",
        ),
        (
            'name = "Genk"\n[[zone.bin]]\nname = "Noord"\nintake = ["Straat?", 7]',
            "zone #1 'Genk', BIN #1 'Noord', key intake, item 2: expected text in quotes, "
            "got 7 (a number)",
        ),
    ],
    ids=lambda v: v if "\n" not in v and len(v) < 30 else None,
)
async def test_each_wrong_value_is_named_by_entry_key_given_and_expected(
    h: Harness, tmp_path: Path, entry: str, line: str
) -> None:
    out = await apply_refused(h, tmp_path, f"[[zone]]\n{entry}\n")
    assert out == [f"error: zones.toml: {line}"]


async def test_every_problem_of_a_file_is_listed_at_once(h: Harness, tmp_path: Path) -> None:
    out = await apply_refused(
        h,
        tmp_path,
        '[[zone]]\nname = "Genk"\nreminder_days = 0\n\n'
        '[[zone.bin]]\nname = "Noord"\ncode = "No Spaces"\n\n'
        "[[zone]]\nname = 7\n",
    )
    assert [line.split(": ")[2] for line in out] == [
        "zone #1 'Genk', key reminder_days",
        "zone #1 'Genk', BIN #1 'Noord', key code",
        "zone #2, key name",
    ]


async def test_twins_in_a_file_are_refused(h: Harness, tmp_path: Path) -> None:
    out = await apply_refused(
        h,
        tmp_path,
        '[[zone]]\nname = "Écaussinnes"\n[[zone.bin]]\nname = "Élouges"\n'
        '[[zone.bin]]\nname = "ELOUGES"\n[[zone]]\nname = "ecaussinnes"\n',
    )
    assert out == [
        "error: zones.toml: zone #1 'Écaussinnes', BIN #2 'ELOUGES': the name of BIN #1",
        "error: zones.toml: zone #2 'ecaussinnes': the name of zone #1",
    ]


async def test_a_file_stopped_half_way_writes_nothing(h: Harness, tmp_path: Path) -> None:
    """The second zone's BIN takes a code already in use: the first zone is not kept."""
    await h.admin("zone add Beringen")
    await h.admin("bin add Noord --zone Beringen --code noord")
    before = await written(h)
    out = await apply_refused(
        h,
        tmp_path,
        '[[zone]]\nname = "Genk"\n\n[[zone]]\nname = "Hasselt"\n'
        '[[zone.bin]]\nname = "Noord"\ncode = "noord"\n',
    )
    assert out == [
        "error: zones.toml: zone #2 'Hasselt', BIN #1 'Noord': BIN code 'noord' is taken; "
        "choose another with --code"
    ]
    assert await written(h) == before
    assert [line.split("\t")[0] for line in await h.admin("zone list")] == ["Beringen"]


async def test_an_existing_zone_matched_by_name_keeps_what_the_file_leaves_out(
    h: Harness, tmp_path: Path
) -> None:
    await h.admin("zone add Écaussinnes --non-urgent '064 00 00 00' --reminder-days 14")
    out = await apply(h, tmp_path, '[[zone]]\nname = "ECAUSSINNES"\nlanguage = "fr"\n')
    assert out == ["updated zone ECAUSSINNES", "0 created, 1 updated, 0 unchanged"]
    [zone] = await h.admin("zone list")
    assert zone.startswith("Écaussinnes\turgent 101\tnon-urgent 064 00 00 00\tlanguage fr")
    out = await apply(h, tmp_path, '[[zone]]\nname = "écaussinnes"\nreminder_days = 14\n')
    assert out == ["0 created, 0 updated, 1 unchanged"]


async def test_a_file_that_is_not_utf8_or_not_toml_is_refused(h: Harness, tmp_path: Path) -> None:
    f = tmp_path / "zones.toml"
    f.write_bytes(b'[[zone]]\nname = "\xe9caussinnes"\n')
    [line] = await refused(h, ["apply", str(f)])
    assert line.startswith(f"error: cannot read {f}: ")
    f.write_text("[[zone]\n")
    [line] = await refused(h, ["apply", str(f)])
    assert line.startswith(f"error: cannot read {f}: ")
