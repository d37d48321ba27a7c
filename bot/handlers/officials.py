"""Official BIN messages: /alert and its follow-ups for police and prevention, /status and
/alerts for them, /check for anyone, and Seen (button, reaction or /seen) for residents."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.args import parse_number
from bot.commands import Registry, Where
from bot.context import Ctx
from bot.events import ReactionAdded
from bot.handlers import photos as photo_handlers
from bot.handlers.common import numbers_text, zone_of
from bot.model import Rich, Role
from bot.services import alert_compose, alerts, photos
from bot.services import alert_render as render
from storage.alerts import SENT

if TYPE_CHECKING:
    from bot.dispatch import Core
    from storage.alert_writes import SeenOutcome
    from storage.tables import Alert
    from storage.uow import UnitOfWork

OFFICIALS = {Role.POLICE, Role.PREVENTION}

routes = Registry()


@routes.command("alert", help="help.alert", roles=OFFICIALS, where=Where.PRIVATE, order=20)
async def alert(ctx: Ctx, args: str) -> None:
    """Compose an official message; the role decides the urgency, never the author."""
    word = args.strip().lower()
    police = sorted(ctx.roles.zones(Role.POLICE))
    prevention = sorted(ctx.roles.zones(Role.PREVENTION))
    urgent, non_urgent = alert_compose.URGENT_WORDS, alert_compose.NON_URGENT_WORDS
    if word and word not in urgent | non_urgent:
        await ctx.reply("alerts.compose_args")
        return
    if word in urgent and not police:
        await ctx.audit("alert.compose", outcome="refused", reason="urgency")
        await ctx.reply("alerts.compose_refused_urgent")
        return
    if word in non_urgent and not prevention:
        await ctx.audit("alert.compose", outcome="refused", reason="urgency")
        await ctx.reply("alerts.compose_refused_non_urgent")
        return
    role = Role.POLICE if word in urgent or (not word and police) else Role.PREVENTION
    await alert_compose.start(ctx, role, police if role == Role.POLICE else prevention)


@routes.command(
    "update", help="help.update", roles=OFFICIALS, where=Where.PRIVATE, args="REF TEXT", order=21
)
async def update(ctx: Ctx, args: str) -> None:
    """Post an update as a reply to the message in every group it reached."""
    await follow_up(ctx, "update", args)


@routes.command(
    "resolve",
    help="help.resolve",
    roles=OFFICIALS,
    where=Where.PRIVATE,
    args="REF [TEXT]",
    order=22,
)
async def resolve(ctx: Ctx, args: str) -> None:
    """Post the all-clear as a reply to the message."""
    await follow_up(ctx, "resolve", args)


@routes.command(
    "withdraw", help="help.withdraw", roles=OFFICIALS, where=Where.PRIVATE, args="REF", order=23
)
async def withdraw(ctx: Ctx, args: str) -> None:
    """Withdraw a message: a notice as a reply, and the original removed where possible."""
    await follow_up(ctx, "withdraw", args)


async def follow_up(ctx: Ctx, kind: str, args: str, *, photo_id: int | None = None) -> None:
    """Check and store a follow-up (with a stored photo, for an update sent as one), then
    tell the author where it goes."""
    word, *rest = args.strip().split(maxsplit=1) or [""]
    ref, text = alerts.normalise_ref(word), "".join(rest).strip()
    if not alerts.visible(text):  # only spaces or zero-width characters: no text at all
        text = ""
    if ref is None or (kind == "update" and not text):
        await ctx.reply(f"alerts.{kind}_usage")
        return
    now = ctx.core.clock.now()
    async with ctx.core.uow() as uow:
        found = await uow.alerts.alert_by_ref(ref)
        if found is None:
            await ctx.audit(f"alert.{kind}", outcome="refused", reason="unknown_ref")
            await ctx.reply("alerts.unknown_ref", ref=ref)
            await uow.commit()
            return
        refusal = await _refusal(ctx, uow, found, kind, ref, text)
        if refusal is not None:
            await ctx.audit(
                f"alert.{kind}", outcome="refused", reason=refusal, zone_id=found.zone_id, ref=ref
            )
            await uow.commit()
            return
        posted = await alerts.follow_up(
            uow, found, kind, text or None, ctx.person.id, now, photo_id=photo_id
        )
        alert_id = found.id
        await uow.commit()
    values: dict[str, object] = {"ref": ref, "count": posted.groups}
    if kind == "withdraw":
        key = "alerts.withdraw_queued"
        values["cancelled"] = posted.cancelled
    else:
        key = "alerts.followup_queued" if posted.groups else "alerts.followup_no_groups"
        values["kind"] = ctx.t(f"alerts.kind_{kind}").plain
    # Stored: should the answer fail, the error answer says it is on its way all the same.
    ctx.done(key, **values)
    if kind == "withdraw":
        ctx.core.outbox.withdrawn(alert_id)
    ctx.core.outbox.wake()
    await ctx.send_rich(ctx.t(key, **values))
    if kind == "withdraw":  # its photos are not kept a moment longer than needed
        await photos.withdrawn(ctx.core, alert_id)


async def _refusal(
    ctx: Ctx, uow: UnitOfWork, found: Alert, kind: str, ref: str, text: str
) -> str | None:
    """Why this follow-up may not be posted (told to the author), or None when it may."""
    refused = await alerts.follow_up_refusal(ctx.core, uow, ctx.roles, found, kind, text)
    if refused is None:
        return None
    if refused.reason == "organisation":
        zone = await ctx.core.zone(found.zone_id, uow)
        assert zone is not None
        organisation = render.organisation(found.author_role, zone, ctx.lang)
        await ctx.reply("alerts.followup_refused", ref=ref, organisation=organisation)
    elif refused.reason == "too_long":
        await ctx.reply("alerts.followup_too_long", limit=refused.limit, length=refused.length)
    elif refused.reason in ("withdrawn", "resolved"):
        await ctx.reply(f"alerts.followup_{refused.reason}", ref=ref)
    else:  # "empty" and "kind" are answered with the usage before the message is looked up
        await ctx.reply(f"alerts.{kind}_usage")
    return refused.reason


@routes.command(
    "status", help="help.status", roles=OFFICIALS, where=Where.PRIVATE, args="REF", order=24
)
async def status(ctx: Ctx, args: str) -> None:
    """Delivery figures of one official message (how many saw it, never who)."""
    ref = alerts.normalise_ref(args)
    if ref is None:
        await ctx.reply("alerts.status_usage")
        return
    now = ctx.core.clock.now()
    body = None
    async with ctx.core.uow() as uow:
        found = await uow.alerts.alert_by_ref(ref)
        if found is not None and alerts.may_see(ctx.roles, found):
            body, _ = await alerts.status_of(uow, found, ctx.lang, ctx.prefix, now)
    if body is not None:
        await ctx.send_rich(body)
        return
    if found is None:
        await ctx.reply("alerts.unknown_ref", ref=ref)
        return
    await ctx.audit("alert.status", outcome="refused", reason="zone", ref=ref)
    await ctx.reply("alerts.status_refused")


@routes.command("alerts", help="help.alerts", roles=OFFICIALS, where=Where.PRIVATE, order=25)
async def recent(ctx: Ctx, args: str) -> None:
    """The zone's recent official messages, with their state and figures."""
    now = ctx.core.clock.now()
    zone_ids = ctx.roles.zones(Role.POLICE, Role.PREVENTION)
    lines: list[Rich] = []
    async with ctx.core.uow() as uow:
        ar = uow.alerts
        zones = {z.id: z for z in await uow.directory.zones() if z.id in zone_ids}
        names = ", ".join(z.name for z in zones.values())
        found = list(await ar.recent(zone_ids, 10))
        for a in found:
            figs = render.figures(await ar.figures(a.id)).get(None, render.Figures())
            zone = zones[a.zone_id]
            lines.append(
                ctx.t(
                    "alerts.list_item",
                    ref=a.ref,
                    time=render.when(a.created_at, zone, ctx.lang),
                    urgency=render.urgency_name(a.urgency, ctx.lang),
                    category=render.category_name(a.category, ctx.lang),
                    state=render.state_name(render.state_of(a, now), ctx.lang),
                    delivered=sum(figs.delivered.values()),
                    total=figs.total - figs.cancelled,
                    seen=await ar.seen_count(a.id),
                )
            )
    if not found:
        await ctx.reply("alerts.list_empty", zone=names)
        return
    await ctx.send_rich(Rich.join([ctx.t("alerts.list_title", zone=names), *lines]))


