"""The rules for what an admin types: names, BIN codes, numbers, durations, free text.

One module, so that `binbot zone|bin|invite|audit`, `binbot apply` and any later admin
front end refuse the same input with the same words. Each check returns the clean value or
raises InvalidInput, which says what was expected and what was given.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)

from bot.model import LANGUAGES, valid_bin_code
from storage.names import KEY_LENGTH, name_key

NAME_LENGTH = 100  # zones.name and bins.name hold this many
QUESTION_LENGTH = 200
QUESTIONS = 10
AREA_LENGTH = 200
SHORTEST = timedelta(minutes=1)
LONGEST = timedelta(days=365)
REMINDER_DAYS = (1, 365)
LARGEST_ID = 2**31 - 1  # an INTEGER key on PostgreSQL

# Control, format (zero-width, bidirectional overrides), surrogate, private-use characters
# and line/paragraph separators: invisible, or they break a one-line listing.
_FORBIDDEN = {"Cc", "Cf", "Cs", "Co", "Zl", "Zp"}
_SHOWN = 40
_DURATION = re.compile(r"^(\d{1,9})\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_WHOLE = re.compile(r"^[+-]?\d{1,19}$")
_NUMBER = re.compile(r"^\+?[0-9][0-9 ./-]{1,30}$")
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")

CODE_RULE = "2-32 of a-z, 0-9 and '-', starting with a letter or digit"
DURATION_RULE = "a duration from 1 minute to 365 days: a number and m, h, d or w (e.g. 48h)"


def shown(value: object) -> str:
    """A value as an error message quotes it: escaped, and cut short when long."""
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


class InvalidInput(ValueError):
    """Input that breaks a rule: where (`what`), what was expected, what was given."""

    def __init__(self, what: str, expected: str, given: object, why: str = "") -> None:
        self.what, self.expected, self.given, self.why = what, expected, given, why
        reason = f" ({why})" if why else ""
        super().__init__(f"{what}: expected {expected}, got {shown(given)}{reason}")


def _unprintable(text: str) -> str:
    """The first character a name or question may not hold, described; else ''."""
    for position, c in enumerate(text, 1):
        if unicodedata.category(c) in _FORBIDDEN:
            label = unicodedata.name(c, "a control character")
            return f"character {position} is U+{ord(c):04X} {label}"
    return ""


def clean_text(value: str, what: str, longest: int) -> str:
    """One line of text: NFC, spaces collapsed, 1 to `longest` characters, nothing invisible."""
    expected = f"1-{longest} characters on one line, none invisible"
    text = unicodedata.normalize("NFC", value)
    why = _unprintable(text)
    if why:
        raise InvalidInput(what, expected, value, why)
    text = " ".join(text.split())
    if not 1 <= len(text) <= longest:
        raise InvalidInput(what, expected, value, f"{len(text)} characters")
    return text


def clean_name(value: str, what: str) -> str:
    """A zone or BIN name: one line of 1-100 characters with a letter or digit in it."""
    name = clean_text(value, what, NAME_LENGTH)
    if not any(unicodedata.category(c)[0] in "LN" for c in name):
        raise InvalidInput(what, "a name with a letter or digit in it", value)
    if len(name_key(name)) > KEY_LENGTH:
        raise InvalidInput(what, "a name that stays short once normalised (NFKC)", value)
    return name


def bin_code(value: str, what: str = "--code") -> str:
    """A BIN code as typed (any case): 2-32 of a-z, 0-9 and '-'; returned in lowercase."""
    code = value.strip().lower()
    if not valid_bin_code(code):
        raise InvalidInput(what, CODE_RULE, value)
    return code


def phone_number(value: str, what: str) -> str:
    """A phone number as the zone publishes it (digits, spaces, . / -, an optional +)."""
    number = value.strip()
    if not _NUMBER.match(number):
        raise InvalidInput(what, "a phone number such as 101 or 011 27 95 79", value)
    return number


def language(value: str, what: str = "--language") -> str:
    """One of the bot's languages."""
    if value not in LANGUAGES:
        raise InvalidInput(what, f"one of {', '.join(LANGUAGES)}", value)
    return value


def clock_time(value: str, what: str) -> int:
    """`22:00` -> minutes after midnight."""
    m = _HHMM.match(value.strip())
    if not m:
        raise InvalidInput(what, "a time HH:MM such as 22:00", value)
    return int(m.group(1)) * 60 + int(m.group(2))


def quiet_hours(value: str, what: str = "--quiet") -> tuple[int, int]:
    """`22:00-07:00` -> (start, end) in minutes after midnight."""
    start, sep, end = value.partition("-")
    if not sep:
        raise InvalidInput(what, "START-END, e.g. 22:00-07:00", value)
    return clock_time(start, f"{what} start"), clock_time(end, f"{what} end")


def is_duration(value: str) -> bool:
    """Whether a value is written as a duration (`48h`), whatever its size."""
    return bool(_DURATION.match(value.strip().lower()))


def duration(value: str, what: str = "--expires") -> timedelta:
    """`30m`, `48h`, `7d`, `2w`: from 1 minute to 365 days."""
    m = _DURATION.match(value.strip().lower())
    if not m:
        raise InvalidInput(what, DURATION_RULE, value)
    span = timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    if not SHORTEST <= span <= LONGEST:
        raise InvalidInput(what, DURATION_RULE, value)
    return span


