"""Commands for anyone: /start, /help, /redeem, /numbers, /language."""

from __future__ import annotations

import functools
import math
from datetime import timedelta
from typing import TYPE_CHECKING

from bot import texts
from bot.commands import Command, Registry
from bot.context import Ctx
from bot.model import LANGUAGES, Rich, Role
from bot.services import invites, join_find

if TYPE_CHECKING:
    from storage.tables import Zone
    from storage.uow import UnitOfWork

routes = Registry()

MAX_ZONES_LISTED = 40  # /numbers stays one message in a deployment serving many zones


@routes.command("start", help="help.start", args="[CODE]", order=1)
async def start(ctx: Ctx, args: str) -> None:
    """Greet; with a code (Telegram deep links carry one), redeem it; with `join-CODE` (a
    BIN's public join link), ask to join that BIN as `/join CODE` does."""
    code = join_find.deep_link_code(args)
    if code is not None:
        if not ctx.chat.is_private:
            await ctx.reply("core.use_private", command="join")
            return
        await join_find.ask(ctx, code)
        return
    if args.strip():
        await redeem_here(ctx, args, command="start")
        return
    await ctx.reply("core.welcome")
    await help_(ctx, "")


@routes.command("help", help="help.help", order=2)
async def help_(ctx: Ctx, args: str) -> None:
    """List what this person may do, generated from the registry."""
    commands = tuple(ctx.core.registry.visible_to(ctx.roles.kinds))
    await ctx.send_rich(help_text(commands, ctx.roles.kinds, ctx.lang, ctx.prefix))


@functools.lru_cache(maxsize=256)
def help_text(
    commands: tuple[Command, ...], kinds: frozenset[Role], lang: str, prefix: str
) -> Rich:
    """The /help answer listing `commands` to someone holding `kinds` (the same for all)."""

    def t(key: str, **values: object) -> Rich:
        return texts.rich(key, lang, p=prefix, **values)

    lines = [t("core.help_title")]
    for cmd in commands:
        usage = f"{prefix}{cmd.name}" + (f" {cmd.args}" if cmd.args else "")
        lines.append(Rich.of("• ") + Rich.of(usage) + Rich.of(" — ") + t(cmd.help_key))
    if kinds:
        names = ", ".join(sorted(texts.text("role." + r.value, lang) for r in kinds))
        lines.append(t("core.help_roles", roles=names))
    lines.append(t("core.help_footer"))
    return Rich.join(lines)


# Allowed anywhere so that a code typed in a group is seen, and made void (never redeemed).
@routes.command("redeem", help="help.redeem", args="CODE", order=3)
async def redeem_command(ctx: Ctx, args: str) -> None:
    """Redeem a role invite (in private; in a group the code is made void)."""
    await redeem_here(ctx, args, command="redeem")


async def redeem_here(ctx: Ctx, args: str, *, command: str) -> None:
    """Redeem a code typed in a private chat; in a group, void it if it is one."""
    if ctx.chat.is_private:
        await redeem(ctx, args)
    elif not await invites.void_if_shown(ctx, args.strip(), typed_code=True):
        await ctx.reply("core.use_private", command=command)


async def redeem(ctx: Ctx, args: str) -> None:
    """Redeem a role invite, in a private chat."""
    code = args.strip()
    if not code:
        await ctx.reply("core.redeem_usage")
        return
    now = ctx.core.clock.now()
    cfg = ctx.core.config
    async with ctx.core.uow() as uow:
        result = await invites.redeem(
            uow,
            ctx.person.id,
            code,
            now,
            max_failures=cfg.redeem_max_failures,
            lockout=timedelta(minutes=cfg.redeem_lockout_minutes),
        )
        scope = await _scope(uow, result)
        await uow.commit()
    if result.outcome == invites.Redeemed.LOCKED:
        assert result.retry_at is not None
        minutes = max(1, math.ceil((result.retry_at - now).total_seconds() / 60))
        await ctx.reply("core.redeem_locked", minutes=minutes)
        return
    if result.outcome == invites.Redeemed.REFUSED:
        await ctx.reply("core.redeem_refused")
        return
    # The new role may bring a zone and with it a language: answer in that one.
    fresh = await ctx.core.context(ctx.chat, ctx.sender, ctx.message_id)
    role = texts.text("role." + (result.role or ""), fresh.lang)
    if result.outcome == invites.Redeemed.OK:
        fresh.done("core.done_role_granted", role=role, scope=scope)
        await fresh.reply("core.redeem_ok", role=role, scope=scope)
        await help_(fresh, "")
    else:
        await fresh.reply("core.redeem_already", role=role, scope=scope)


async def _scope(uow: UnitOfWork, result: invites.RedeemResult) -> str:
    """The name of the zone or BIN a redeemed role is held in ("" when none)."""
    if result.bin_id is not None:
        b = await uow.directory.bin(result.bin_id)
        return b.name if b else ""
    if result.zone_id is not None:
        zone = await uow.directory.zone(result.zone_id)
        return zone.name if zone else ""
    return ""


