"""What the desk's pages show, read in one unit of work each and handed over as plain values
(the web adapter renders them; nothing here knows HTML). Every read is scoped by
`bot.services.desk`'s checks."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bot import texts
from bot.model import Platform, Rich
from bot.services import alert_render as render
from bot.services import desk_photos
from bot.services.audience import display_name, rights_text
from bot.services.desk import Viewer, may_follow_up, may_see_alert, may_see_bin, may_see_zone
from storage.desk import AlertFilter, DeliveryRow
from storage.group_rights import parse

if TYPE_CHECKING:
    from bot.dispatch import Core
    from storage.tables import Alert, Bin, Group, Zone
    from storage.uow import UnitOfWork

PAGE = 25
EXPIRING_WITHIN = timedelta(days=1)
PROBLEMS_SINCE = timedelta(days=30)


@dataclass(frozen=True)
class BinRow:
    """One BIN on the overview."""

    id: int
    name: str
    code: str
    groups: dict[str, int]
    members: int
    pending: int
    messages: int


@dataclass(frozen=True)
class Problem:
    """Something that needs someone, where it is seen, and (in words) what to do."""

    kind: str  # lost_group, rights, failed, expiring
    values: dict[str, object]
    href: str
    fix: str = ""


def rights_fix(platform: str, missing: Sequence[str], lang: str) -> str:
    """What to do about rights the bot lacks, in the platform's own terms."""
    wanted = [r for r in missing if r != "admin"]  # the fix makes it an administrator anyway
    if platform == Platform.TELEGRAM.value:
        key = "desk.fix_rights_telegram" if wanted else "desk.fix_rights_telegram_admin"
    elif platform == Platform.MATRIX.value:
        key = "desk.fix_rights_matrix"
    else:
        key = "desk.fix_rights_other"
    fix = texts.text(key, lang, rights=rights_text(wanted or missing, lang))
    return f"{fix} {texts.text('desk.fix_rights_recheck', lang)}"


@dataclass
class Block:
    """A zone (officials) or "your BINs" (coordinators) on the overview."""

    title: str
    zone_id: int | None
    bins: list[BinRow] = field(default_factory=list)
    messages: int = 0


@dataclass
class Overview:
    blocks: list[Block]
    problems: list[Problem]


def month_start(now: datetime, zone: Zone | None) -> datetime:
    """The first of this month (UTC is close enough for a monthly figure)."""
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


async def overview(core: Core, who: Viewer) -> Overview:
    """The landing page: per zone (or the coordinator's BINs) the BINs and their figures,
    and the problems that need someone."""
    now = core.clock.now()
    since = month_start(now, None)
    blocks: list[Block] = []
    problems: list[Problem] = []
    async with core.uow() as uow:
        zones = [z for z in await uow.directory.zones() if may_see_zone(who, z.id)]
        for zone in zones:
            bins = list(await uow.directory.bins(zone.id))
            block = Block(zone.name, zone.id, await _bin_rows(uow, bins, since))
            _, block.messages = await uow.desk.alert_page(
                [zone.id], AlertFilter(since=since), now, 0, 0
            )
            blocks.append(block)
        mine = [b for b in await _coordinated(uow, who) if b.zone_id not in who.zones]
        if mine:
            blocks.append(Block("", None, await _bin_rows(uow, mine, since)))
        names = {r.id: r.name for b in blocks for r in b.bins}
        problems = await _problems(uow, who, [z.id for z in zones], names, now)
    return Overview(blocks, problems)


async def _coordinated(uow: UnitOfWork, who: Viewer) -> list[Bin]:
    found = [await uow.directory.bin(i) for i in sorted(who.coordinated)]
    return [b for b in found if b is not None]


async def _bin_rows(uow: UnitOfWork, bins: list[Bin], since: datetime) -> list[BinRow]:
    ids = [b.id for b in bins]
    per_platform: dict[int, dict[str, int]] = defaultdict(dict)
    for bin_id, platform, n in await uow.desk.groups_per_platform(ids):
        per_platform[bin_id][platform] = n
    members = await uow.desk.member_counts(ids)
    pending = await uow.desk.pending_counts(ids)
    messages = await uow.desk.messages_per_bin(ids, since)
    return [
        BinRow(
            b.id,
            b.name,
            b.code,
            dict(sorted(per_platform[b.id].items())),
            members.get(b.id, 0),
            pending.get(b.id, 0),
            messages.get(b.id, 0),
        )
        for b in bins
    ]


