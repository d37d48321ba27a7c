"""Every word a user reads exists in nl, fr, de and en, with the same placeholders."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot import texts
from bot.handlers import build_registry
from bot.model import LANGUAGES, Role

ROOT = Path(__file__).resolve().parents[2]


def all_keys() -> set[str]:
    return set().union(*(texts.keys(lang) for lang in LANGUAGES))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_text_exists_in_every_language(lang: str) -> None:
    missing = sorted(all_keys() - texts.keys(lang))
    assert missing == [], f"{lang} lacks {missing}"


def test_translations_use_the_same_placeholders() -> None:
    wrong = []
    for key in sorted(all_keys()):
        want = texts.placeholders(key, "en")
        for lang in LANGUAGES:
            if texts.placeholders(key, lang) != want:
                wrong.append(f"{key} [{lang}]")
    assert wrong == []


def test_every_text_fills_without_error() -> None:
    for key in sorted(all_keys()):
        for lang in LANGUAGES:
            values = {name: "X" for name in texts.placeholders(key, lang)}
            assert texts.text(key, lang, **values).strip(), f"{key} [{lang}] is empty"


def test_keys_used_in_code_exist() -> None:
    """Literal keys passed to reply/t/rich/text in the code are all defined."""
    pattern = re.compile(
        r"""(?:reply|\.t|rich|text|notify_person)\(\s*(?:[\w.]+,\s*)?["']([a-z_]+\.[a-z0-9_.]+)["']"""
    )
    used: set[str] = set()
    for folder in ("bot", "adapters"):
        for path in (ROOT / folder).rglob("*.py"):
            used.update(pattern.findall(path.read_text(encoding="utf-8")))
    assert used, "the pattern found no keys at all"
    assert sorted(used - all_keys()) == []


def test_commands_and_roles_have_texts() -> None:
    keys = all_keys()
    for cmd in build_registry().commands.values():
        assert cmd.help_key in keys, cmd.name
    for role in Role:
        assert f"role.{role.value}" in keys


def test_user_text_is_never_parsed_as_markup() -> None:
    rich = texts.rich("core.redeem_ok", "en", role="**x**", scope="<b>y</b>")
    assert rich.plain == "Done: you are now **x** for <b>y</b>."
    bold = [s.text for s in rich.spans if s.bold]
    assert bold == ["**x**"]
