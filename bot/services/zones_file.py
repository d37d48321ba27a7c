"""`binbot apply FILE`: the zones and BINs a TOML file declares, made to exist (idempotent).

The file is read into a strict model first (bot/services/validation.py: ZonesFile), and every
problem found is reported with its entry, its key, what was given and what is expected. Only
a file without problems is applied, in the caller's unit of work: an error met while applying
(a code taken by a BIN outside the file, say) leaves nothing written.
"""

from __future__ import annotations

import asyncio
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from bot.services import directory
from bot.services.directory import DirectoryError
from bot.services.validation import ZonesFile, ZoneSpec, problems, shown
from storage.names import name_key

if TYPE_CHECKING:
    from storage.uow import UnitOfWork

MOST_PROBLEMS = 20  # reported at once; the rest after these are fixed


class FileError(DirectoryError):
    """A file that cannot be applied; one line per problem."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        super().__init__("\n".join(lines))


@dataclass
class ApplyReport:
    """What `binbot apply` did."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


async def apply_file(uow: UnitOfWork, now: datetime, path: Path) -> ApplyReport:
    """Make the zones and BINs of a TOML file exist as described; all of it or nothing."""
    try:
        raw = await asyncio.to_thread(path.read_text, encoding="utf-8")
        data = tomllib.loads(raw)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise FileError([f"cannot read {path}: {exc}"]) from None
    try:
        declared = ZonesFile.model_validate(data)
    except ValidationError as exc:
        found = [
            f"{path.name}: {_where(data, loc)}: {text}" for loc, text in problems(exc, ZonesFile)
        ]
        more = len(found) - MOST_PROBLEMS
        tail = [f"{path.name}: {more} more problem(s) after these"] if more > 0 else []
        raise FileError(found[:MOST_PROBLEMS] + tail) from None
    _refuse_twins(path, declared)
    report = ApplyReport()
    for number, z in enumerate(declared.zone, 1):
        entry = f"{path.name}: zone #{number} {shown(z.name)}"
        try:
            await _apply_zone(uow, now, z, report, entry)
        except FileError:
            raise
        except DirectoryError as exc:
            raise FileError([f"{entry}: {exc}"]) from None
    return report


async def _apply_zone(
    uow: UnitOfWork, now: datetime, z: ZoneSpec, report: ApplyReport, entry: str
) -> None:
    zone = await uow.directory.zone_by_name(z.name)
    if zone is None:
        zone = await directory.add_zone(uow, now, z)
        report.created.append(f"zone {z.name}")
    elif await directory.update_zone(uow, now, zone, z):
        report.updated.append(f"zone {z.name}")
    else:
        report.unchanged.append(f"zone {z.name}")
    for number, b in enumerate(z.bin, 1):
        try:
            existing = await uow.directory.bin_by_name(zone.id, b.name)
            if existing is None:
                await directory.add_bin(uow, now, zone.name, b)
                report.created.append(f"bin {b.name}")
            elif await directory.update_bin(uow, now, existing, b):
                report.updated.append(f"bin {b.name}")
            else:
                report.unchanged.append(f"bin {b.name}")
        except DirectoryError as exc:
            raise FileError([f"{entry}, BIN #{number} {shown(b.name)}: {exc}"]) from None


def _refuse_twins(path: Path, declared: ZonesFile) -> None:
    """Two zones, or two BINs of a zone, whose names match (case, accents, spacing)."""
    found: list[str] = []
    zones: dict[str, int] = {}
    for number, z in enumerate(declared.zone, 1):
        first = zones.setdefault(name_key(z.name), number)
        if first != number:
            found.append(f"{path.name}: zone #{number} {shown(z.name)}: the name of zone #{first}")
        bins: dict[str, int] = {}
        for bin_number, b in enumerate(z.bin, 1):
            twin = bins.setdefault(name_key(b.name), bin_number)
            if twin != bin_number:
                found.append(
                    f"{path.name}: zone #{number} {shown(z.name)}, BIN #{bin_number} "
                    f"{shown(b.name)}: the name of BIN #{twin}"
                )
    if found:
        raise FileError(found)


def _where(data: dict[str, Any], loc: tuple[int | str, ...]) -> str:
    """`zone #2 'Genk', BIN #1 'Noord', key code` for a pydantic loc in the raw file."""
    parts: list[str] = []
    node: Any = data
    i = 0
    while i < len(loc):
        part = loc[i]
        if part in ("zone", "bin") and i + 1 < len(loc) and isinstance(loc[i + 1], int):
            index = int(loc[i + 1])
            node = node.get(part, [])[index] if isinstance(node, dict) else None
            name = node.get("name") if isinstance(node, dict) else None
            label = "zone" if part == "zone" else "BIN"
            parts.append(
                f"{label} #{index + 1}" + (f" {shown(name)}" if isinstance(name, str) else "")
            )
            i += 2
            continue
        items = "".join(f", item {p + 1}" for p in loc[i + 1 :] if isinstance(p, int))
        parts.append(f"key {part}{items}")
        break
    return ", ".join(parts) or "the file"
