"""The admin's shell commands (`binbot zone|bin|invite|revoke|role|audit|apply`).

Each runs in one unit of work, so a refused command writes nothing; what it prints is printed
once it is committed. Shared by the `binbot` command and by `$ ...` lines in `binbot console`.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from bot.model import Role
from bot.ports import Clock
from bot.services import directory, invites, validation, zones_file
from bot.services.validation import BinSpec, ZoneSpec, shown

if TYPE_CHECKING:
    from storage.db import Database
    from storage.uow import UnitOfWork

Out = Callable[[str], None]
Spec = TypeVar("Spec", bound=BaseModel)
log = logging.getLogger(__name__)
AUDIT_LIMIT = 1_000_000
LARGEST_ID = validation.LARGEST_ID


class AdminError(Exception):
    """A refused admin command; the message says what is wrong (a line per problem)."""


def parse_since(text: str, now: datetime) -> datetime:
    """A duration back from now (`24h`, at most 365 days) or an ISO date/time."""
    if validation.is_duration(text):
        return now - validation.duration(text, "--since")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise AdminError(
            f"--since: expected a duration (e.g. 24h) or a date (e.g. 2026-01-31), "
            f"got {shown(text)}"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=now.tzinfo)


def add_admin_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare the admin subcommands on a parser."""
    zone = sub.add_parser("zone", help="police zones").add_subparsers(dest="action", required=True)
    za = zone.add_parser("add", help="add a zone")
    za.add_argument("name")
    za.add_argument("--urgent", help="default 101")
    za.add_argument("--emergency", help="default 112")
    za.add_argument("--non-urgent", dest="non_urgent")
    za.add_argument("--language", help="nl (default), fr, de or en")
    za.add_argument("--quiet", help="quiet hours, e.g. 22:00-07:00")
    za.add_argument("--reminder-days", help="1-365 (default 7)")
    zone.add_parser("list", help="list zones")

    bins = sub.add_parser("bin", help="neighbourhood information networks")
    bsub = bins.add_subparsers(dest="action", required=True)
    ba = bsub.add_parser("add", help="add a BIN")
    ba.add_argument("name")
    ba.add_argument("--zone", required=True)
    ba.add_argument("--code", help="2-32 of a-z, 0-9 and '-' (default: made from the name)")
    ba.add_argument("--area")
    ba.add_argument("--intake", action="append", help="an intake question (repeatable)")
    ba.add_argument("--no-intake", action="store_true", help="ask no intake questions")
    ba.add_argument("--quiet", help="its own quiet hours, e.g. 23:00-06:00 (default: the zone's)")
    ba.add_argument("--reminder-days", help="its own, 1-365 (default: the zone's)")
    ba.add_argument("--language", help="its own: nl, fr, de or en (default: the zone's)")
    bl = bsub.add_parser("list", help="list BINs")
    bl.add_argument("--zone")

    inv = sub.add_parser("invite", help="issue or list role invites")
    inv.add_argument("role", choices=["police", "prevention", "coordinator", "list"])
    inv.add_argument("--zone")
    inv.add_argument("--bin")
    inv.add_argument("--expires", default="7d", help="validity, 1m to 365d (default 7d)")

    rev = sub.add_parser("revoke", help="revoke an invite or a role")
    rev.add_argument("what", choices=["invite", "role"])
    rev.add_argument("id")

    role = sub.add_parser("role", help="roles held").add_subparsers(dest="action", required=True)
    rl = role.add_parser("list", help="list role grants")
    rl.add_argument("--zone")
    rl.add_argument("--bin")

    aud = sub.add_parser("audit", help="read the audit log")
    aud.add_argument("--since")
    aud.add_argument("--json", action="store_true")
    aud.add_argument("--limit", help="only the newest N entries (still printed oldest first)")

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
    """Run one parsed admin command; a refusal becomes `error: ...` lines and exit 1."""
    lines: list[str] = []
    try:
        async with db.unit_of_work() as uow:
            await _COMMANDS[args.command](_Run(args, uow, lines.append, clock.now(), rng))
            await uow.commit()
    except (AdminError, LookupError, ValueError) as exc:
        for line in str(exc).splitlines():
            out(f"error: {line}")
        return 1
    except Exception:  # a defect: say so with a reference, never a traceback on the screen
        reference = secrets.token_hex(4)
        log.exception("admin command %s failed, reference %s", args.command, reference)
        out(f"error: unexpected failure, nothing was changed (reference {reference})")
        return 1
    for line in lines:
        out(line)
    return 0


