"""Linking a group to a BIN: greet, link (rules pinned, approval-only), unlink, and follow
the group when the bot is removed or the group moves to a new id."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot import texts
from bot.context import Ctx
from bot.model import LANGUAGES, ChatRef, MessageRef, Outgoing, Platform, Rich, Role, UserRef
from bot.ports import MissingRights, PlatformError
from bot.services import bin_settings, group_rights
from bot.services.audience import (
    MAX_SHOWN_WORD,
    bin_and_zone,
    chat_of,
    group_language,
    post,
    prefix_for,
    rights_text,
    shorten,
    tell,
    tell_coordinators,
    title_of,
)
from bot.services.rules import mark_reminded, rules_text

if TYPE_CHECKING:
    from bot.dispatch import Core
    from storage.tables import Bin, Group, Zone

log = logging.getLogger(__name__)


async def greet(core: Core, chat: ChatRef, by: UserRef | None) -> None:
    """Say hello in a group the bot was added to, and how it becomes a BIN group."""
    async with core.uow() as uow:
        group = await uow.groups.group_by_chat(chat.platform, chat.chat_id)
        if group is not None and group.active:
            key, lang = "groups.greeting_linked", await group_language(uow, group)
            values = {"bin": (await bin_and_zone(uow, group.bin_id))[0].name}
        else:
            # Not linked yet: the language of whoever added the bot, as far as it is known.
            ident = await uow.people.identity(by.platform, by.user_id) if by else None
            key, values = "groups.greeting", {}
            if ident is not None:
                lang = await core.person_language(uow, ident.person_id)
            else:
                lang = (by.language_hint if by else None) or core.config.default_language
    lang = lang if lang in LANGUAGES else core.config.default_language
    body = texts.rich(key, lang, p=prefix_for(chat.platform), **values)
    try:
        await core.platform(chat.platform).send(chat, Outgoing(body))
    except PlatformError as exc:
        log.info("greeting a new group failed: %s", exc.reason)


async def _chosen_bin(ctx: Ctx, word: str) -> Bin | None:
    """The BIN a coordinator means by `word` (or their only BIN); answers when there is none."""
    mine = ctx.roles.bins(Role.COORDINATOR)
    async with ctx.core.uow() as uow:
        named = await uow.directory.find_bin(word) if word else None
        bins = [b for b in await uow.directory.bins() if b.id in mine]
    if word and named is None:
        await ctx.reply("groups.unknown_bin", word=shorten(word, MAX_SHOWN_WORD))
        return None
    if named is not None and named.id not in mine:
        await ctx.audit("group.link", outcome="refused", reason="not_coordinator", bin_id=named.id)
        await ctx.reply("groups.link_not_your_bin", bin=named.name)
        return None
    chosen = named if named is not None else bins[0] if len(bins) == 1 else None
    if chosen is not None and chosen.archived_at is not None:
        await ctx.audit("group.link", outcome="refused", reason="archived", bin_id=chosen.id)
        await ctx.reply("bins.link_archived", bin=chosen.name)
        return None
    if chosen is not None:
        return chosen
    await ctx.reply("groups.link_which", codes=", ".join(b.code for b in bins))
    return None


@dataclass(frozen=True)
class Linked:
    """A group just linked (committed), before the rules are posted."""

    group: Group
    zone: Zone
    lang: str
    rules_id: str | None = None  # the rules already posted there (linked again to finish)


@dataclass(frozen=True)
class Elsewhere:
    """The group is linked to another BIN already."""

    bin_name: str


@dataclass(frozen=True)
class Already:
    """The group is linked to this BIN already, its rules posted: nothing to do."""


@dataclass
class Setup:
    """What posting the rules and securing the group gave."""

    rules_id: str | None = None
    pinned: bool = False
    invite_link: str | None = None
    missing: list[str] = field(default_factory=list)
    checked: bool = False  # the platform named all it lacks (securing the group answered)


async def link(ctx: Ctx, args: str) -> None:
    """Make this group a group of the coordinator's BIN, with its rules pinned."""
    b = await _chosen_bin(ctx, args.strip())
    if b is None:
        return
    linked = await _record_link(ctx, b)
    if isinstance(linked, Elsewhere):
        await ctx.reply("groups.link_elsewhere", bin=linked.bin_name)
        return
    if isinstance(linked, Already):
        await ctx.reply("groups.link_already", bin=b.name)
        return
    ctx.lang = linked.lang
    ctx.done("groups.done_linked", bin=b.name)
    setup = await _set_up(ctx, b, linked)
    async with ctx.core.uow() as uow:
        invite_link = await uow.groups.set_group_setup(
            linked.group.id, setup.rules_id, setup.invite_link
        )
        await uow.commit()
    # What the link found lacking stays on the desk until it is granted.
    if setup.checked:
        await group_rights.found(ctx.core, linked.group.id, setup.missing)
    elif setup.missing:
        await group_rights.lost(ctx.core, linked.group.id, setup.missing)
    title = shorten(linked.group.title or b.name, MAX_SHOWN_WORD)
    await _report_link(ctx, b, title, setup, invite_link)


