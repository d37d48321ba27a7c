"""/nudges: a group's coordinator sets how readily the bot nudges towards 101 there, and may
try a sample text in a private chat to see how the bot reads it and why.

The sample text is classified in memory and answered; it is neither stored nor logged, and
the words shown are the coordinator's own.
"""

from __future__ import annotations

from bot.context import Ctx
from bot.model import Role
from bot.nudge import SENSITIVITIES, Sensitivity, default_model
from bot.services.nudges import sensitivity_of

# The levels by their English names, and as people may write them in nl, fr and de.
LEVELS: dict[str, Sensitivity] = {
    **{s: s for s in SENSITIVITIES},
    **{"uit": "off", "laag": "low", "normaal": "normal", "hoog": "high"},
    **{"non": "off", "bas": "low", "haut": "high", "eleve": "high", "élevé": "high"},
    **{"aus": "off", "niedrig": "low", "hoch": "high"},
}
SHOWN_WORDS = 5


async def command(ctx: Ctx, args: str) -> None:
    """Show or set the group's sensitivity, or (privately) explain a sample text."""
    word, _, rest = args.strip().partition(" ")
    if word.casefold() == "test":
        if ctx.chat.is_private:
            await explain(ctx, rest.strip())
        else:
            await ctx.reply("nudges.test_in_private")
        return
    if ctx.chat.is_private:
        await ctx.reply("nudges.private_usage")
        return
    group = ctx.group
    if group is None or not group.active:
        await ctx.reply("groups.not_linked")
        return
    if group.bin_id not in ctx.roles.bins(Role.COORDINATOR):
        await ctx.audit(
            "group.nudges", outcome="refused", reason="not_coordinator", group=group.id
        )
        await ctx.reply("nudges.refused")
        return
    if not word:
        level = sensitivity_of(group)
        await ctx.reply("nudges.show", level=level, meaning=ctx.t(f"nudges.level_{level}").plain)
        return
    chosen = LEVELS.get(word.casefold())
    if chosen is None:
        await ctx.reply("nudges.usage")
        return
    await set_sensitivity(ctx, group.id, chosen)
    await ctx.reply("nudges.set", level=chosen, meaning=ctx.t(f"nudges.level_{chosen}").plain)


async def set_sensitivity(ctx: Ctx, group_id: int, level: Sensitivity) -> None:
    """Store a group's sensitivity, with an audit entry (one transaction)."""
    async with ctx.core.uow() as uow:
        row = await uow.groups.group(group_id)
        assert row is not None
        before, row.nudge_sensitivity = row.nudge_sensitivity, level
        await uow.audit.record(
            ctx.core.clock.now(),
            ctx.actor,
            "group.nudges",
            bin_id=row.bin_id,
            group=row.id,
            before=before,
            after=level,
        )
        await uow.commit()


async def explain(ctx: Ctx, text: str) -> None:
    """How the bot would read `text`: the decision, at which levels it nudges, and why."""
    if not text:
        await ctx.reply("nudges.private_usage")
        return
    model = default_model()
    decision = model.decide(text)
    levels = [s for s in SENSITIVITIES if model.decide(text, s).nudges]
    words = model.explain(text, top=SHOWN_WORDS)
    await ctx.reply(
        "nudges.test",
        verdict=ctx.t(f"nudges.verdict_{decision.kind}").plain,
        chance=round(100 * decision.nudge),
        levels=", ".join(levels) if levels else ctx.t("nudges.levels_none").plain,
        words=", ".join(w.word for w in words) if words else "–",
    )