async def _zone_ids(ctx: Ctx) -> set[int]:
    """The zones this conversation may be about: the group's, else the person's."""
    bin_ids: set[int] = set()
    if ctx.group is not None:
        bin_ids = {ctx.group.bin_id}
    zone_ids = ctx.roles.zones(Role.POLICE, Role.PREVENTION) if not bin_ids else set()
    if not bin_ids and not zone_ids:
        bin_ids = ctx.roles.bins(Role.COORDINATOR, Role.MEMBER)
    for bin_id in bin_ids:
        b = await ctx.core.bin(bin_id)
        if b is not None:
            zone_ids.add(b.zone_id)
    return zone_ids


async def _served(ctx: Ctx) -> list[Zone]:
    """Every zone this deployment serves."""
    async with ctx.core.uow() as uow:
        return list(await uow.directory.zones())


async def zone_of(ctx: Ctx) -> Zone | None:
    """The zone this conversation is about: the group's, else the person's (if only one),
    else the deployment's (if it serves only one)."""
    zone_ids = await _zone_ids(ctx)
    if not zone_ids:
        zone_ids = {z.id for z in await _served(ctx)}
    if len(zone_ids) != 1:
        return None
    return await ctx.core.zone(zone_ids.pop())


def numbers_text(ctx: Ctx, zone: Zone | None) -> Rich:
    """The numbers to call and when, for a zone (or the national ones)."""
    if zone is None:
        return ctx.t("core.numbers_national")
    parts = [
        ctx.t(
            "core.numbers_zone",
            zone=zone.name,
            urgent=zone.urgent_number,
            emergency=zone.emergency_number,
        )
    ]
    if zone.non_urgent_number:
        parts.append(ctx.t("core.numbers_non_urgent", number=zone.non_urgent_number))
    parts.append(ctx.t("core.numbers_not_a_service"))
    return Rich.join(parts)


def zones_text(ctx: Ctx, zones: list[Zone]) -> Rich:
    """The numbers of several zones, one line each (the first `MAX_ZONES_LISTED`)."""
    lines = [ctx.t("core.numbers_zones_title")]
    for zone in sorted(zones, key=lambda z: z.name.casefold())[:MAX_ZONES_LISTED]:
        if zone.non_urgent_number:
            lines.append(
                ctx.t(
                    "core.numbers_zone_line",
                    zone=zone.name,
                    urgent=zone.urgent_number,
                    number=zone.non_urgent_number,
                )
            )
        else:
            lines.append(
                ctx.t("core.numbers_zone_line_urgent", zone=zone.name, urgent=zone.urgent_number)
            )
    if len(zones) > MAX_ZONES_LISTED:
        lines.append(ctx.t("core.numbers_zones_more", count=len(zones) - MAX_ZONES_LISTED))
    return Rich.join(lines)


@routes.command("numbers", help="help.numbers", order=4)
async def numbers(ctx: Ctx, args: str) -> None:
    """101, 112, the zone's non-urgent number, and when to use which."""
    zone = await zone_of(ctx)
    if zone is not None:
        await ctx.send_rich(numbers_text(ctx, zone))
        return
    # Several zones it may be about: each with its numbers (the national ones when none).
    zone_ids = await _zone_ids(ctx)
    zones = [z for z in await _served(ctx) if not zone_ids or z.id in zone_ids]
    parts = [numbers_text(ctx, None)]
    if zones:
        parts.append(zones_text(ctx, zones))
    await ctx.send_rich(Rich.join(parts))


@routes.command("language", help="help.language", args="nl|fr|de|en", order=90)
async def language(ctx: Ctx, args: str) -> None:
    """Choose your language (in a group, coordinators of its BIN choose the group's)."""
    choice = args.strip().lower()
    if choice not in LANGUAGES:
        names = ", ".join(f"{k} ({v})" for k, v in texts.language_names().items())
        await ctx.reply("core.language_usage", choices=names)
        return
    if ctx.group is not None and not ctx.chat.is_private:
        await _group_language(ctx, choice)
        return
    async with ctx.core.uow() as uow:
        person = await uow.people.person(ctx.person.id)
        assert person is not None
        person.language = choice
        await uow.commit()
    ctx.lang = choice
    await ctx.reply("core.language_set")


async def _group_language(ctx: Ctx, choice: str) -> None:
    """Set a group's language: for coordinators of its BIN only."""
    assert ctx.group is not None
    if ctx.group.bin_id not in ctx.roles.bins(Role.COORDINATOR):
        await ctx.audit("group.language", outcome="refused", reason="role")
        await ctx.reply("core.language_group_refused")
        return
    async with ctx.core.uow() as uow:
        group = await uow.groups.group_by_chat(ctx.chat.platform, ctx.chat.chat_id)
        assert group is not None
        group.language = choice
        await ctx.audit("group.language", bin_id=group.bin_id, group=group.id, language=choice)
        await uow.commit()
    ctx.lang = choice
    await ctx.reply("core.language_group_set")


@routes.command("cancel", help="help.cancel", order=5)
async def cancel(ctx: Ctx, args: str) -> None:
    """End the conversation in progress (composing a message, a confirmation, ...)."""
    if not await ctx.core.conversations.cancel(ctx):
        await ctx.reply("core.nothing_to_cancel")
