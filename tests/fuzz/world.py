"""The world the stateful fuzz test starts from, and the oracle of who may do what.

The world is built once through the real flows (admin commands, /redeem, /link, /alert) and
copied for every example. The oracle is written from the roles table of the product
(PRODUCT.md), not from the code under test: it knows people by name and scopes by the names
the world gave them.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from bot.delivery import DeliveryWorker, attach
from config.settings import DeliverySettings
from storage.tables import (
    Alert,
    AuditEntry,
    Bin,
    FollowUp,
    Group,
    Identity,
    Invite,
    JoinRequest,
    Membership,
    Person,
    RoleGrant,
    Zone,
)
from tests.fakes import Harness, RecordingPlatform

ZONES = ("Beringen", "Hasselt")
BINS = {"noord": "Beringen", "zuid": "Beringen", "west": "Hasselt"}
GROUPS = {"noord-g": "noord", "west-g": "west"}
FREE_GROUP = "plein"  # the bot is in it, nobody linked it
# name -> (role, scope name): the roles each person holds when the world starts. Names are
# distinctive, so that finding one in the log means a name was logged.
ROLES: dict[str, tuple[tuple[str, str], ...]] = {
    "anqzx": (("coordinator", "noord"),),
    "bertqzx": (("coordinator", "west"),),
    "sofieqzx": (("police", "Beringen"),),
    "pietqzx": (("police", "Hasselt"),),
    "evaqzx": (("prevention", "Beringen"),),
    "ottoqzx": (("prevention", "Hasselt"),),
    "liesqzx": (),
    "tomqzx": (),
    "rudiqzx": (),
    "rexqzx": (),  # was police of Beringen; the admin revoked it
}
MEMBERS = {"liesqzx": "noord", "tomqzx": "west"}
PEOPLE = tuple(ROLES)


@dataclass
class Code:
    """An invite code as the admin issued it, and what the oracle knows of it."""

    code: str
    role: str
    scope: str  # a zone or BIN name
    invite_id: int
    state: str = "valid"  # valid, used, revoked, exposed


@dataclass
class Template:
    """The built world: a database file to copy, and what was issued in it."""

    path: Path
    codes: list[Code] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)


_TEMPLATE: Template | None = None


def template() -> Template:
    """The world, built once per process."""
    global _TEMPLATE
    if _TEMPLATE is None:
        folder = Path(tempfile.mkdtemp(prefix="binbot-fuzz-"))
        _TEMPLATE = asyncio.run(_build(folder))
    return _TEMPLATE


async def _invite(h: Harness, role: str, scope: str) -> Code:
    option = "--bin" if role == "coordinator" else "--zone"
    await h.admin(f"invite {role} {option} {scope}")
    async with h.db.session() as session:
        invite_id = (await session.execute(select(Invite.id).order_by(Invite.id.desc()))).scalar()
    assert invite_id is not None
    return Code(h.code, role, scope, invite_id)


async def _build(folder: Path) -> Template:
    path = folder / "world.db"
    h = await Harness.create(folder, url=f"sqlite+aiosqlite:///{path}")
    attach(h.core, DeliveryWorker(h.core, DeliverySettings()))
    world = Template(path)
    try:
        for zone in ZONES:
            await h.admin(f"zone add {zone} --language en --non-urgent '011 27 95 79'")
        for code, zone in BINS.items():
            await h.admin(f"bin add {code.capitalize()} --zone {zone} --code {code}")
        for name in (*PEOPLE[:6], "rexqzx"):
            role, scope = ROLES[name][0] if ROLES[name] else ("police", "Beringen")
            code = await _invite(h, role, scope)
            await h.say(name, "/redeem " + code.code)
            code.state = "used"
            world.codes.append(code)
        async with h.db.session() as session:
            grant = (await session.execute(select(RoleGrant).order_by(RoleGrant.id))).scalars()
            rex_grant = list(grant)[-1].id
        await h.admin(f"revoke role {rex_grant}")
        for chat, bin_code in GROUPS.items():
            coordinator = next(n for n, r in ROLES.items() if ("coordinator", bin_code) in r)
            await h.add_bot(chat, coordinator)
            await h.say(coordinator, f"/link {bin_code}", chat=chat)
        await h.add_bot(FREE_GROUP, "rudiqzx")
        for name, bin_code in MEMBERS.items():
            await h.say(name, "/help")
            async with h.core.uow() as uow:
                ident = await uow.people.identity(h.platform.platform.value, name)
                b = await uow.directory.bin_by_code(bin_code)
                assert ident is not None and b is not None
                await uow.groups.admit(b.id, ident.person_id, h.clock.now())
                await uow.commit()
        await h.say("rudiqzx", "/help")
        revoked = await _invite(h, "coordinator", "zuid")
        await h.admin(f"revoke invite {revoked.invite_id}")
        revoked.state = "revoked"
        exposed = await _invite(h, "coordinator", "zuid")
        await h.say("rudiqzx", "/redeem " + exposed.code, chat="noord-g")
        exposed.state = "exposed"
        world.codes += [revoked, exposed]
        for role, scope in (("prevention", "Hasselt"), ("police", "Beringen")):
            world.codes.append(await _invite(h, role, scope))
        await h.say("sofieqzx", "/alert")
        await h.press("sofieqzx", "Noord")
        await h.press("sofieqzx", "Done")
        await h.press("sofieqzx", "Burglary")
        await h.say("sofieqzx", "Break-in at the Kerkstraat; the burglars fled on foot.")
        await h.press("sofieqzx", "Confirm")
        async with h.db.session() as session:
            world.refs = list((await session.execute(select(Alert.ref))).scalars())
    finally:
        await h.close()
    return world


async def open_copy(world: Template, folder: Path, platform: RecordingPlatform) -> Harness:
    """A harness on a fresh copy of the world."""
    path = folder / "world.db"
    shutil.copyfile(world.path, path)
    # (Another seed than the world's: the codes it issues must not be the world's again.)
    h = await Harness.create(
        folder, url=f"sqlite+aiosqlite:///{path}", platform=platform, seed=1001
    )
    attach(h.core, DeliveryWorker(h.core, DeliverySettings()))
    return h


# -- what the database says ------------------------------------------------------------------


@dataclass
class Snapshot:
    """The privileged state, read after each step."""

    names: dict[int, str]  # person id -> name (known people only)
    pseudonyms: dict[str, str]  # name -> pseudonym
    grants: set[tuple[str, str, str]]  # (name, role, scope name), active
    alerts: dict[int, tuple[int | None, str, str, int, str]]  # id -> author, role, urgency,
    # zone, ref
    followups: dict[int, tuple[int | None, int]]  # id -> author, alert id
    decided: dict[int, tuple[str, int | None, int]]  # request id -> status, by, bin id
    memberships: dict[tuple[int, int], str]  # (bin id, person id) -> status
    groups: dict[int, tuple[int, bool, int | None]]  # id -> bin id, active, linked by
    audit_max: int
    zone_names: dict[int, str]
    bin_names: dict[int, str]


async def snapshot(h: Harness) -> Snapshot:
    """Read the privileged state in one session."""
    async with h.db.session() as s:
        idents = (await s.execute(select(Identity.person_id, Identity.user_id))).all()
        names = {pid: uid for pid, uid in idents if uid in ROLES}
        persons = (await s.execute(select(Person.id, Person.pseudonym))).all()
        pseudonyms = {names[pid]: p for pid, p in persons if pid in names}
        zones = {i: n for i, n in (await s.execute(select(Zone.id, Zone.name))).all()}
        bins = {i: c for i, c in (await s.execute(select(Bin.id, Bin.code))).all()}
        grants = set()
        for g in (
            await s.execute(select(RoleGrant).where(RoleGrant.revoked_at.is_(None)))
        ).scalars():
            scope = bins.get(g.bin_id or 0) if g.bin_id else zones.get(g.zone_id or 0)
            grants.add((names.get(g.person_id, f"#{g.person_id}"), g.role, str(scope)))
        alerts = {
            a.id: (a.author_id, a.author_role, a.urgency, a.zone_id, a.ref)
            for a in (await s.execute(select(Alert))).scalars()
        }
        followups = {
            f.id: (f.author_id, f.alert_id) for f in (await s.execute(select(FollowUp))).scalars()
        }
        decided = {
            r.id: (r.status, r.decided_by, r.bin_id)
            for r in (await s.execute(select(JoinRequest))).scalars()
        }
        memberships = {
            (m.bin_id, m.person_id): m.status
            for m in (await s.execute(select(Membership))).scalars()
        }
        groups = {
            g.id: (g.bin_id, g.active, g.linked_by)
            for g in (await s.execute(select(Group))).scalars()
        }
        audit_max = (
            await s.execute(select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(1))
        ).scalar() or 0
    return Snapshot(
        names,
        pseudonyms,
        grants,
        alerts,
        followups,
        decided,
        memberships,
        groups,
        audit_max,
        zones,
        bins,
    )


async def audit_since(h: Harness, after: int) -> list[AuditEntry]:
    """Audit entries written after id `after`."""
    async with h.db.session() as s:
        rows = await s.execute(select(AuditEntry).where(AuditEntry.id > after))
        return list(rows.scalars())


def initial_roles() -> set[tuple[str, str, str]]:
    """(name, role, scope) that the oracle expects when the world starts."""
    return {(name, role, scope) for name, held in ROLES.items() for role, scope in held}
