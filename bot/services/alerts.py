"""The rules of official messages: who may send what, when it goes out, how long it holds,
and writing it to the outbox (the message and one delivery per group, in one transaction).
"""

from __future__ import annotations

import logging
import random
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.commands import Registry
from bot.context import Roles
from bot.model import Rich, Role, Urgency
from bot.services import alert_render as render
from bot.services import bin_settings
from bot.services.bin_settings import Settings
from storage.alerts import NOTICE, PENDING, SENDING, SENT, URGENT, AlertRepo

if TYPE_CHECKING:
    from bot.dispatch import Core
    from storage.alert_writes import SeenOutcome
    from storage.tables import Alert, Bin, Group, Zone
    from storage.uow import UnitOfWork

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

# Letters that render as nothing (Hangul fillers, the braille blank): no visible text alone.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
# Categories that show nothing by themselves: controls and format characters (zero-width
# spaces and joiners, direction marks), separators, combining marks, unassigned code points.
_INVISIBLE = ("C", "Z", "M")

routes = Registry()


def visible(text: str) -> bool:
    """Whether a text shows anything: not only spaces, zero-width or direction marks."""
    return any(
        unicodedata.category(c)[0] not in _INVISIBLE and c not in _BLANK_LETTERS for c in text
    )


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


def in_quiet_hours(zone: Settings, now: datetime) -> bool:
    """Whether `now` falls in the quiet hours of a BIN or zone (`bin_settings.of`; local
    time; may span midnight)."""
    start, end = zone.quiet_start, zone.quiet_end
    if start == end:
        return False
    local = now.astimezone(ZoneInfo(zone.timezone))
    minute = local.hour * 60 + local.minute
    return start <= minute < end if start < end else minute >= start or minute < end


def release_at(zone: Settings, urgency: str, now: datetime) -> datetime:
    """When a message may go out to a BIN (or a zone, `bin_settings.of`): urgent at once,
    non-urgent after its quiet hours."""
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


@dataclass(frozen=True)
class FollowUpRefused:
    """Why a follow-up may not be posted. `reason` is one of "kind", "organisation",
    "withdrawn", "resolved", "empty" and "too_long"; with "too_long", the text's `length` and
    the `limit` it exceeds (in characters)."""

    reason: str
    limit: int = 0
    length: int = 0


async def follow_up_refusal(
    core: Core, uow: UnitOfWork, roles: Roles, alert: Alert, kind: str, text: str
) -> FollowUpRefused | None:
    """The rules of /update, /resolve and /withdraw, and of the desk's follow-ups: None when
    this follow-up may be posted, else why not."""
    # alert_limits measures texts in the frames alert_render draws; it imports this module.
    from bot.services.alert_limits import followup_room

    if kind not in FOLLOWUP_KINDS:
        return FollowUpRefused("kind")
    if not may_follow_up(roles, alert):
        return FollowUpRefused("organisation")
    if alert.state == "withdrawn":
        return FollowUpRefused("withdrawn")
    if kind == "resolve" and alert.state == "resolved":
        return FollowUpRefused("resolved")
    if kind == "update" and not visible(text):
        return FollowUpRefused("empty")
    if text:
        room = await followup_room(core, uow, alert, kind, text)
        if not room.fits:
            return FollowUpRefused("too_long", room.limit, room.length)
    return None


def may_see(roles: Roles, alert: Alert) -> bool:
    """Police and prevention of the zone see its figures."""
    return alert.zone_id in roles.zones(Role.POLICE, Role.PREVENTION)


async def groups_of(uow: UnitOfWork, bin_ids: Sequence[int]) -> Sequence[Group]:
    """The linked, active groups of some BINs."""
    if not bin_ids:
        return []
    return await uow.groups.groups_of_bins(list(bin_ids))


async def zone_bins(uow: UnitOfWork, zone_id: int) -> list[tuple[Bin, int]]:
    """The BINs of a zone that take official messages (not archived), with how many active
    groups each has."""
    bins = list(await uow.directory.bins(zone_id, active=True))
    groups = await groups_of(uow, [b.id for b in bins])
    return [(b, sum(1 for g in groups if g.bin_id == b.id)) for b in bins]