@routes.command("check", help="help.check", where=Where.PRIVATE, args="REF", order=10)
async def check(ctx: Ctx, args: str) -> None:
    """Is official message REF genuine, from whom, and is it still current?"""
    typed = args.strip()
    if not typed:
        await ctx.reply("alerts.check_usage")
        return
    ref = alerts.normalise_ref(typed)
    now = ctx.core.clock.now()
    found = None
    if ref:
        async with ctx.core.uow() as uow:
            found = await uow.alerts.alert_by_ref(ref)
    zone = await ctx.core.zone(found.zone_id) if found else None
    if found is None or zone is None:
        shown = ref or typed[:20]
        numbers = numbers_text(ctx, await zone_of(ctx))
        await ctx.send_rich(Rich.join([ctx.t("alerts.check_unknown", ref=shown), numbers]))
        return
    state = render.state_of(found, now)
    parts = [
        ctx.t(
            "alerts.check_genuine",
            ref=found.ref,
            organisation=render.organisation(found.author_role, zone, ctx.lang),
            time=render.when(found.release_at, zone, ctx.lang),
            category=render.category_name(found.category, ctx.lang),
            state=render.state_name(state, ctx.lang),
        )
    ]
    if state in ("active", "updated"):
        parts.append(
            ctx.t("alerts.check_valid_until", time=render.when(found.valid_until, zone, ctx.lang))
        )
    await ctx.send_rich(Rich.join(parts))
    await photo_handlers.send_back(ctx, found)


