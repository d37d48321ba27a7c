"""The rules of official messages: who may send what, when it goes out, how long it holds,
and writing it to the outbox (the message and one delivery per group, in one transaction).
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.context import Roles
from bot.model import Rich, Role, Urgency
from bot.scheduler import periodic
from bot.services import alert_render as render
from storage.alerts import NOTICE, PENDING, SENDING, SENT, URGENT, AlertRepo
from storage.groups import GroupRepo
from storage.repo import Repo
from storage.tables import Alert, AlertTarget, Bin, Delivery, FollowUp, Group, Zone

if TYPE_CHECKING:
    from bot.dispatch import Core

log = logging.getLogger(__name__)

CATEGORIES: tuple[str, ...] = (
    "suspicious_person",
    "suspicious_vehicle",
    "burglary",
    "doorstep_fraud",
    "missing_person",
    "prevention_tip",
    "other",
)
VALIDITY = {Urgency.URGENT: timedelta(hours=24), Urgency.NON_URGENT: timedelta(days=7)}
REMINDER_AFTER = timedelta(days=1)
# After a long outage, reminding about week-old messages helps nobody.
REMINDER_UNTIL = timedelta(days=3)
FOLLOWUP_KINDS = ("update", "resolve", "withdraw")

# No 0/O or 1/I: a reference read aloud on the phone must not be misheard.
_REF_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
_REF_CHARS = "23456789" + _REF_LETTERS
_REF = re.compile(r"^[A-Z]-[0-9A-Z]{4}$")


def urgency_of(role: str) -> Urgency:
    """Police write urgent messages, the prevention service non-urgent ones. Always."""
    return Urgency.URGENT if role == Role.POLICE.value else Urgency.NON_URGENT


def normalise_ref(text: str) -> str | None:
    """`a-7k2q`, ` A-7K2Q.` -> `A-7K2Q`; None when it cannot be a reference."""
    ref = text.strip().strip(".,;:!?()[]\"'").upper()
    return ref if _REF.match(ref) else None


async def new_ref(ar: AlertRepo, rng: random.Random) -> str:
    """A fresh, unguessable reference such as `A-7K2Q` (about 25 million possibilities)."""
    while True:
        ref = rng.choice(_REF_LETTERS) + "-" + "".join(rng.choice(_REF_CHARS) for _ in range(4))
        if not await ar.ref_taken(ref):
            return ref


def in_quiet_hours(zone: Zone, now: datetime) -> bool:
    """Whether `now` falls in the zone's quiet hours (local time; may span midnight)."""
    start, end = zone.quiet_start, zone.quiet_end
    if start == end:
        return False
    local = now.astimezone(ZoneInfo(zone.timezone))
    minute = local.hour * 60 + local.minute
    return start <= minute < end if start < end else minute >= start or minute < end


