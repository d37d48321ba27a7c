"""What the bot holds on a person (/mydata), and erasing it on request (/forgetme).

Erasing keeps only what the audit log already holds: a pseudonymous id with no way back to
the person, since the person row that linked the two is gone.
"""

from __future__ import annotations

import logging
import unicodedata
from typing import TYPE_CHECKING

from bot import texts
from bot.context import Ctx
from bot.conversation import Conversation
from bot.model import Button, Rich, Role
from bot.services import nudges
from bot.services.audience import label, status_word
from bot.services.joins import question_text
from bot.services.membership import close, remove_from_groups
from storage.groups import OPEN_STATUSES, GroupRepo

if TYPE_CHECKING:
    from bot.dispatch import Core

log = logging.getLogger(__name__)

# Words accepted as an answer, in any of the four languages (buttons send "yes"/"no").
YES = {"yes", "y", "ja", "j", "oui", "o", "jawel", "jawohl"}
NO = {"no", "n", "nee", "neen", "non", "nein"}


def _date(value: object) -> str:
    return value.date().isoformat() if hasattr(value, "date") else "-"


async def mydata(ctx: Ctx) -> None:
    """Show every record the bot holds on the person asking."""
    pid = ctx.person.id
    async with ctx.core.tx() as repo:
        groups = GroupRepo(repo.session)
        person = await repo.person(pid)
        assert person is not None
        idents = await repo.identities_of(pid)
        grants = await repo.grants_of(pid)
        members = await groups.memberships_of(pid, active=False)
        requests = await groups.requests_of(pid)
        counts = await groups.counts_for(person)
    bin_ids = {g.bin_id for g in grants} | {m.bin_id for m in members}
    bin_ids |= {r.bin_id for r in requests}
    bins = {i: b.name for i in bin_ids if i is not None and (b := await ctx.core.bin(i))}
    zone_ids = {g.zone_id for g in grants if g.zone_id is not None}
    zones = {i: z.name for i in zone_ids if (z := await ctx.core.zone(i))}
    t = ctx.t
    lines = [t("groups.mydata_title")]
    language = texts.language_names().get(person.language or "", "-")
    lines.append(
        t(
            "groups.mydata_person",
            pseudonym=person.pseudonym,
            since=_date(person.created_at),
            language=language,
        )
    )
    for ident in idents:
        lines.append(
            t(
                "groups.mydata_identity",
                platform=ident.platform.capitalize(),
                name=ident.display_name or "-",
                user_id=ident.user_id,
            )
        )
    for g in grants:
        scope = bins.get(g.bin_id or 0) or zones.get(g.zone_id or 0) or "-"
        lines.append(
            t(
                "groups.mydata_role",
                role=texts.text("role." + g.role, ctx.lang),
                scope=scope,
                since=_date(g.granted_at),
            )
        )
    for m in members:
        lines.append(
            t(
                "groups.mydata_membership",
                bin=bins.get(m.bin_id, "?"),
                status=status_word(m.status, ctx.lang),
                since=_date(m.joined_at),
            )
        )
    for r in requests:
        lines.append(
            t(
                "groups.mydata_request",
                n=r.id,
                bin=bins.get(r.bin_id, "?"),
                status=status_word(r.status, ctx.lang),
                date=_date(r.created_at),
            )
        )
        for question, answer in (r.answers or {}).items():
            lines.append(
                t(
                    "groups.request_answer",
                    question=question_text(question, ctx.lang),
                    answer=answer,
                )
            )
    if not (grants or members or requests):
        lines.append(t("groups.mydata_nothing_else"))
    lines.append(t("groups.mydata_counts", seen=counts.seen, audit=counts.audit))
    if counts.groups_linked or counts.requests_decided or counts.alerts_written:
        lines.append(
            t(
                "groups.mydata_work",
                groups=counts.groups_linked,
                requests=counts.requests_decided,
                alerts=counts.alerts_written,
            )
        )
    lines.append(t("groups.mydata_footer"))
    await ctx.send_rich(Rich.join(lines))


class ForgetMe(Conversation):
    """Confirm before erasing: a button or a word in any of the four languages."""

    name = "privacy.forget"


async def _confirm(conv: Conversation, ctx: Ctx, answer: str) -> str | None:
    word = "".join(ch for ch in unicodedata.normalize("NFKD", answer.casefold()) if ch.isalpha())
    if word in YES:
        await erase(ctx)
        return None
    if word in NO:
        await ctx.reply("groups.forget_kept")
        return None
    await ctx.reply("groups.forget_again")
    return "confirm"


ForgetMe.steps = {"confirm": _confirm}


async def ask_forget(ctx: Ctx) -> None:
    """Ask the person to confirm that everything about them is to be erased."""
    async with ctx.core.tx() as repo:
        members = await GroupRepo(repo.session).memberships_of(ctx.person.id)
        bins = [b.name for m in members if (b := await repo.bin(m.bin_id)) is not None]
    parts = [ctx.t("groups.forget_question")]
    if bins:
        parts.append(ctx.t("groups.forget_leaves", bins=", ".join(bins)))
    if ctx.roles.kinds - {Role.MEMBER}:
        parts.append(ctx.t("groups.forget_roles"))
    with_buttons = ctx.core.platform(ctx.platform).capabilities.buttons
    parts.append(ctx.t("groups.forget_how_buttons" if with_buttons else "groups.forget_how_words"))
    buttons = [
        [
            Button(label("groups.button_forget_yes", ctx.lang), "cv:yes"),
            Button(label("groups.button_forget_no", ctx.lang), "cv:no"),
        ]
    ]
    await ctx.send_rich(Rich.join(parts), buttons=buttons if with_buttons else ())
    expires = ctx.core.clock.now() + ctx.core.conversations.timeout()
    ctx.core.conversations.begin(ctx, ForgetMe("confirm", expires))


async def erase(ctx: Ctx) -> None:
    """Erase the person: out of the groups, requests withdrawn, every record deleted."""
    core = ctx.core
    pid, pseudonym = ctx.person.id, ctx.person.pseudonym
    async with core.tx() as repo:
        groups = GroupRepo(repo.session)
        bin_ids = [m.bin_id for m in await groups.memberships_of(pid)]
        open_ids = [r.id for r in await groups.requests_of(pid) if r.status in OPEN_STATUSES]
        accounts = {(i.platform, i.user_id) for i in await repo.identities_of(pid)}
    for bin_id in bin_ids:
        await remove_from_groups(core, pid, bin_id)
    for request_id in open_ids:
        await close(core, request_id, "withdrawn", from_statuses=OPEN_STATUSES)
    async with core.tx() as repo:
        await GroupRepo(repo.session).erase_person(pid)
        await repo.audit(core.clock.now(), pseudonym, "person.forget")
    _forget_in_memory(core, pid, accounts)
    log.info("a person asked to be forgotten; records erased")
    await ctx.reply("groups.forget_done")


def _forget_in_memory(core: Core, person_id: int, accounts: set[tuple[str, str]]) -> None:
    """Drop conversations (intake answers among them) and other traces kept in memory."""
    for key in [k for k in core.conversations.open if (k[0], k[2]) in accounts]:
        del core.conversations.open[key]
    nudges.forget(core, person_id)
