"""The groups catalogue: every text in nl, fr, de and en, with the same placeholders."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot import texts
from bot.model import LANGUAGES

ROOT = Path(__file__).resolve().parents[2]
CODE = [ROOT / "bot" / "handlers" / n for n in ("groups.py", "coordinators.py", "members.py")] + [
    ROOT / "bot" / "services" / n
    for n in (
        "audience.py",
        "join_requests.py",
        "joins.py",
        "linking.py",
        "membership.py",
        "nudges.py",
        "privacy.py",
        "roster.py",
        "rules.py",
    )
]


def catalogue(lang: str) -> dict[str, str]:
    path = texts.LOCALES / lang / "LC_MESSAGES" / "groups.po"
    with path.open("rb") as fh:
        return {str(m.id): str(m.string) for m in read_po(fh, locale=lang) if m.id}


def test_every_text_exists_in_all_four_languages() -> None:
    english = catalogue("en")
    assert english
    for lang in LANGUAGES:
        found = catalogue(lang)
        assert set(found) == set(english), f"{lang}: keys differ from en"
        empty = [k for k, v in found.items() if not v.strip()]
        assert not empty, f"{lang}: untranslated {empty}"


@pytest.mark.parametrize("lang", [lang for lang in LANGUAGES if lang != "en"])
def test_placeholders_match_english(lang: str) -> None:
    for key in catalogue("en"):
        assert texts.placeholders(key, lang) == texts.placeholders(key, "en"), (lang, key)


def test_every_key_the_code_uses_exists() -> None:
    used: set[str] = set()
    for path in CODE:
        used |= set(re.findall(r"\"(groups\.[a-z_.]+[a-z_])\"", path.read_text("utf-8")))
    assert used, "no keys found: has the code moved?"
    missing = used - set(catalogue("en"))
    assert not missing


def test_computed_keys_exist() -> None:
    keys = set(catalogue("en"))
    statuses = (
        "intake",
        "pending",
        "approved",
        "declined",
        "expired",
        "withdrawn",
        "active",
        "left",
        "removed",
    )
    assert {f"groups.status.{s}" for s in statuses} <= keys
    rights = (
        "admin",
        "invite",
        "pin",
        "restrict",
        "send",
        "delete",
        "change_join_rules",
        "remove_members",
        "delete_messages",
        "send_messages",
    )
    assert {f"groups.right.{r}" for r in rights} <= keys


def test_belgian_names_of_the_network() -> None:
    assert "PLP" in texts.text("groups.greeting", "fr", p="/")
    assert "Partenariat Local de Prévention" in texts.text("groups.greeting", "fr", p="/")
    assert "BIN" in texts.text("groups.greeting", "de", p="/")
    assert "politiezone" in texts.text("groups.rules", "nl", bin="x", zone="y")
    assert "zone de police" in texts.text("groups.rules", "fr", bin="x", zone="y")
    assert "Polizeizone" in texts.text("groups.rules", "de", bin="x", zone="y")