@routes.command("seen", help="help.seen", args="REF", order=11)
async def seen(ctx: Ctx, args: str) -> None:
    """Mark an official message as read, where the platform has no Seen button."""
    ref = alerts.normalise_ref(args)
    if ref is None:
        await _answer_privately(ctx, "alerts.seen_usage")
        return
    async with ctx.core.uow() as uow:
        found = await uow.alerts.alert_by_ref(ref)
        allowed = found is not None and await _reached(ctx, uow, found.id)
        outcome: SeenOutcome = "closed"
        if allowed and found is not None:
            outcome = await alerts.record_seen(uow, found.id, ctx.person.id, ctx.core.clock.now())
            await uow.commit()
    if not allowed:
        await _answer_privately(ctx, "alerts.seen_unknown", ref=ref)
    else:
        await _answer_privately(ctx, alerts.SEEN_ANSWERS[outcome], ref=ref)


async def _reached(ctx: Ctx, uow: UnitOfWork, alert_id: int) -> bool:
    """Whether the message reached this group (said in a group) or one of this person's
    BINs (said privately)."""
    if ctx.group is not None and not ctx.chat.is_private:
        original = await uow.alerts.original_in(alert_id, ctx.group.id)
        return original is not None and original.status == SENT
    mine = {m.bin_id for m in await uow.groups.memberships_of(ctx.person.id)}
    return bool(mine & set(await uow.alerts.target_bins(alert_id)))


async def _answer_privately(ctx: Ctx, key: str, ref: str | None = None) -> None:
    """Answer in private: a group should not read every member's Seen."""
    if ctx.chat.is_private:
        await ctx.reply(key, ref=ref)
    else:
        await ctx.core.notify_person(ctx.person.id, key, ref=ref)


@routes.button("seen")
async def seen_button(ctx: Ctx, payload: str) -> None:
    """The Seen button under an official message: counted once per person; the presser alone
    gets a pop-up where the platform has one."""
    alert_id = parse_number(payload)
    if ctx.chat.is_private or not isinstance(alert_id, int):
        await ctx.audit("alert.seen", outcome="refused", reason="payload")
        return
    async with ctx.core.uow() as uow:
        ar = uow.alerts
        delivery = None
        if ctx.message_id is not None:
            delivery = await ar.delivery_by_message(
                ctx.platform.value, ctx.chat.chat_id, ctx.message_id
            )
        elif ctx.group is not None:
            delivery = await ar.original_in(alert_id, ctx.group.id)
        found = await ar.alert(alert_id)
        outcome: SeenOutcome = "closed"
        if delivery is not None and delivery.alert_id == alert_id and found is not None:
            outcome = await alerts.record_seen(uow, alert_id, ctx.person.id, ctx.core.clock.now())
            await uow.commit()
        else:
            found = None
    if found is None:
        # Data comes back from the platform untrusted: a forged or stale press counts nothing.
        await ctx.audit("alert.seen", outcome="refused", reason="no_such_message")
        await ctx.notice("core.button_expired")
        return
    # Only the presser sees it (a pop-up); where there is none, the press counts silently.
    await ctx.notice(alerts.SEEN_ANSWERS[outcome], ref=found.ref)


@routes.on(ReactionAdded)
async def reacted(core: Core, event: ReactionAdded) -> None:
    """A reaction on an official message (Matrix has no buttons) counts as Seen."""
    if event.chat.is_private:
        return
    async with core.uow() as uow:
        delivery = await uow.alerts.delivery_by_message(
            event.chat.platform.value, event.chat.chat_id, event.message_id
        )
    if delivery is None:
        return  # a reaction to anything else is none of our business
    ctx = await core.context(event.chat, event.sender, event.message_id)
    async with core.uow() as uow:
        await alerts.record_seen(uow, delivery.alert_id, ctx.person.id, core.clock.now())
        await uow.commit()