def group_language(group: Group, zone: Zone, bin_language: str | None = None) -> str:
    """The language a group reads official messages in: its own, else its BIN's, else its
    zone's."""
    return group.language or bin_language or zone.language


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
    photo_id: int | None = None


async def store(
    uow: UnitOfWork, draft: Draft, now: datetime, rng: random.Random
) -> tuple[Alert, int]:
    """Write the message, its targets and one delivery per active group: the outbox.

    In the caller's unit of work, so a crash leaves either all of it or nothing; returns the
    message and how many groups it goes to.
    """
    ar = uow.alerts
    zone = await uow.directory.zone(draft.zone_id)
    assert zone is not None
    # A BIN archived while the message was being written is left out.
    bins = [b for b in await uow.directory.bins(zone.id, active=True) if b.id in draft.bin_ids]
    urgency = urgency_of(draft.role)
    # Each BIN's groups get a non-urgent message when that BIN's quiet hours end; the message
    # itself is released with the first of them, and stays valid as long after the last.
    releases = {b.id: release_at(bin_settings.of(zone, b), urgency, now) for b in bins}
    release = min(releases.values(), default=release_at(bin_settings.of(zone), urgency, now))
    last = max(releases.values(), default=release)
    ref = draft.ref if not await ar.ref_taken(draft.ref) else await new_ref(ar, rng)
    alert = await ar.add_alert(
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
        valid_until=last + VALIDITY[urgency],
        receipt_platform=draft.receipt_platform,
        receipt_chat_id=draft.receipt_chat_id,
        receipt_language=draft.receipt_language,
        photo_id=draft.photo_id,
    )
    await ar.add_targets(alert.id, [b.id for b in bins])
    groups = await groups_of(uow, [b.id for b in bins])
    priority = priority_of(alert.urgency)
    for b in bins:
        mine = [g for g in groups if g.bin_id == b.id]
        if mine:
            await ar.queue(alert.id, None, mine, releases[b.id], now, priority=priority)
    await uow.audit.record(
        now,
        await _pseudonym(uow, draft.author_id),
        "alert.compose",
        zone_id=zone.id,
        ref=ref,
        urgency=urgency.value,
        category=draft.category,
        bins=len(bins),
        groups=len(groups),
    )
    return alert, len(groups)


def priority_of(urgency: str) -> int:
    """The outbox priority of an official message and its follow-ups: a follow-up goes with
    its message's priority, so that it never overtakes its original in a chat."""
    return URGENT if urgency == Urgency.URGENT.value else NOTICE


async def _pseudonym(uow: UnitOfWork, person_id: int) -> str:
    person = await uow.people.person(person_id)
    return person.pseudonym if person is not None else "unknown"


@dataclass(frozen=True)
class Posted:
    """The outcome of a follow-up: where it goes, and (withdrawals) what will never go."""

    followup_id: int
    groups: int
    cancelled: int


