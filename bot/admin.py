"""The admin's shell commands (`binbot zone|bin|invite|revoke|role|audit|apply`).

Each runs in one unit of work, so a refused command writes nothing; what it prints is printed
once it is committed. Shared by the `binbot` command and by `$ ...` lines in `binbot console`.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from bot.model import Role
from bot.ports import Clock
from bot.services import directory, invites

if TYPE_CHECKING:
    from storage.db import Database
    from storage.uow import UnitOfWork

Out = Callable[[str], None]
_DURATION = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class AdminError(Exception):
    """A refused admin command; the message says what is wrong."""


def parse_duration(text: str) -> timedelta:
    """`30m`, `48h`, `7d`, `2w`."""
    m = _DURATION.match(text.strip().lower())
    if not m or int(m.group(1)) == 0:
        raise AdminError(f"bad duration {text!r}: use a number and m, h, d or w (e.g. 48h)")
    return timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})


def parse_since(text: str, now: datetime) -> datetime:
    """A duration back from now (`24h`) or an ISO date/time."""
    try:
        return now - parse_duration(text)
    except AdminError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise AdminError(f"bad --since {text!r}: use e.g. 24h or 2026-01-31") from None
    return when if when.tzinfo else when.replace(tzinfo=now.tzinfo)


def add_admin_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare the admin subcommands on a parser."""
    zone = sub.add_parser("zone", help="police zones").add_subparsers(dest="action", required=True)
    za = zone.add_parser("add", help="add a zone")
    za.add_argument("name")
    za.add_argument("--urgent", default="101")
    za.add_argument("--emergency", default="112")
    za.add_argument("--non-urgent", dest="non_urgent")
    za.add_argument("--language", default="nl", choices=["nl", "fr", "de", "en"])
    za.add_argument("--quiet", help="quiet hours, e.g. 22:00-07:00")
    za.add_argument("--reminder-days", type=int, default=7)
    zone.add_parser("list", help="list zones")

    bins = sub.add_parser("bin", help="neighbourhood information networks")
    bsub = bins.add_subparsers(dest="action", required=True)
    ba = bsub.add_parser("add", help="add a BIN")
    ba.add_argument("name")
    ba.add_argument("--zone", required=True)
    ba.add_argument("--code")
    ba.add_argument("--area")
    ba.add_argument("--intake", action="append", help="an intake question (repeatable)")
    ba.add_argument("--no-intake", action="store_true", help="ask no intake questions")
    bl = bsub.add_parser("list", help="list BINs")
    bl.add_argument("--zone")

    inv = sub.add_parser("invite", help="issue or list role invites")
    inv.add_argument("role", choices=["police", "prevention", "coordinator", "list"])
    inv.add_argument("--zone")
    inv.add_argument("--bin")
    inv.add_argument("--expires", default="7d", help="validity, e.g. 48h (default 7d)")

    rev = sub.add_parser("revoke", help="revoke an invite or a role")
    rev.add_argument("what", choices=["invite", "role"])
    rev.add_argument("id", type=int)

    role = sub.add_parser("role", help="roles held").add_subparsers(dest="action", required=True)
    rl = role.add_parser("list", help="list role grants")
    rl.add_argument("--zone")
    rl.add_argument("--bin")

    aud = sub.add_parser("audit", help="read the audit log")
    aud.add_argument("--since")
    aud.add_argument("--json", action="store_true")
    aud.add_argument("--limit", type=int)

    app = sub.add_parser("apply", help="create/update zones and BINs from a TOML file")
    app.add_argument("file", type=Path)


ADMIN_COMMANDS = {"zone", "bin", "invite", "revoke", "role", "audit", "apply"}


@dataclass(frozen=True)
class _Run:
    """One admin command being run: its arguments, its unit of work, where its lines go."""

    args: argparse.Namespace
    uow: UnitOfWork
    out: Out
    now: datetime
    rng: random.Random


async def run_admin(
    args: argparse.Namespace, db: Database, out: Out, clock: Clock, rng: random.Random
) -> int:
    """Run one parsed admin command; AdminError/DirectoryError become a message and exit 1."""
    lines: list[str] = []
    try:
        async with db.unit_of_work() as uow:
            await _COMMANDS[args.command](_Run(args, uow, lines.append, clock.now(), rng))
            await uow.commit()
    except (AdminError, directory.DirectoryError, LookupError, ValueError) as exc:
        out(f"error: {exc}")
        return 1
    for line in lines:
        out(line)
    return 0


async def _zone(run: _Run) -> None:
    """`zone add NAME …` and `zone list`."""
    args = run.args
    if args.action == "list":
        for z in await run.uow.directory.zones():
            non_urgent = z.non_urgent_number or "-"
            run.out(
                f"{z.name}\turgent {z.urgent_number}\tnon-urgent {non_urgent}\t"
                f"language {z.language}\tquiet {_hhmm(z.quiet_start)}-{_hhmm(z.quiet_end)}"
            )
        return
    quiet = None
    if args.quiet:
        start, sep, end = args.quiet.partition("-")
        if not sep:
            raise AdminError("--quiet takes START-END, e.g. 22:00-07:00")
        quiet = (start, end)
    z = await directory.add_zone(
        run.uow,
        run.now,
        args.name,
        urgent=args.urgent,
        emergency=args.emergency,
        non_urgent=args.non_urgent,
        language=args.language,
        quiet=quiet,
        reminder_days=args.reminder_days,
    )
    run.out(f"zone {z.name} added (urgent {z.urgent_number}, language {z.language})")