async def _record_link(ctx: Ctx, b: Bin) -> Linked | Elsewhere | Already:
    """Link the chat to BIN `b` (audited, this period's reminder counted as given)."""
    now = ctx.core.clock.now()
    async with ctx.core.uow() as uow:
        group = await uow.groups.group_by_chat(ctx.chat.platform, ctx.chat.chat_id)
        # Linking again to the same BIN changes nothing once the rules are posted and the group
        # is approval-only; until then (the bot lacked a right) it finishes what is missing,
        # without posting the rules a second time.
        same = group is not None and group.active and group.bin_id == b.id
        kept_rules = group.rules_message_id if same and group is not None else None
        if same and group is not None and group.rules_message_id and group.invite_link:
            await ctx.audit(
                "group.link",
                outcome="refused",
                reason="already_linked",
                bin_id=b.id,
                group=group.id,
            )
            await uow.commit()
            return Already()
        if group is not None and group.active and group.bin_id != b.id:
            other, _ = await bin_and_zone(uow, group.bin_id)
            await ctx.audit(
                "group.link",
                outcome="refused",
                reason="linked_elsewhere",
                bin_id=b.id,
                group=group.id,
            )
            await uow.commit()
            return Elsewhere(other.name)
        group = await uow.groups.link_group(
            ctx.chat.platform.value,
            ctx.chat.chat_id,
            b.id,
            ctx.chat.title or "",
            ctx.person.id,
            now,
        )
        _, zone = await bin_and_zone(uow, b.id)
        # A new group reads its BIN's language (else the zone's) until it chooses its own.
        lang = await group_language(uow, group)
        await ctx.audit("group.link", zone_id=zone.id, bin_id=b.id, group=group.id)
        await mark_reminded(uow, group.id, bin_settings.of(zone, b), now)
        await uow.commit()
    return Linked(group, zone, lang, kept_rules)


async def _set_up(ctx: Ctx, b: Bin, linked: Linked) -> Setup:
    """Post and pin the rules, and make the group approval-only: what that gave."""
    platform = ctx.core.platform(ctx.chat.platform)
    group, zone, setup = linked.group, linked.zone, Setup()
    try:
        if linked.rules_id is not None:
            ref = MessageRef(chat_of(group), linked.rules_id)
        else:
            ref, _ = await post(
                ctx.core, group, lambda lg, p: rules_text(b, zone, lg, p), lang=linked.lang
            )
        setup.rules_id = ref.message_id
        if platform.capabilities.pin:
            await platform.pin(ref)
            setup.pinned = True
    except MissingRights as exc:
        setup.missing.extend(exc.rights)
    except PlatformError as exc:
        log.warning("posting the rules in group %s failed: %s", group.id, exc.reason)
    try:
        secured = await platform.secure_group(ctx.chat)
        setup.missing.extend(secured.rights.missing)
        setup.invite_link = secured.invite_link
        setup.checked = True
    except MissingRights as exc:
        setup.missing.extend(exc.rights)
    except PlatformError as exc:
        log.warning("securing group %s failed: %s", group.id, exc.reason)
    return setup