async def follow_up(
    uow: UnitOfWork,
    alert: Alert,
    kind: str,
    text: str | None,
    author_id: int,
    now: datetime,
    *,
    photo_id: int | None = None,
) -> Posted:
    """Record a follow-up and queue it as a reply in every group the message reached or
    will reach. A withdrawal also stops deliveries that have not gone out yet."""
    ar = uow.alerts
    zone = await uow.directory.zone(alert.zone_id)
    assert zone is not None
    urgency = urgency_of(alert.author_role)
    cancelled = await ar.cancel_unsent(alert.id) if kind == "withdraw" else 0
    fu = await ar.add_followup(alert.id, kind, text or None, author_id, now, photo_id=photo_id)
    if kind == "update":
        alert.state = "updated" if alert.state != "resolved" else alert.state
        alert.valid_until = max(alert.valid_until, now + VALIDITY[urgency])
    elif kind == "resolve":
        alert.state = "resolved"
    else:
        alert.state = "withdrawn"
    # A withdrawal corrects at once (quietly); the rest keeps the quiet hours of each group's
    # BIN, and never goes before the message it follows up in that group.
    settings = {b.id: bin_settings.of(zone, b) for b in await uow.directory.bins(zone.id)}
    due: dict[datetime, list[Group]] = {}
    for original in await ar.originals(alert.id):
        if original.status not in (PENDING, SENDING, SENT):
            continue
        group = await ar.group(original.group_id)
        if group is None:
            continue
        when = now
        if kind != "withdraw":
            quiet = release_at(settings.get(group.bin_id, bin_settings.of(zone)), urgency, now)
            after = original.next_attempt_at if original.status == PENDING else now
            when = max(quiet, after)
        due.setdefault(when, []).append(group)
    count = 0
    for when, groups in sorted(due.items()):
        count += await ar.queue(
            alert.id, fu.id, groups, when, now, priority=priority_of(alert.urgency)
        )
    await uow.audit.record(
        now,
        await _pseudonym(uow, author_id),
        f"alert.{kind}",
        zone_id=alert.zone_id,
        ref=alert.ref,
        groups=count,
        cancelled=cancelled,
    )
    return Posted(fu.id, count, cancelled)


async def record_seen(
    uow: UnitOfWork, alert_id: int, person_id: int, now: datetime
) -> SeenOutcome:
    """Count a person once: "counted" the first time, "already" after, "closed" when the
    message is no longer current."""
    return await uow.alerts.add_seen(alert_id, person_id, now)


# The answer to each Seen press (SeenOutcome).
SEEN_ANSWERS = {
    "counted": "alerts.seen_thanks",
    "already": "alerts.seen_already",
    "closed": "alerts.seen_closed",
}


async def status_of(
    uow: UnitOfWork, alert: Alert, lang: str, prefix: str, now: datetime, *, receipt: bool = False
) -> tuple[Rich, bool]:
    """The status text of an alert and whether every delivery of it has settled."""
    ar = uow.alerts
    zone = await uow.directory.zone(alert.zone_id)
    assert zone is not None
    rows = await ar.figures(alert.id)
    fus = list(await ar.followups(alert.id))
    seen = await ar.seen_count(alert.id)
    photo = await uow.media.photo(alert.photo_id) if alert.photo_id is not None else None
    body = render.status(
        alert,
        zone,
        fus,
        render.figures(rows),
        seen,
        lang,
        prefix,
        now,
        receipt=receipt,
        photo=(photo.width, photo.height) if photo is not None else None,
    )
    settled = all(status not in (PENDING, SENDING) for _, _, status, _, _ in rows)
    return body, settled


# -- scheduled -------------------------------------------------------------------------------


@routes.periodic("alerts.expire", seconds=300)
async def expire(core: Core) -> None:
    """Mark messages past their validity as expired (reads compute it too)."""
    async with core.uow() as uow:
        n = await uow.alerts.expire(core.clock.now())
        await uow.commit()
    if n:
        log.info("%d official messages expired", n)


@routes.periodic("alerts.followup_reminder", seconds=600)
async def remind_followups(core: Core) -> None:
    """The day after an urgent message, remind its author to post what happened."""
    now = core.clock.now()
    async with core.uow() as uow:
        due = list(
            await uow.alerts.due_followup_reminders(now - REMINDER_AFTER, now - REMINDER_UNTIL)
        )
    for alert in due:
        # The claim is committed before the message: a double fire (or a second process)
        # finds it taken and reminds no one again.
        async with core.uow() as uow:
            claimed = await uow.alerts.mark_reminded(alert.id, now)
            await uow.commit()
        zone = await core.zone(alert.zone_id)
        if not claimed or alert.author_id is None or zone is None:
            continue
        local = alert.created_at.astimezone(ZoneInfo(zone.timezone))
        await core.notify_person(
            alert.author_id,
            "alerts.followup_reminder",
            ref=alert.ref,
            time=local.strftime("%H:%M"),
        )
