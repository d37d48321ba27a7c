"""The rights the bot lacks in each group: recorded when an action fails for lack of them,
dropped when one that needs them goes through, and re-checked hourly where some are known to
be missing, so that the desk can show which groups need someone and what to grant.

Only groups with a known problem are asked about: the re-check costs one read-only platform
call per such group and hour, whatever the number of healthy groups.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.commands import Registry
from bot.model import ChatRef, Platform
from bot.ports import BotRemoved, PlatformError
from storage.group_rights import parse

if TYPE_CHECKING:
    from bot.dispatch import Core
    from storage.tables import Group
    from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

# What a post that went through proves the bot holds (Telegram's and Matrix's names).
POSTING = frozenset({"send", "send messages"})
# A group is asked about again at most this often, and a run asks about at most so many.
RECHECK_EVERY = timedelta(hours=1)
RECHECK_BATCH = 100
CHECK_TIMEOUT = 30.0

routes = Registry()


async def change(
    uow: UnitOfWork,
    group_id: int,
    how: str,
    rights: Collection[str],
    now: datetime,
    *,
    actor: str = "system",
) -> tuple[str, ...] | None:
    """Record rights "lost", "regained" or "found" (all the platform named) in `uow`, with an
    audit entry when what the bot lacks changed: the new set then, else None."""
    group = await uow.groups.group(group_id)
    if group is None:
        return None
    if how == "lost":
        changed = await uow.rights.lost(group_id, rights, now)
    elif how == "regained":
        changed = await uow.rights.regained(group_id, rights)
    else:
        changed = await uow.rights.found(group_id, rights, now)
    if changed is not None:
        bin_ = await uow.directory.bin(group.bin_id)
        await uow.audit.record(
            now,
            actor,
            "group.rights",
            zone_id=bin_.zone_id if bin_ is not None else None,
            bin_id=group.bin_id,
            group=group_id,
            missing=list(changed),
        )
        log.info("group %s: the bot now lacks %s", group_id, ",".join(changed) or "nothing")
    return changed


async def _record(core: Core, group_id: int, how: str, rights: Collection[str]) -> None:
    """`change` in a unit of work of its own."""
    async with core.uow() as uow:
        await change(uow, group_id, how, rights, core.clock.now())
        await uow.commit()


async def lost(core: Core, group_id: int, rights: Collection[str]) -> None:
    """An action in a group failed for lack of `rights` (MissingRights)."""
    await _record(core, group_id, "lost", rights)


async def posted(core: Core, group: Group) -> None:
    """A post went through in a group: the rights to post are there again, if they were
    missing as the group was read (nothing is read or written when none were)."""
    if POSTING & set(parse(group.missing_rights)):
        await _record(core, group.id, "regained", POSTING)


async def found(core: Core, group_id: int, missing: Collection[str]) -> None:
    """The platform named everything the bot lacks in a group (its own check, or a link)."""
    await _record(core, group_id, "found", missing)


@routes.periodic("groups.recheck_rights", seconds=600)
async def recheck(core: Core) -> int:
    """Ask the platform again about groups known to lack rights, each at most hourly: the
    problem leaves the desk once someone has granted them. Returns how many were asked."""
    from bot.services.linking import bot_gone

    now = core.clock.now()
    async with core.uow() as uow:
        due = list(
            await uow.rights.due(
                [p.value for p in core.platforms], now - RECHECK_EVERY, RECHECK_BATCH
            )
        )
    for group in due:
        chat = ChatRef(Platform(group.platform), group.chat_id, False, group.title)
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                rights = await core.platform(chat.platform).check_rights(chat)
        except BotRemoved:
            await bot_gone(core, group.platform, group.chat_id)
            continue
        except (PlatformError, TimeoutError) as exc:
            log.info("group %s: rights not checked: %s", group.id, getattr(exc, "reason", exc))
            async with core.uow() as uow:
                await uow.rights.checked(group.id, now)
                await uow.commit()
            continue
        await found(core, group.id, rights.missing)
    return len(due)
