"""Zones and BINs: created by the admin, with commands or from a declarative TOML file.

The values arrive checked (bot/services/validation.py: ZoneSpec, BinSpec); what is checked
here needs the database: names and codes already taken, the zone a BIN goes into.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Container
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.services.validation import BinSpec, ZoneSpec, shown

if TYPE_CHECKING:
    from storage.tables import Bin, Zone
    from storage.uow import UnitOfWork


class DirectoryError(ValueError):
    """Bad admin input; the message says what to fix."""


def slug(name: str) -> str:
    """A BIN code derived from its name: `Koersel Noord` -> `koersel-noord`, `T` -> `t-bin`."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    code = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:32].strip("-")
    return code if len(code) >= 2 else f"{code}-bin".lstrip("-")


async def add_zone(uow: UnitOfWork, now: datetime, spec: ZoneSpec) -> Zone:
    """Create a zone; a name already taken (in any case, accents or spacing) is refused."""
    taken = await uow.directory.zone_by_name(spec.name)
    if taken is not None:
        raise DirectoryError(f"zone {shown(spec.name)} exists already (as {shown(taken.name)})")
    zone = await uow.directory.add_zone(
        now,
        spec.name,
        urgent_number=spec.urgent,
        emergency_number=spec.emergency,
        non_urgent_number=spec.non_urgent,
        language=spec.language,
        reminder_days=spec.reminder_days,
        quiet=spec.quiet_hours,
    )
    await uow.audit.record(now, "admin", "zone.add", zone_id=zone.id)
    return zone


class Taken(DirectoryError):
    """A BIN's code, or its name in the zone, belongs to another BIN, or a code was to change
    (codes stay: posters and join links carry them); `what` is "code", "name" or "fixed"."""

    def __init__(self, what: str, message: str) -> None:
        self.what = what
        super().__init__(message)


async def check_free(
    uow: UnitOfWork, zone: Zone, name: str, code: str, bin_id: int | None = None
) -> None:
    """Refuse a name taken by another BIN of the zone (matched by its key: case, accents,
    spacing), or a code taken by any BIN; `bin_id` is the BIN being edited."""
    twin = await uow.directory.bin_by_name(zone.id, name)
    if twin is not None and twin.id != bin_id:
        raise Taken("name", f"zone {shown(zone.name)} has a BIN named {shown(twin.name)} already")
    other = await uow.directory.bin_by_code(code)
    if other is not None and other.id != bin_id:
        raise Taken("code", f"BIN code {shown(code)} is taken; choose another with --code")


async def add_bin(
    uow: UnitOfWork, now: datetime, zone_name: str, spec: BinSpec, actor: str = "admin"
) -> Bin:
    """Create a BIN in a zone; unknown zone, a name taken in the zone or a taken code are
    refused."""
    zone = await uow.directory.zone_by_name(zone_name)
    if zone is None:
        raise DirectoryError(f"unknown zone {shown(zone_name)} (see `binbot zone list`)")
    code = spec.code if spec.code is not None else slug(spec.name)
    await check_free(uow, zone, spec.name, code)
    b = await uow.directory.add_bin(
        now, zone.id, spec.name, code, area=spec.area, intake=spec.intake, own=_own(spec)
    )
    await uow.audit.record(now, actor, "bin.add", zone_id=zone.id, bin_id=b.id)
    return b


async def edit_bin(uow: UnitOfWork, now: datetime, b: Bin, spec: BinSpec, actor: str) -> bool:
    """Set a BIN's name, area, intake and own settings (the desk's form gives them all; a
    setting None follows the zone); its code stays, as for `update_bin`, and the name must
    stay free in the zone. Whether anything changed."""
    if spec.code is not None and spec.code != b.code:
        raise Taken("fixed", f"its code is {shown(b.code)}, and codes stay what they are")
    zone = await uow.directory.zone(b.zone_id)
    assert zone is not None
    await check_free(uow, zone, spec.name, b.code, b.id)
    wanted = {"name": spec.name, "area": spec.area, "intake": spec.intake, **_own(spec, OWN)}
    changed = _update(b, wanted)
    if changed:
        await uow.audit.record(now, actor, "bin.update", zone_id=b.zone_id, bin_id=b.id)
    return changed


async def set_archived(uow: UnitOfWork, now: datetime, b: Bin, archived: bool, actor: str) -> bool:
    """Archive a BIN (it keeps its history, groups and members, and takes nothing new) or
    make it active again; whether anything changed."""
    if (b.archived_at is not None) == archived:
        return False
    b.archived_at = now if archived else None
    action = "bin.archive" if archived else "bin.unarchive"
    await uow.audit.record(now, actor, action, zone_id=b.zone_id, bin_id=b.id)
    return True


async def update_zone(
    uow: UnitOfWork, now: datetime, zone: Zone, spec: ZoneSpec, actor: str = "admin"
) -> bool:
    """Set what a zone's entry gives (keys left out keep their value); whether it changed."""
    given = spec.model_fields_set
    wanted: dict[str, Any] = {}
    for key, attr in _ZONE_COLUMNS.items():
        if key in given:
            wanted[attr] = getattr(spec, key)
    if "quiet_hours" in given and spec.quiet_hours is not None:
        wanted["quiet_start"], wanted["quiet_end"] = spec.quiet_hours
    changed = _update(zone, wanted)
    if changed:
        await uow.audit.record(now, actor, "zone.update", zone_id=zone.id)
    return changed


async def update_bin(uow: UnitOfWork, now: datetime, b: Bin, spec: BinSpec) -> bool:
    """Set a BIN's area, intake and own settings as its entry gives them (keys left out keep
    their value); a different code is refused."""
    if spec.code is not None and spec.code != b.code:
        raise DirectoryError(f"its code is {shown(b.code)}, and codes stay what they are")
    given = spec.model_fields_set
    wanted: dict[str, Any] = {k: getattr(spec, k) for k in ("area", "intake") if k in given}
    changed = _update(b, {**wanted, **_own(spec, given)})
    if changed:
        await uow.audit.record(now, "admin", "bin.update", zone_id=b.zone_id, bin_id=b.id)
    return changed


# A BIN's own settings: each None follows the zone.
OWN = ("quiet_hours", "reminder_days", "language")


def _own(spec: BinSpec, keys: Container[str] = ()) -> dict[str, Any]:
    """The columns of a BIN's own settings that `spec` gives, and those among `keys` it
    leaves None (which then follow the zone again)."""
    found: dict[str, Any] = {}
    if spec.quiet_hours is not None or "quiet_hours" in keys:
        found["quiet_start"], found["quiet_end"] = spec.quiet_hours or (None, None)
    for key in ("reminder_days", "language"):
        if getattr(spec, key) is not None or key in keys:
            found[key] = getattr(spec, key)
    return found


# A zone entry's keys and the columns they set.
_ZONE_COLUMNS = {
    "urgent": "urgent_number",
    "emergency": "emergency_number",
    "non_urgent": "non_urgent_number",
    "language": "language",
    "reminder_days": "reminder_days",
}


def _update(row: Zone | Bin, wanted: dict[str, Any]) -> bool:
    """Set what differs on a row read in the unit of work; whether anything did."""
    changed = False
    for attr, value in wanted.items():
        if getattr(row, attr) != value:
            setattr(row, attr, value)
            changed = True
    return changed