def _spec(model: type[Spec], options: dict[str, Any]) -> Spec:
    """Options checked by the same model as `apply` files; errors name the option."""
    try:
        return model.model_validate({k: v for k, v in options.items() if v is not None})
    except ValidationError as exc:
        problems = validation.problems(exc, model)
        raise AdminError("\n".join(f"{_option(loc)}: {text}" for loc, text in problems)) from None


def _option(loc: tuple[int | str, ...]) -> str:
    key = str(loc[0]) if loc else "?"
    return {"name": "NAME", "quiet_hours": "--quiet"}.get(key, "--" + key.replace("_", "-"))


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
    days = args.reminder_days
    spec = _spec(
        ZoneSpec,
        {
            "name": args.name,
            "urgent": args.urgent,
            "emergency": args.emergency,
            "non_urgent": args.non_urgent,
            "language": args.language,
            "quiet_hours": args.quiet,
            "reminder_days": validation.reminder_days(days) if days is not None else None,
        },
    )
    z = await directory.add_zone(run.uow, run.now, spec)
    run.out(f"zone {z.name} added (urgent {z.urgent_number}, language {z.language})")


async def _bin(run: _Run) -> None:
    """`bin add NAME --zone Z …` and `bin list [--zone Z]`."""
    args, uow = run.args, run.uow
    if args.action == "add":
        if args.no_intake and args.intake is not None:
            raise AdminError("--intake and --no-intake contradict each other: give one")
        days = args.reminder_days
        options = {
            "name": args.name,
            "code": args.code,
            "area": args.area,
            "quiet_hours": args.quiet,
            "reminder_days": validation.reminder_days(days) if days is not None else None,
            "language": args.language,
        }
        spec = _spec(BinSpec, {**options, "intake": [] if args.no_intake else args.intake})
        b = await directory.add_bin(uow, run.now, args.zone, spec)
        zone = await uow.directory.zone(b.zone_id)
        run.out(f"BIN {b.name} added to zone {zone.name if zone else '?'} with code {b.code}")
        return
    zone_id = await _zone_id(uow, args.zone) if args.zone else None
    zones = {z.id: z.name for z in await uow.directory.zones()}
    for b in await uow.directory.bins(zone_id):
        archived = "\tarchived" if b.archived_at is not None else ""
        run.out(
            f"{b.code}\t{b.name}\tzone {zones.get(b.zone_id, '?')}\t{b.area or ''}".rstrip()
            + archived
        )


async def _revoke(run: _Run) -> None:
    """`revoke invite N` and `revoke role N`."""
    number = validation.whole_number(run.args.id, f"{run.args.what} id", 1, LARGEST_ID)
    if run.args.what == "invite":
        await invites.revoke_invite(run.uow, number, run.now)
        run.out(f"invite {number} revoked")
    else:
        done = await invites.revoke_grant(run.uow, number, run.now)
        g = done.grant
        ended = f"; desk sessions ended: {done.sessions_ended}" if done.sessions_ended else ""
        run.out(f"role {g.role} (grant {g.id}) revoked{ended}")


async def _audit(run: _Run) -> None:
    """`audit [--since WHEN] [--limit N] [--json]`."""
    args = run.args
    since = parse_since(args.since, run.now) if args.since else None
    limit = None
    if args.limit is not None:
        limit = validation.whole_number(args.limit, "--limit", 1, AUDIT_LIMIT)
    for e in await run.uow.audit.entries(since, limit):
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
    report = await zones_file.apply_file(run.uow, run.now, run.args.file)
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
        raise AdminError(f"unknown zone {shown(name)} (see `binbot zone list`)")
    return zone.id


async def _bin_id(uow: UnitOfWork, word: str) -> int:
    b = await uow.directory.find_bin(word)
    if b is None:
        raise AdminError(f"unknown BIN {shown(word)} (see `binbot bin list`)")
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
    valid_for = validation.duration(args.expires, "--expires")
    if role == Role.COORDINATOR:
        if not args.bin or args.zone:
            raise AdminError("a coordinator invite takes --bin BIN (and no --zone)")
        zone_id, bin_id = None, await _bin_id(uow, args.bin)
    else:
        if not args.zone or args.bin:
            raise AdminError(f"a {role.value} invite takes --zone ZONE (and no --bin)")
        zone_id, bin_id = await _zone_id(uow, args.zone), None
    try:
        issued = await invites.issue(
            uow, run.rng, now, role, zone_id=zone_id, bin_id=bin_id, valid_for=valid_for
        )
    except invites.BinArchived as archived:
        raise AdminError(
            f"BIN {archived} is archived: make it active again before inviting a coordinator"
        ) from None
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
