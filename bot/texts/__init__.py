"""Every word a user reads, per language, from gettext catalogues (Babel).

Catalogues live in `locales/<lang>/LC_MESSAGES/<domain>.po`; the msgid is a stable key
(`help.title`) and each language's msgstr the text. One domain per concern keeps the files
small. Templates may mark emphasis with `**bold**` and use `{name}` placeholders; values are
inserted after the template is split into spans, so nothing a user typed is ever parsed as
markup. Escaping for a platform happens in its adapter, never here.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from pathlib import Path
from string import Formatter

from babel.messages.pofile import read_po

from bot.model import LANGUAGES, Rich, Span

LOCALES = Path(__file__).parent / "locales"
_BOLD = re.compile(r"\*\*(.+?)\*\*", re.S)


class MissingText(KeyError):
    """A key has no text in some language: a defect the catalogue test catches."""


@cache
def catalogue(lang: str) -> dict[str, str]:
    """All texts of one language, merged over every domain."""
    texts: dict[str, str] = {}
    folder = LOCALES / lang / "LC_MESSAGES"
    for po in sorted(folder.glob("*.po")):
        with po.open("rb") as fh:
            cat = read_po(fh, locale=lang)
        for message in cat:
            if message.id and isinstance(message.id, str) and message.string:
                texts[message.id] = str(message.string)
    return texts


def keys(lang: str) -> set[str]:
    """The keys one language defines."""
    return set(catalogue(lang))


def _template(key: str, lang: str) -> str:
    lang = lang if lang in LANGUAGES else "en"
    text = catalogue(lang).get(key)
    if text is None:
        text = catalogue("en").get(key)
    if text is None:
        raise MissingText(key)
    return text


def placeholders(key: str, lang: str) -> set[str]:
    """The `{names}` one language's text of `key` uses."""
    return {f for _, f, _, _ in Formatter().parse(_template(key, lang)) if f}


def rich(key: str, lang: str, /, **values: object) -> Rich:
    """The text of `key` in `lang` with `values` filled in, as spans."""
    template = _template(key, lang)
    spans: list[Span] = []
    pos = 0
    for match in _BOLD.finditer(template):
        if match.start() > pos:
            spans.append(Span(_fill(template[pos : match.start()], values)))
        spans.append(Span(_fill(match.group(1), values), bold=True))
        pos = match.end()
    if pos < len(template):
        spans.append(Span(_fill(template[pos:], values)))
    return Rich(tuple(s for s in spans if s.text))


def text(key: str, lang: str, /, **values: object) -> str:
    """The text of `key` in `lang` as plain text."""
    return rich(key, lang, **values).plain


def _fill(template: str, values: dict[str, object]) -> str:
    return template.format_map(values) if "{" in template else template


def language_names() -> dict[str, str]:
    """Each language's name in itself, for menus."""
    return {"nl": "Nederlands", "fr": "Français", "de": "Deutsch", "en": "English"}


@cache
def words(key: str) -> frozenset[str]:
    """A word list from the catalogues (`words.yes`: "ja, j, ok, …"), every language's words
    together, folded as `fold` folds what people type."""
    found: set[str] = set()
    for lang in LANGUAGES:
        template = catalogue(lang).get(key)
        if template is None:
            raise MissingText(key)
        found.update(fold(w) for w in template.split(","))
    found.discard("")
    return frozenset(found)


def fold(word: str) -> str:
    """A typed word as word lists compare it: letters only, case and accents folded."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(ch for ch in decomposed if ch.isalpha())