async def _bin(run: _Run) -> None:
    """`bin add NAME --zone Z …` and `bin list [--zone Z]`."""
    args, uow = run.args, run.uow
    if args.action == "add":
        intake = [] if args.no_intake else args.intake
        b = await directory.add_bin(
            uow, run.now, args.name, args.zone, code=args.code, area=args.area, intake=intake
        )
        run.out(f"BIN {b.name} added to zone {args.zone} with code {b.code}")
        return
    zone_id = await _zone_id(uow, args.zone) if args.zone else None
    zones = {z.id: z.name for z in await uow.directory.zones()}
    for b in await uow.directory.bins(zone_id):
        run.out(f"{b.code}\t{b.name}\tzone {zones.get(b.zone_id, '?')}\t{b.area or ''}".rstrip())


async def _revoke(run: _Run) -> None:
    """`revoke invite N` and `revoke role N`."""
    if run.args.what == "invite":
        await invites.revoke_invite(run.uow, run.args.id, run.now)
        run.out(f"invite {run.args.id} revoked")
    else:
        g = await invites.revoke_grant(run.uow, run.args.id, run.now)
        run.out(f"role {g.role} (grant {g.id}) revoked")


async def _audit(run: _Run) -> None:
    """`audit [--since WHEN] [--limit N] [--json]`."""
    args = run.args
    since = parse_since(args.since, run.now) if args.since else None
    for e in await run.uow.audit.entries(since, args.limit):
        row = {
            "id": e.id,
            "at": e.at.isoformat(timespec="seconds"),
            "actor": e.actor,
            "action": e.action,
            "outcome": e.outcome,
            "zone": e.zone_id,
            "bin": e.bin_id,
            **(e.detail or {}),
        }
        if args.json:
            run.out(json.dumps(row, ensure_ascii=False, sort_keys=True))
            continue
        extra = " ".join(f"{k}={v}" for k, v in (e.detail or {}).items())
        scope = (f" zone={e.zone_id}" if e.zone_id else "") + (
            f" bin={e.bin_id}" if e.bin_id else ""
        )
        run.out(f"{row['at']} {e.actor} {e.action} {e.outcome}{scope} {extra}".rstrip())


async def _apply(run: _Run) -> None:
    """`apply FILE`: zones and BINs as a TOML file describes them."""
    report = await directory.apply_file(run.uow, run.now, run.args.file)
    for what in report.created:
        run.out(f"created {what}")
    for what in report.updated:
        run.out(f"updated {what}")
    run.out(
        f"{len(report.created)} created, {len(report.updated)} updated, "
        f"{len(report.unchanged)} unchanged"
    )


async def _zone_id(uow: UnitOfWork, name: str) -> int:
    zone = await uow.directory.zone_by_name(name)
    if zone is None:
        raise AdminError(f"unknown zone {name!r} (see `binbot zone list`)")
    return zone.id


async def _bin_id(uow: UnitOfWork, word: str) -> int:
    b = await uow.directory.find_bin(word)
    if b is None:
        raise AdminError(f"unknown BIN {word!r} (see `binbot bin list`)")
    return b.id


async def _invite(run: _Run) -> None:
    """`invite ROLE --zone Z|--bin B [--expires 7d]` and `invite list`."""
    args, uow, now = run.args, run.uow, run.now
    if args.role == "list":
        for i in await uow.invites.invites():
            state = (
                "revoked"
                if i.revoked_at
                else "used"
                if i.used_at
                else "voided"
                if i.voided_at
                else "expired"
                if i.expires_at <= now
                else "open"
            )
            expires = i.expires_at.isoformat(timespec="minutes")
            why = ""
            if state == "voided" and i.voided_at is not None:
                reason = _VOID_REASONS.get(i.void_reason or "", i.void_reason or "?")
                why = f"\tvoided {i.voided_at.isoformat(timespec='minutes')}: {reason}"
            run.out(f"{i.id}\t{i.role}\t{state}\texpires {expires}{why}")
        return
    role = Role(args.role)
    valid_for = parse_duration(args.expires)
    if role == Role.COORDINATOR:
        if not args.bin or args.zone:
            raise AdminError("a coordinator invite takes --bin BIN (and no --zone)")
        zone_id, bin_id = None, await _bin_id(uow, args.bin)
    else:
        if not args.zone or args.bin:
            raise AdminError(f"a {role.value} invite takes --zone ZONE (and no --bin)")
        zone_id, bin_id = await _zone_id(uow, args.zone), None
    issued = await invites.issue(
        uow, run.rng, now, role, zone_id=zone_id, bin_id=bin_id, valid_for=valid_for
    )
    expires = issued.invite.expires_at.isoformat(timespec="minutes")
    run.out(f"invite {issued.invite.id} for {role.value}, single use, expires {expires}")
    run.out("redeem in a private chat with the bot: /redeem CODE (Matrix: !redeem CODE)")
    run.out(issued.code)


_VOID_REASONS = {invites.VOID_POSTED_IN_GROUP: "the code was posted in a group chat"}


async def _roles(run: _Run) -> None:
    """`role list [--zone Z] [--bin B]`."""
    args, uow = run.args, run.uow
    zone_id = await _zone_id(uow, args.zone) if args.zone else None
    bin_id = await _bin_id(uow, args.bin) if args.bin else None
    for g in await uow.people.grants(zone_id=zone_id, bin_id=bin_id):
        names = [i.display_name or i.user_id for i in await uow.people.identities_of(g.person_id)]
        scope = f"zone {g.zone_id}" if g.zone_id else f"bin {g.bin_id}"
        run.out(f"{g.id}\t{g.role}\t{scope}\t{', '.join(names)}")


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


_COMMANDS: dict[str, Callable[[_Run], Awaitable[None]]] = {
    "zone": _zone,
    "bin": _bin,
    "invite": _invite,
    "revoke": _revoke,
    "role": _roles,
    "audit": _audit,
    "apply": _apply,
}
