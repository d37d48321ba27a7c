"""Zones and BINs: created by the admin, with commands or from a declarative TOML file."""

from __future__ import annotations

import asyncio
import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.model import LANGUAGES, valid_bin_code

if TYPE_CHECKING:
    from storage.tables import Bin, Zone
    from storage.uow import UnitOfWork

_NUMBER = re.compile(r"^\+?[0-9][0-9 ./-]{1,30}$")
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class DirectoryError(ValueError):
    """Bad admin input; the message says what to fix."""


def slug(name: str) -> str:
    """A BIN code derived from its name: `Koersel Noord` -> `koersel-noord`."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:32] or "bin"


def check_number(value: str, what: str) -> str:
    """A phone number as given, or DirectoryError saying what is wrong with it."""
    value = value.strip()
    if not _NUMBER.match(value):
        raise DirectoryError(f"{what} must be a phone number, got {value!r}")
    return value


def parse_hhmm(value: str, what: str) -> int:
    """`22:00` -> minutes after midnight."""
    m = _HHMM.match(value.strip())
    if not m:
        raise DirectoryError(f"{what} must be HH:MM, got {value!r}")
    return int(m.group(1)) * 60 + int(m.group(2))


def check_language(value: str) -> str:
    """One of the bot's languages, or DirectoryError."""
    if value not in LANGUAGES:
        raise DirectoryError(f"language must be one of {', '.join(LANGUAGES)}, got {value!r}")
    return value


async def add_zone(
    uow: UnitOfWork,
    now: datetime,
    name: str,
    *,
    urgent: str = "101",
    emergency: str = "112",
    non_urgent: str | None = None,
    language: str = "nl",
    quiet: tuple[str, str] | None = None,
    reminder_days: int = 7,
) -> Zone:
    """Create a zone; a duplicate name or a malformed number is refused."""
    name = name.strip()
    if not name:
        raise DirectoryError("a zone needs a name")
    if await uow.directory.zone_by_name(name):
        raise DirectoryError(f"zone {name!r} exists already")
    if reminder_days < 1:
        raise DirectoryError("reminder days must be at least 1")
    zone = await uow.directory.add_zone(
        now,
        name,
        urgent_number=check_number(urgent, "the urgent number"),
        emergency_number=check_number(emergency, "the emergency number"),
        non_urgent_number=check_number(non_urgent, "the non-urgent number")
        if non_urgent
        else None,
        language=check_language(language),
        reminder_days=reminder_days,
        quiet=(
            parse_hhmm(quiet[0], "quiet hours start"),
            parse_hhmm(quiet[1], "quiet hours end"),
        )
        if quiet
        else None,
    )
    await uow.audit.record(now, "admin", "zone.add", zone_id=zone.id)
    return zone


async def add_bin(
    uow: UnitOfWork,
    now: datetime,
    name: str,
    zone_name: str,
    *,
    code: str | None = None,
    area: str | None = None,
    intake: list[str] | None = None,
) -> Bin:
    """Create a BIN in a zone; unknown zone, duplicate name or code are refused."""
    name = name.strip()
    if not name:
        raise DirectoryError("a BIN needs a name")
    zone = await uow.directory.zone_by_name(zone_name)
    if zone is None:
        raise DirectoryError(f"unknown zone {zone_name!r} (see `binbot zone list`)")
    code = (code or slug(name)).strip().lower()
    if not valid_bin_code(code):
        raise DirectoryError(f"a BIN code is 2-32 of a-z, 0-9 and '-', got {code!r}")
    if await uow.directory.bin_by_code(code):
        raise DirectoryError(f"BIN code {code!r} is taken; choose another with --code")
    if any(b.name.lower() == name.lower() for b in await uow.directory.bins(zone.id)):
        raise DirectoryError(f"zone {zone.name!r} has a BIN named {name!r} already")
    b = await uow.directory.add_bin(now, zone.id, name, code, area=area, intake=intake)
    await uow.audit.record(now, "admin", "bin.add", zone_id=zone.id, bin_id=b.id)
    return b


