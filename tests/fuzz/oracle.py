"""The oracle of permissions, written from the roles table of the product (PRODUCT.md) and not
from the code under test: after each step of the fuzz test, what changed in the database must
be something the actor's roles allow, and a refused privileged command must be audited."""

from __future__ import annotations

from dataclasses import dataclass

from storage.tables import AuditEntry
from tests.fuzz.world import Code, Snapshot

# The product's commands table: who may use each privileged command.
OFFICIALS = frozenset({"police", "prevention"})
COMMAND_ROLES: dict[str, frozenset[str]] = {
    **dict.fromkeys(
        ("link", "unlink", "requests", "approve", "decline", "members", "remove"),
        frozenset({"coordinator"}),
    ),
    **dict.fromkeys(("alert", "update", "resolve", "withdraw", "status", "alerts"), OFFICIALS),
    "desk": OFFICIALS | {"coordinator"},
}
FOLLOW_UPS = ("update", "resolve", "withdraw")
# Police write urgent messages, the prevention service non-urgent ones. Always.
URGENCY = {"police": "urgent", "prevention": "non_urgent"}

Grant = tuple[str, str, str]  # (person name, role, scope name)


@dataclass
class Step:
    """One thing someone did: who, what, and (filled in after) whether they were answered."""

    actor: str  # a person's name; "" for the admin's shell or time passing
    kind: str  # command, text, chatter, press, join, leave, admin, time
    name: str = ""
    args: str = ""
    private: bool = True
    payload: str = ""
    answered: bool = True
    known: bool = True  # a command the registry has (the product lists /desk, not built yet)


def _fold(code: str) -> str:
    return "".join(c for c in code.upper() if c.isalnum())


def violations(
    step: Step,
    roles: set[Grant],
    codes: list[Code],
    before: Snapshot,
    after: Snapshot,
    audit: list[AuditEntry],
) -> list[str]:
    """Everything this step did that the product does not allow (empty: all is well)."""
    held = {(role, scope) for name, role, scope in roles if name == step.actor}
    found: list[str] = []
    if step.kind == "command" and step.private and not step.answered:
        found.append(f"/{step.name} {step.args!r} by {step.actor} got no answer")
    found += _official_messages(step, held, before, after)
    found += _joins(step, held, before, after)
    found += _groups(step, held, before, after)
    found += _grants(step, roles, codes, after)
    found += _audited(step, held, after, audit)
    return found


def _official_messages(
    step: Step, held: set[tuple[str, str]], before: Snapshot, after: Snapshot
) -> list[str]:
    found = []
    for aid in after.alerts.keys() - before.alerts.keys():
        author, role, urgency, zone, _ = after.alerts[aid]
        who = after.names.get(author or 0, "?")
        if who != step.actor or (role, after.zone_names[zone]) not in held:
            found.append(f"official message {aid} ({role}) by {who} in step {step}")
        if URGENCY.get(role) != urgency:
            found.append(f"official message {aid} by {role} is {urgency}")
    for fid in after.followups.keys() - before.followups.keys():
        author, alert_id = after.followups[fid]
        _, role, _, zone, ref = after.alerts[alert_id]
        who = after.names.get(author or 0, "?")
        if who != step.actor or (role, after.zone_names[zone]) not in held:
            found.append(f"follow-up {fid} of {ref} by {who} in step {step}")
    return found


def _joins(step: Step, held: set[tuple[str, str]], before: Snapshot, after: Snapshot) -> list[str]:
    found = []
    approved_now = set()
    for rid, (status, by, bin_id) in after.decided.items():
        if before.decided.get(rid, ("",))[0] == status or status not in ("approved", "declined"):
            continue
        who = after.names.get(by or 0, "nobody")
        if who != step.actor or ("coordinator", after.bin_names[bin_id]) not in held:
            found.append(f"request {rid} {status} by {who} in step {step}")
        if status == "approved":
            approved_now.add(rid)
    for key, status in after.memberships.items():
        was = before.memberships.get(key)
        if was == status:
            continue
        bin_name, person = after.bin_names[key[0]], after.names.get(key[1], "?")
        coordinator = ("coordinator", bin_name) in held
        if status == "active" and not approved_now and not coordinator:
            found.append(f"{person} became a member of {bin_name} unapproved, step {step}")
        if status == "removed" and not coordinator:
            found.append(f"{person} removed from {bin_name} in step {step}")
        if status == "left" and person != step.actor and not coordinator:
            found.append(f"{person} made to leave {bin_name} in step {step}")
    return found


def _groups(
    step: Step, held: set[tuple[str, str]], before: Snapshot, after: Snapshot
) -> list[str]:
    found = []
    for gid, (bin_id, active, linked_by) in after.groups.items():
        was = before.groups.get(gid)
        if was == (bin_id, active, linked_by):
            continue
        bin_name = after.bin_names[bin_id]
        if active and (was is None or not was[1] or was[0] != bin_id):
            who = after.names.get(linked_by or 0, "nobody")
            if who != step.actor or ("coordinator", bin_name) not in held:
                found.append(f"group {gid} linked to {bin_name} by {who} in step {step}")
        if was is not None and was[1] and not active:
            old_bin = after.bin_names[was[0]]
            if ("coordinator", old_bin) not in held:
                found.append(f"group {gid} of {old_bin} unlinked in step {step}")
    return found


def _grants(step: Step, roles: set[Grant], codes: list[Code], after: Snapshot) -> list[str]:
    found = []
    known = {g for g in after.grants if not g[0].startswith("#")}
    for name, role, scope in known - roles:
        redeemed = step.kind == "command" and step.name in ("redeem", "start")
        code = next(
            (
                c
                for c in codes
                if redeemed and c.state == "valid" and _fold(c.code) == _fold(step.args)
            ),
            None,
        )
        if name != step.actor or code is None or (code.role, code.scope) != (role, scope):
            found.append(f"{name} became {role} of {scope} in step {step}")
        elif code is not None:
            code.state = "used"
    for name, role, scope in roles - known:
        revoked = step.kind == "admin" and step.args.startswith("revoke role")
        if name != step.actor and not revoked:
            found.append(f"{name} lost {role} of {scope} in step {step}")
    strangers = [g for g in after.grants if g[0].startswith("#")]
    if strangers:
        found.append(f"roles held by unknown persons: {strangers}")
    return found


def _audited(
    step: Step, held: set[tuple[str, str]], after: Snapshot, audit: list[AuditEntry]
) -> list[str]:
    if step.kind != "command" or not step.known or step.name not in COMMAND_ROLES:
        return []  # an unknown command refuses nothing: it is answered "I do not know it"
    kinds = {role for role, _ in held}
    pseudonym = after.pseudonyms.get(step.actor)
    refused = [a for a in audit if a.outcome == "refused" and a.actor == pseudonym]
    if not COMMAND_ROLES[step.name] & kinds:
        return [] if refused else [f"refused /{step.name} by {step.actor} not audited: {step}"]
    if step.name in FOLLOW_UPS:
        word = (step.args.split() or [""])[0].strip(".,;:!?()[]\"'").upper()
        for _, role, _, zone, ref in after.alerts.values():
            if ref == word and (role, after.zone_names[zone]) not in held and not refused:
                return [f"refused /{step.name} {ref} by {step.actor} not audited"]
    return []