async def _problems(
    uow: UnitOfWork, who: Viewer, zone_ids: list[int], names: dict[int, str], now: datetime
) -> list[Problem]:
    """What needs someone in these zones and BINs (`names`: the BINs shown, by id)."""
    problems: list[Problem] = []
    bin_ids = list(names)
    for g in await uow.desk.lost_groups(bin_ids):
        problems.append(
            Problem(
                "lost_group",
                {"group": g.title or g.chat_id, "bin": names.get(g.bin_id, "?")},
                f"/desk/bins/{g.bin_id}",
            )
        )
    for g in await uow.rights.lacking(bin_ids):
        missing = parse(g.missing_rights)
        problems.append(
            Problem(
                "rights",
                {
                    "group": g.title or g.chat_id,
                    "bin": names.get(g.bin_id, "?"),
                    "rights": rights_text(missing, who.lang),
                },
                f"/desk/bins/{g.bin_id}#groups",
                rights_fix(g.platform, missing, who.lang),
            )
        )
    if zone_ids:
        for _, ref, n in await uow.desk.failed_deliveries(zone_ids, now - PROBLEMS_SINCE):
            problems.append(Problem("failed", {"ref": ref, "count": n}, f"/desk/messages/{ref}"))
    decided = sorted(who.coordinated & set(bin_ids))
    for r in await uow.desk.expiring_requests(decided, now + EXPIRING_WITHIN):
        problems.append(
            Problem(
                "expiring",
                {"n": r.id, "bin": names.get(r.bin_id, "?")},
                f"/desk/bins/{r.bin_id}#requests",
            )
        )
    return problems


# -- official messages ----------------------------------------------------------------------


@dataclass(frozen=True)
class ListRow:
    ref: str
    when: str
    category: str
    urgency: str
    state: str
    delivered: int
    total: int
    seen: int
    photo: bool = False


@dataclass
class MessageList:
    rows: list[ListRow]
    total: int
    page: int
    pages: int
    bins: list[tuple[int, str]]