def whole_number(value: str | int, what: str, low: int, high: int) -> int:
    """A whole number from `low` to `high`, given as text (a command line) or an int."""
    if isinstance(value, str):
        if not _WHOLE.match(value.strip()):
            raise InvalidInput(what, f"a whole number from {low} to {high}", value)
        value = int(value)
    if isinstance(value, bool) or not low <= value <= high:
        raise InvalidInput(what, f"a whole number from {low} to {high}", value)
    return value


def reminder_days(value: str | int, what: str = "--reminder-days") -> int:
    """Days between the reminders of the police numbers in each group."""
    return whole_number(value, what, *REMINDER_DAYS)


def intake_questions(questions: list[str], what: str = "--intake") -> list[str]:
    """A BIN's intake questions: at most 10, each one line of 1-200 characters."""
    if len(questions) > QUESTIONS:
        raise InvalidInput(what, f"at most {QUESTIONS} questions", questions)
    clean = []
    for number, question in enumerate(questions, 1):
        try:
            clean.append(clean_text(question, what, QUESTION_LENGTH))
        except InvalidInput as exc:
            why = f"question {number}" + (f", {exc.why}" if exc.why else "")
            raise InvalidInput(what, exc.expected, question, why) from None
    return clean


def area(value: str, what: str = "--area") -> str:
    """The streets or postcodes a BIN covers: one line of 1-200 characters."""
    return clean_text(value, what, AREA_LENGTH)


# -- zones and BINs as a whole (the `apply` file, and the `zone add` / `bin add` options) ----


def _rule(check: Callable[[Any, str], Any]) -> AfterValidator:
    """A check above as a pydantic validator (the error names the key, not `what`)."""
    return AfterValidator(lambda value: check(value, ""))


def _quiet_pair(value: object) -> object:
    """`["22:00", "07:00"]` (a file) or `"22:00-07:00"` (an option) -> minutes."""
    if isinstance(value, str):
        return quiet_hours(value, "")
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value):
        return clock_time(value[0], ""), clock_time(value[1], "")
    raise InvalidInput("", 'two times, e.g. ["22:00", "07:00"]', value)


# Aliases made here, not in the classes, where a field's name would hide the check's.
Name = Annotated[str, _rule(clean_name)]
Phone = Annotated[str, _rule(phone_number)]
Code = Annotated[str, _rule(bin_code)]
Area = Annotated[str, _rule(area)]
Questions = Annotated[list[str], _rule(intake_questions)]
Language = Annotated[str, _rule(language)]
Quiet = Annotated[tuple[int, int], BeforeValidator(_quiet_pair)]
Days = Annotated[int, _rule(reminder_days)]


class _Spec(BaseModel):
    """Strict: no text for a number, no number for a text, no key the model does not know."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class BinSpec(_Spec):
    """A BIN as the admin describes it; `intake` None asks the default question, [] none.
    Quiet hours, reminder days and language None follow the zone's."""

    name: Name
    code: Code | None = None
    area: Area | None = None
    intake: Questions | None = None
    quiet_hours: Quiet | None = None
    reminder_days: Days | None = None
    language: Language | None = None


class ZoneSpec(_Spec):
    """A police zone as the admin describes it, with its BINs (in a file)."""

    name: Name
    urgent: Phone = "101"
    emergency: Phone = "112"
    non_urgent: Phone | None = None
    language: Language = "nl"
    quiet_hours: Quiet | None = None
    reminder_days: Days = 7
    bin: list[BinSpec] = Field(default_factory=list)


class ZonesFile(_Spec):
    """The whole `apply` file."""

    zone: list[ZoneSpec] = Field(default_factory=list)


_EXPECTED = {
    "string_type": "text in quotes",
    "int_type": "a whole number",
    "list_type": "a list in [ ]",
    "model_type": "a table",
    "dict_type": "a table",
    "tuple_type": 'two times, e.g. ["22:00", "07:00"]',
}


def problems(
    error: ValidationError, root: type[BaseModel]
) -> list[tuple[tuple[int | str, ...], str]]:
    """Each problem pydantic found in a `root`: where (its loc) and what, in plain words."""
    found = []
    for e in error.errors():
        loc, given = tuple(e["loc"]), e.get("input")
        cause = (e.get("ctx") or {}).get("error")
        if isinstance(cause, InvalidInput):
            why = f" ({cause.why})" if cause.why else ""
            text = f"expected {cause.expected}, got {_given(given)}{why}"
        elif e["type"] == "missing":
            text = "missing, and it is required"
        elif e["type"] == "extra_forbidden":
            text = f"unknown key; the known keys are {', '.join(_keys_at(root, loc))}"
        else:
            expected = _EXPECTED.get(e["type"], e["msg"])
            text = f"expected {expected}, got {_given(given)}"
        found.append((loc, text))
    return found


def _given(value: object) -> str:
    """A value as a TOML file or a command line wrote it, with its kind when that matters."""
    if isinstance(value, bool):
        return f"{str(value).lower()} (true/false)"
    if isinstance(value, int | float):
        return f"{shown(value)} (a number)"
    if isinstance(value, list):
        return f"{shown(value)} (a list)"
    if isinstance(value, dict):
        return "a table"
    return shown(value)


def _keys_at(root: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The keys of the table where `loc` ends (a zone's, a BIN's, the file's)."""
    model = root
    for part in loc[:-1]:
        if part == "zone":
            model = ZoneSpec
        elif part == "bin":
            model = BinSpec
    return list(model.model_fields)
