"""The 101 rule in sight: the group rules, the welcome, and a periodic reminder per group."""

from __future__ import annotations

import logging
from datetime import date, datetime
from functools import partial
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot import texts
from bot.commands import Registry
from bot.model import Rich
from bot.ports import BotRemoved, MissingRights, PlatformError
from bot.services import bin_settings, group_rights
from bot.services.audience import bin_and_zone, group_language, post
from bot.services.bin_settings import Settings

if TYPE_CHECKING:
    from bot.dispatch import Core
    from storage.tables import Bin, Group, Zone
    from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

routes = Registry()


def numbers_line(zone: Zone, lang: str, prefix: str) -> Rich:
    """The one line every BIN text ends on: call first, then tell the neighbourhood."""
    parts = [
        texts.rich(
            "groups.line_101",
            lang,
            p=prefix,
            urgent=zone.urgent_number,
            emergency=zone.emergency_number,
        )
    ]
    if zone.non_urgent_number:
        parts.append(
            texts.rich("groups.line_non_urgent", lang, p=prefix, number=zone.non_urgent_number)
        )
    return Rich.join(parts, " ")


def rules_text(b: Bin, zone: Zone, lang: str, prefix: str) -> Rich:
    """The group rules that are pinned when a group is linked."""
    return Rich.join(
        [
            texts.rich(
                "groups.rules",
                lang,
                p=prefix,
                bin=b.name,
                zone=zone.name,
                urgent=zone.urgent_number,
                emergency=zone.emergency_number,
            ),
            numbers_line(zone, lang, prefix),
        ]
    )


def reminder_text(zone: Zone, lang: str, prefix: str) -> Rich:
    """The periodic reminder of the 101 rule."""
    return Rich.join(
        [
            texts.rich(
                "groups.reminder",
                lang,
                p=prefix,
                urgent=zone.urgent_number,
                emergency=zone.emergency_number,
            ),
            numbers_line(zone, lang, prefix),
        ]
    )


def local_time(zone: Zone | Settings, now: datetime) -> datetime:
    """`now` on the zone's clock."""
    try:
        tz = ZoneInfo(zone.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("Europe/Brussels")
    return now.astimezone(tz)


def in_quiet_hours(zone: Settings, now: datetime) -> bool:
    """Whether the quiet hours of a BIN (`bin_settings.of`; they may span midnight) include
    `now`."""
    local = local_time(zone, now)
    minute = local.hour * 60 + local.minute
    start, end = zone.quiet_start, zone.quiet_end
    if start == end:
        return False
    if start < end:
        return start <= minute < end
    return minute >= start or minute < end


def period_of(zone: Settings, now: datetime) -> str:
    """The reminder period `now` falls in for a BIN (`bin_settings.of`): blocks of its
    `reminder_days` local days."""
    # Ordinal 1 (1 January of year 1) was a Monday, so weekly periods run Monday to Sunday.
    days = max(1, zone.reminder_days)
    day: date = local_time(zone, now).date()
    return f"{days}d-{(day.toordinal() - 1) // days}"


async def mark_reminded(uow: UnitOfWork, group_id: int, zone: Settings, now: datetime) -> None:
    """Count freshly posted rules as this period's reminder, so none follows right after."""
    await uow.groups.claim_reminder(group_id, period_of(zone, now), now)


@routes.periodic("reminders.post", seconds=900)
async def post_reminders(core: Core) -> int:
    """Post the 101 reminder in each linked group once per period, outside quiet hours."""
    from bot.services.linking import bot_gone

    now = core.clock.now()
    due: list[tuple[Group, Zone, Settings, str]] = []
    async with core.uow() as uow:
        for group in await uow.groups.active_groups():
            if group.platform not in core.platforms:
                continue
            b, zone = await bin_and_zone(uow, group.bin_id)
            # An archived BIN's groups stay linked but get nothing new, reminders included.
            settings = bin_settings.of(zone, b)
            if b.archived_at is None and not in_quiet_hours(settings, now):
                due.append((group, zone, settings, await group_language(uow, group)))
    posted = 0
    for group, zone, settings, lang in due:
        # Claim the period before posting: a crash may cost one reminder, never post two.
        async with core.uow() as uow:
            claimed = await uow.groups.claim_reminder(group.id, period_of(settings, now), now)
            await uow.commit()
        if not claimed:
            continue
        try:
            await post(core, group, partial(reminder_text, zone), lang=lang, silent=True)
        except BotRemoved:
            await bot_gone(core, group.platform, group.chat_id)
        except MissingRights as exc:
            await group_rights.lost(core, group.id, exc.rights)
        except PlatformError as exc:
            log.warning("reminder in group %s failed: %s", group.id, exc.reason)
        else:
            posted += 1
            await group_rights.posted(core, group)
    return posted