async def _report_link(
    ctx: Ctx, b: Bin, title: str, setup: Setup, invite_link: str | None
) -> None:
    """Tell the coordinator privately what the link gave, and what failed: the rules posted
    (or not) and pinned (or not), the invite link, the rights lacking."""
    missing = setup.missing
    if setup.rules_id is None:
        key = "groups.link_done_no_rules"
    elif setup.pinned or not ctx.core.platform(ctx.chat.platform).capabilities.pin:
        key = "groups.link_done"
    else:
        key = "groups.link_done_not_pinned"

    def body(lang: str, prefix: str) -> Rich:
        parts = [texts.rich(key, lang, p=prefix, group=title, bin=b.name)]
        if invite_link:
            parts.append(texts.rich("groups.link_invite", lang, p=prefix, link=invite_link))
        if missing:
            parts.append(
                texts.rich(
                    "groups.link_missing_rights", lang, p=prefix, rights=rights_text(missing, lang)
                )
            )
        return Rich.join(parts)

    await tell(ctx.core, ctx.person.id, body)


async def unlink(ctx: Ctx) -> None:
    """Stop this group being a BIN group (coordinators of its BIN only)."""
    group = ctx.group
    if group is None or not group.active:
        await ctx.reply("groups.not_linked")
        return
    if group.bin_id not in ctx.roles.bins(Role.COORDINATOR):
        await ctx.audit(
            "group.unlink",
            outcome="refused",
            reason="not_coordinator",
            bin_id=group.bin_id,
            group=group.id,
        )
        await ctx.reply("groups.unlink_refused")
        return
    now = ctx.core.clock.now()
    async with ctx.core.uow() as uow:
        row = await uow.groups.group(group.id)
        assert row is not None
        row.active, row.unlinked_at, row.inactive_reason = False, now, "unlinked"
        b, zone = await bin_and_zone(uow, row.bin_id)
        await ctx.audit("group.unlink", zone_id=zone.id, bin_id=b.id, group=row.id)
        await ctx.reply("groups.unlinked", bin=b.name)
        await uow.commit()


async def bot_gone(core: Core, platform: str, chat_id: str) -> None:
    """The bot is out of a group: the link turns inactive and the coordinators are told."""
    now = core.clock.now()
    async with core.uow() as uow:
        group = await uow.groups.group_by_chat(platform, chat_id)
        if group is None or not group.active:
            return
        group.active, group.unlinked_at, group.inactive_reason = False, now, "bot_removed"
        b, zone = await bin_and_zone(uow, group.bin_id)
        await uow.audit.record(
            now, "system", "group.bot_removed", zone_id=zone.id, bin_id=b.id, group=group.id
        )
        title = title_of(group)
        await tell_coordinators(core, b.id, "groups.bot_removed", group=title, bin=b.name)
        await uow.commit()
    log.info("bot removed from group %s; link inactive", group.id)


async def migrated(core: Core, platform: Platform, old_id: str, new_id: str) -> None:
    """Follow a group to its new id (a Telegram group that became a supergroup)."""
    async with core.uow() as uow:
        group = await uow.groups.group_by_chat(platform.value, old_id)
        if group is None:
            return
        clash = await uow.groups.group_by_chat(platform.value, new_id)
        if clash is not None:
            # The new id was recorded on its own already; the old row can only mislead.
            group.active, group.inactive_reason = False, "migrated"
            log.info("group %s migrated onto known group %s", group.id, clash.id)
            await uow.commit()
            return
        group.chat_id = new_id
        group.invite_link = None  # links of the old group do not open the new one
        await uow.commit()
    log.info("group %s migrated to a new chat id", group.id)
    if not group.active:
        return
    try:
        setup = await core.platform(platform).secure_group(chat_of(group))
    except PlatformError as exc:
        log.warning("securing migrated group %s failed: %s", group.id, exc.reason)
        return
    async with core.uow() as uow:
        await uow.groups.set_group_setup(group.id, None, setup.invite_link)
        await uow.commit()
    await group_rights.found(core, group.id, setup.rights.missing)