def release_at(zone: Zone, urgency: str, now: datetime) -> datetime:
    """When a message may go out: urgent at once, non-urgent after the quiet hours."""
    if urgency == Urgency.URGENT or not in_quiet_hours(zone, now):
        return now
    tz = ZoneInfo(zone.timezone)
    local = now.astimezone(tz)
    end = zone.quiet_end
    day = local.date()
    if local.hour * 60 + local.minute >= end:
        day += timedelta(days=1)
    return datetime.combine(day, time(end // 60, end % 60), tzinfo=tz).astimezone(UTC)


def may_follow_up(roles: Roles, alert: Alert) -> bool:
    """Only the author's organisation (same role, same zone) speaks for a message."""
    return any(
        g.role.value == alert.author_role and g.zone_id == alert.zone_id for g in roles.grants
    )


def may_see(roles: Roles, alert: Alert) -> bool:
    """Police and prevention of the zone see its figures."""
    return alert.zone_id in roles.zones(Role.POLICE, Role.PREVENTION)


async def groups_of(repo: Repo, bin_ids: Sequence[int]) -> Sequence[Group]:
    """The linked, active groups of some BINs."""
    if not bin_ids:
        return []
    return await GroupRepo(repo.session).groups_of_bins(list(bin_ids))


async def zone_bins(repo: Repo, zone_id: int) -> list[tuple[Bin, int]]:
    """The BINs of a zone with how many active groups each has."""
    bins = list(await repo.bins(zone_id))
    groups = await groups_of(repo, [b.id for b in bins])
    return [(b, sum(1 for g in groups if g.bin_id == b.id)) for b in bins]


def group_language(group: Group, zone: Zone) -> str:
    return group.language or zone.language


@dataclass
class Draft:
    """What the composer collected, checked again when it is stored."""

    zone_id: int
    role: str
    bin_ids: list[int]
    category: str
    text: str
    ref: str
    author_id: int
    receipt_platform: str
    receipt_chat_id: str
    receipt_language: str


async def store(repo: Repo, draft: Draft, now: datetime, rng: random.Random) -> tuple[Alert, int]:
    """Write the message, its targets and one delivery per active group: the outbox.

    One transaction (the caller's), so a crash leaves either all of it or nothing.
    """
    ar = AlertRepo(repo.session)
    zone = await repo.zone(draft.zone_id)
    assert zone is not None
    bins = [b for b in await repo.bins(zone.id) if b.id in set(draft.bin_ids)]
    urgency = urgency_of(draft.role)
    release = release_at(zone, urgency, now)
    ref = draft.ref if not await ar.ref_taken(draft.ref) else await new_ref(ar, rng)
    alert = await ar.add(
        Alert(
            ref=ref,
            zone_id=zone.id,
            author_id=draft.author_id,
            author_role=draft.role,
            urgency=urgency.value,
            category=draft.category,
            text=draft.text,
            state="active",
            created_at=now,
            release_at=release,
            valid_until=release + VALIDITY[urgency],
            receipt_platform=draft.receipt_platform,
            receipt_chat_id=draft.receipt_chat_id,
            receipt_language=draft.receipt_language,
        )
    )
    for b in bins:
        repo.session.add(AlertTarget(alert_id=alert.id, bin_id=b.id))
    groups = await groups_of(repo, [b.id for b in bins])
    for g in groups:
        repo.session.add(_delivery(alert, None, g, release, now))
    await repo.session.flush()
    await repo.audit(
        now,
        _pseudonym(await repo.person(draft.author_id)),
        "alert.compose",
        zone_id=zone.id,
        ref=ref,
        urgency=urgency.value,
        category=draft.category,
        bins=len(bins),
        groups=len(groups),
    )
    return alert, len(groups)


def _delivery(
    alert: Alert, fu: FollowUp | None, group: Group, due: datetime, now: datetime
) -> Delivery:
    return Delivery(
        alert_id=alert.id,
        followup_id=fu.id if fu else None,
        group_id=group.id,
        platform=group.platform,
        chat_id=group.chat_id,
        status=PENDING,
        # A follow-up goes with its message's priority, so it never overtakes its original.
        priority=URGENT if alert.urgency == Urgency.URGENT.value else NOTICE,
        attempts=0,
        next_attempt_at=due,
        created_at=now,
    )


def _pseudonym(person: object) -> str:
    return str(getattr(person, "pseudonym", "unknown"))


@dataclass
class Posted:
    """The outcome of a follow-up: where it goes, and (withdrawals) what will never go."""

    followup: FollowUp
    groups: int
    cancelled: int


async def follow_up(
    repo: Repo, alert: Alert, kind: str, text: str | None, author_id: int, now: datetime
) -> Posted:
    """Record a follow-up and queue it as a reply in every group the message reached or
    will reach. A withdrawal also stops deliveries that have not gone out yet."""
    ar = AlertRepo(repo.session)
    zone = await repo.zone(alert.zone_id)
    assert zone is not None
    urgency = urgency_of(alert.author_role)
    cancelled = await ar.cancel_unsent(alert.id) if kind == "withdraw" else 0
    fu = await ar.add(
        FollowUp(
            alert_id=alert.id, kind=kind, text=text or None, author_id=author_id, created_at=now
        )
    )
    if kind == "update":
        alert.state = "updated" if alert.state not in ("resolved",) else alert.state
        alert.valid_until = max(alert.valid_until, now + VALIDITY[urgency])
    elif kind == "resolve":
        alert.state = "resolved"
    else:
        alert.state = "withdrawn"
    # A withdrawal corrects at once (quietly); the rest keeps the zone's quiet hours.
    due = now if kind == "withdraw" else max(release_at(zone, urgency, now), alert.release_at)
    count = 0
    for original in await ar.originals(alert.id):
        if original.status not in (PENDING, SENDING, SENT):
            continue
        group = await ar.group(original.group_id)
        if group is None:
            continue
        repo.session.add(_delivery(alert, fu, group, due, now))
        count += 1
    await repo.session.flush()
    await repo.audit(
        now,
        _pseudonym(await repo.person(author_id)),
        f"alert.{kind}",
        zone_id=alert.zone_id,
        ref=alert.ref,
        groups=count,
        cancelled=cancelled,
    )
    return Posted(fu, count, cancelled)


async def record_seen(repo: Repo, alert: Alert, person_id: int, now: datetime) -> bool:
    """Count a person once; True the first time."""
    return await AlertRepo(repo.session).add_seen(alert.id, person_id, now)


async def status_of(
    repo: Repo, alert: Alert, lang: str, prefix: str, now: datetime, *, receipt: bool = False
) -> tuple[Rich, bool]:
    """The status text of an alert and whether every delivery of it has settled."""
    ar = AlertRepo(repo.session)
    zone = await repo.zone(alert.zone_id)
    assert zone is not None
    rows = await ar.figures(alert.id)
    fus = list(await ar.followups(alert.id))
    seen = await ar.seen_count(alert.id)
    body = render.status(
        alert, zone, fus, render.figures(rows), seen, lang, prefix, now, receipt=receipt
    )
    settled = all(status not in (PENDING, SENDING) for _, _, status, _, _ in rows)
    return body, settled


# -- scheduled -------------------------------------------------------------------------------


@periodic("alerts.expire", seconds=300)
async def expire(core: Core) -> None:
    """Mark messages past their validity as expired (reads compute it too)."""
    async with core.tx() as repo:
        n = await AlertRepo(repo.session).expire(core.clock.now())
    if n:
        log.info("%d official messages expired", n)


@periodic("alerts.followup_reminder", seconds=600)
async def remind_followups(core: Core) -> None:
    """The day after an urgent message, remind its author to post what happened."""
    now = core.clock.now()
    async with core.tx() as repo:
        due = list(
            await AlertRepo(repo.session).due_followup_reminders(
                now - REMINDER_AFTER, now - REMINDER_UNTIL
            )
        )
    for alert in due:
        async with core.tx() as repo:
            # The claim and the message are one step per alert, so a double fire is harmless.
            if not await AlertRepo(repo.session).mark_reminded(alert.id, now):
                continue
            zone = await repo.zone(alert.zone_id)
        if alert.author_id is None or zone is None:
            continue
        local = alert.created_at.astimezone(ZoneInfo(zone.timezone))
        await core.notify_person(
            alert.author_id,
            "alerts.followup_reminder",
            ref=alert.ref,
            time=local.strftime("%H:%M"),
        )
