"""What a BIN follows: its own quiet hours, reminder frequency and language where it has them
(set on the desk, `binbot bin add/edit` or `apply`), else its zone's.

Everything that holds a message past the quiet hours, times a reminder or picks a language
for a BIN's groups reads them here, so that an override is honoured everywhere alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.model import LANGUAGES

if TYPE_CHECKING:
    from storage.tables import Bin, Zone


@dataclass(frozen=True)
class Settings:
    """The settings in force for a BIN (or a zone as a whole): local minutes after midnight
    for the quiet hours (start == end: none), days per reminder period, a language."""

    timezone: str
    quiet_start: int
    quiet_end: int
    reminder_days: int
    language: str


def of(zone: Zone, b: Bin | None = None) -> Settings:
    """The settings of `b` (None: the zone's own): each override, else the zone's value."""
    start, end = zone.quiet_start, zone.quiet_end
    days, lang = zone.reminder_days, zone.language
    if b is not None:
        if b.quiet_start is not None and b.quiet_end is not None:
            start, end = b.quiet_start, b.quiet_end
        if b.reminder_days is not None:
            days = b.reminder_days
        if b.language in LANGUAGES:
            lang = str(b.language)
    return Settings(zone.timezone, start, end, days, lang)


def language(zone: Zone, b: Bin | None = None) -> str:
    """The language a BIN's groups read by default: the BIN's, else the zone's."""
    return of(zone, b).language