async def message_list(core: Core, who: Viewer, f: AlertFilter, page: int) -> MessageList:
    """The zones' official messages, newest first, one page."""
    now = core.clock.now()
    zone_ids = sorted(who.zones)
    async with core.uow() as uow:
        zones = {z.id: z for z in await uow.directory.zones() if z.id in who.zones}
        bins = [(b.id, b.name) for zid in zone_ids for b in await uow.directory.bins(zid)]
        if f.bin_id is not None and f.bin_id not in {b for b, _ in bins}:
            f = AlertFilter(bin_id=-1)  # another zone's BIN: nothing of it is shown
        found, total = await uow.desk.alert_page(zone_ids, f, now, (page - 1) * PAGE, PAGE)
        ids = [a.id for a in found]
        counts = await uow.desk.delivery_counts(ids)
        seen = await uow.desk.seen_counts(ids)
    rows = []
    for a in found:
        c = counts.get(a.id, {})
        rows.append(
            ListRow(
                a.ref,
                render.when(a.created_at, zones[a.zone_id], who.lang),
                render.category_name(a.category, who.lang),
                render.urgency_name(a.urgency, who.lang),
                render.state_name(render.state_of(a, now), who.lang),
                c.get("sent", 0),
                sum(n for s, n in c.items() if s != "cancelled"),
                seen.get(a.id, 0),
                a.photo_id is not None,
            )
        )
    pages = max(1, -(-total // PAGE))
    return MessageList(rows, total, page, pages, bins)


@dataclass(frozen=True)
class FollowUpView:
    kind: str
    when: str
    body: Rich
    photo: desk_photos.DeskPhoto | None = None


@dataclass
class MessageView:
    alert: Alert
    zone: Zone
    body: Rich
    state: str
    targets: list[str]
    deliveries: list[DeliveryRow]
    followups: list[FollowUpView]
    seen: int
    may_follow_up: bool
    settled: bool
    titles: dict[int | None, str]
    photo: desk_photos.DeskPhoto | None = None


async def message(core: Core, who: Viewer, ref: str) -> MessageView | None:
    """One message as residents saw it, with its delivery per group; None when it does not
    exist or is not this person's to see (the caller audits)."""
    now = core.clock.now()
    async with core.uow() as uow:
        found = await uow.alerts.alert_by_ref(ref)
        if found is None or not may_see_alert(who, found):
            return None
        zone = await core.zone(found.zone_id, uow)
        assert zone is not None
        bins = {b.id: b.name for b in await uow.directory.bins(zone.id)}
        targets = [bins.get(i, "?") for i in await uow.alerts.target_bins(found.id)]
        rows = await uow.desk.deliveries(found.id)
        fus = list(await uow.alerts.followups(found.id))
        seen = await uow.alerts.seen_count(found.id)
        photo = await desk_photos.of_message(uow, found.photo_id)
        fu_photos = {fu.id: await desk_photos.of_message(uow, fu.photo_id) for fu in fus}
    body = render.official(found, zone, zone.language, "/", buttons=True)
    views = [
        FollowUpView(
            fu.kind,
            render.when(fu.created_at, zone, who.lang),
            render.followup(found, fu, zone, zone.language, "/"),
            fu_photos[fu.id],
        )
        for fu in fus
    ]
    return MessageView(
        found,
        zone,
        body,
        render.state_name(render.state_of(found, now), who.lang),
        targets,
        rows,
        views,
        seen,
        may_follow_up(who, found),
        all(r.status not in ("pending", "sending") for r in rows),
        {None: ref, **{fu.id: fu.kind for fu in fus}},
        photo,
    )


def delivery_state(row: DeliveryRow, zone: Zone, lang: str) -> tuple[str, str]:
    """(status word, detail) of one delivery: when it was sent, or why it failed."""
    if row.status == "sent" and row.sent_at is not None:
        return "sent", render.when(row.sent_at, zone, lang)
    if row.status == "failed":
        return "failed", render.reason_text(row.error or "unknown", lang)
    return row.status, ""


# -- the coordinators' view -----------------------------------------------------------------


@dataclass(frozen=True)
class RequestRow:
    id: int
    name: str
    created: str
    expires: str
    answers: dict[str, str]


@dataclass(frozen=True)
class GroupRow:
    """One group of a BIN: inactive with a reason, or lacking rights with what to do."""

    title: str
    platform: str
    active: bool
    reason: str
    lacks: str = ""
    fix: str = ""


@dataclass
class BinView:
    bin: Bin
    zone: Zone
    groups: list[GroupRow]
    coordinator: bool
    requests: list[RequestRow]
    members: list[tuple[str, str]]
    member_total: int
    page: int
    pages: int


async def bin_view(core: Core, who: Viewer, bin_id: int, page: int) -> BinView | None:
    """A BIN's groups, and for its coordinators its members and pending requests; None when
    it is not this person's to see (the caller audits)."""
    from bot.services.join_requests import question_text

    async with core.uow() as uow:
        b = await uow.directory.bin(bin_id)
        if b is None or not may_see_bin(who, b):
            return None
        zone = await core.zone(b.zone_id, uow)
        assert zone is not None
        groups = [_group_row(g, who.lang) for g in await uow.desk.groups_of([b.id])]
        coordinator = b.id in who.coordinated
        requests: list[RequestRow] = []
        members: list[tuple[str, str]] = []
        total = 0
        if coordinator:
            for r in await uow.groups.requests([b.id]):
                requests.append(
                    RequestRow(
                        r.id,
                        await display_name(uow, r.person_id, r.platform),
                        render.when(r.created_at, zone, who.lang),
                        render.when(r.expires_at, zone, who.lang),
                        {question_text(q, who.lang): a for q, a in (r.answers or {}).items()},
                    )
                )
            rows, total = await uow.desk.member_page([b.id], (page - 1) * PAGE, PAGE)
            members = [(name, render.when(j, zone, who.lang)) for _, _, name, j in rows]
    return BinView(
        b, zone, groups, coordinator, requests, members, total, page, max(1, -(-total // PAGE))
    )


async def my_bins(core: Core, who: Viewer) -> list[Bin]:
    """The BINs this person may open: their zones' and the ones they coordinate."""
    async with core.uow() as uow:
        return [b for b in await uow.directory.bins() if may_see_bin(who, b)]


def _group_row(g: Group, lang: str) -> GroupRow:
    missing = parse(g.missing_rights) if g.active else ()
    return GroupRow(
        g.title or g.chat_id,
        g.platform,
        g.active,
        g.inactive_reason or "",
        rights_text(missing, lang) if missing else "",
        rights_fix(g.platform, missing, lang) if missing else "",
    )