@dataclass
class ApplyReport:
    """What `binbot apply` did."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


async def apply_file(uow: UnitOfWork, now: datetime, path: Path) -> ApplyReport:
    """Make the zones and BINs of a TOML file exist as described (idempotent).

    Everything happens in the caller's unit of work: an error anywhere leaves nothing written
    once the caller does not commit.
    """
    try:
        raw = await asyncio.to_thread(path.read_text, encoding="utf-8")
        data = tomllib.loads(raw)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DirectoryError(f"cannot read {path}: {exc}") from None
    unknown = set(data) - {"zone"}
    if unknown:
        raise DirectoryError(f"{path}: unknown section(s): {', '.join(sorted(unknown))}")
    report = ApplyReport()
    for z in _list(data.get("zone", []), "zone"):
        await _apply_zone(uow, now, z, report)
    return report


def _list(value: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise DirectoryError(f"[[{what}]] must be an array of tables")
    return value


_ZONE_KEYS = {
    "name",
    "urgent",
    "emergency",
    "non_urgent",
    "language",
    "quiet_hours",
    "reminder_days",
    "bin",
}
_BIN_KEYS = {"name", "code", "area", "intake"}


async def _apply_zone(
    uow: UnitOfWork, now: datetime, z: dict[str, Any], report: ApplyReport
) -> None:
    extra = set(z) - _ZONE_KEYS
    if extra or "name" not in z:
        raise DirectoryError(f"zone entry: needs name; unknown keys: {sorted(extra)}")
    name = str(z["name"])
    quiet = z.get("quiet_hours")
    if quiet is not None and (not isinstance(quiet, list) or len(quiet) != 2):
        raise DirectoryError(f'zone {name!r}: quiet_hours = ["22:00", "07:00"]')
    zone = await uow.directory.zone_by_name(name)
    if zone is None:
        zone = await add_zone(
            uow,
            now,
            name,
            urgent=str(z.get("urgent", "101")),
            emergency=str(z.get("emergency", "112")),
            non_urgent=z.get("non_urgent"),
            language=str(z.get("language", "nl")),
            quiet=(str(quiet[0]), str(quiet[1])) if quiet else None,
            reminder_days=int(z.get("reminder_days", 7)),
        )
        report.created.append(f"zone {name}")
    else:
        changed = _update(zone, _zone_wanted(zone, z, quiet))
        if changed:
            await uow.audit.record(now, "admin", "zone.update", zone_id=zone.id)
        (report.updated if changed else report.unchanged).append(f"zone {name}")
    for b in _list(z.get("bin", []), "zone.bin"):
        await _apply_bin(uow, now, zone, b, report)


def _zone_wanted(zone: Zone, z: dict[str, Any], quiet: list[Any] | None) -> dict[str, Any]:
    """The values an existing zone's entry asks for (checked)."""
    wanted: dict[str, Any] = {
        "urgent_number": check_number(str(z.get("urgent", zone.urgent_number)), "urgent"),
        "emergency_number": check_number(
            str(z.get("emergency", zone.emergency_number)), "emergency"
        ),
        "language": check_language(str(z.get("language", zone.language))),
        "reminder_days": int(z.get("reminder_days", zone.reminder_days)),
    }
    if "non_urgent" in z:
        wanted["non_urgent_number"] = check_number(str(z["non_urgent"]), "non_urgent")
    if quiet:
        wanted["quiet_start"] = parse_hhmm(str(quiet[0]), "quiet hours start")
        wanted["quiet_end"] = parse_hhmm(str(quiet[1]), "quiet hours end")
    return wanted


def _update(row: Zone | Bin, wanted: dict[str, Any]) -> bool:
    """Set what differs on a row read in the unit of work; whether anything did."""
    changed = False
    for attr, value in wanted.items():
        if getattr(row, attr) != value:
            setattr(row, attr, value)
            changed = True
    return changed


async def _apply_bin(
    uow: UnitOfWork, now: datetime, zone: Zone, b: dict[str, Any], report: ApplyReport
) -> None:
    extra = set(b) - _BIN_KEYS
    if extra or "name" not in b:
        raise DirectoryError(
            f"bin entry in zone {zone.name!r}: needs name; unknown: {sorted(extra)}"
        )
    name = str(b["name"])
    intake = b.get("intake")
    if intake is not None and not (
        isinstance(intake, list) and all(isinstance(q, str) for q in intake)
    ):
        raise DirectoryError(f"bin {b['name']!r}: intake is a list of questions")
    existing = next(
        (x for x in await uow.directory.bins(zone.id) if x.name.lower() == name.lower()), None
    )
    if existing is None:
        await add_bin(
            uow, now, name, zone.name, code=b.get("code"), area=b.get("area"), intake=intake
        )
        report.created.append(f"bin {b['name']}")
        return
    changed = _update(existing, {attr: b[attr] for attr in ("area", "intake") if attr in b})
    if "code" in b and b["code"] != existing.code:
        raise DirectoryError(f"bin {b['name']!r}: its code is {existing.code!r}; codes stay")
    if changed:
        await uow.audit.record(now, "admin", "bin.update", zone_id=zone.id, bin_id=existing.id)
    (report.updated if changed else report.unchanged).append(f"bin {b['name']}")
