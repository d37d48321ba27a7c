"""What the bot holds on a person (/mydata), and erasing it on request (/forgetme).

Erasing keeps only what the audit log already holds: a pseudonymous id with no way back to
the person, since the person row that linked the two is gone.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar

from bot import register, texts
from bot.commands import Registry
from bot.context import Ctx, Grant
from bot.conversation import Answer, Conversation
from bot.model import ChatRef, MessageRef, Outgoing, Platform, Rich, Role
from bot.ports import PlatformError
from bot.services import nudges
from bot.services.audience import label, prefix_for, shorten, status_word
from bot.services.join_requests import Copy, close_now, question_text
from bot.services.membership import remove_from_groups
from storage.groups import OPEN_STATUSES

if TYPE_CHECKING:
    from bot.dispatch import Core
    from storage.groups import PersonCounts
    from storage.tables import Identity, JoinRequest, Membership, Person, RoleGrant
    from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

routes = Registry()


def _date(value: object) -> str:
    return value.date().isoformat() if hasattr(value, "date") else "-"


# -- /mydata -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Held:
    """Every record the bot holds on one person, with the names of the BINs and zones they
    mention."""

    person: Person
    identities: Sequence[Identity]
    grants: Sequence[RoleGrant]
    memberships: Sequence[Membership]
    requests: Sequence[JoinRequest]
    counts: PersonCounts
    bins: Mapping[int, str]
    zones: Mapping[int, str]


async def held(core: Core, uow: UnitOfWork, person_id: int) -> Held:
    """Read what the bot holds on a person."""
    person = await uow.people.person(person_id)
    if person is None:
        raise LookupError(f"no person {person_id}")
    grants = await uow.people.grants_of(person_id)
    members = await uow.groups.memberships_of(person_id, active=False)
    requests = await uow.groups.requests_of(person_id)
    bin_ids = {g.bin_id for g in grants} | {m.bin_id for m in members}
    bin_ids |= {r.bin_id for r in requests}
    zone_ids = {g.zone_id for g in grants if g.zone_id is not None}
    return Held(
        person,
        await uow.people.identities_of(person_id),
        grants,
        members,
        requests,
        await uow.groups.counts_for(person),
        {i: b.name for i in bin_ids if i is not None and (b := await core.bin(i, uow))},
        {i: z.name for i in zone_ids if (z := await core.zone(i, uow))},
    )


async def mydata(ctx: Ctx) -> None:
    """Show every record the bot holds on the person asking."""
    async with ctx.core.uow() as uow:
        found = await held(ctx.core, uow, ctx.person.id)
    lines = [ctx.t("groups.mydata_title"), *_who(ctx, found), *_ties(ctx, found)]
    if not (found.grants or found.memberships or found.requests):
        lines.append(ctx.t("groups.mydata_nothing_else"))
    lines.extend(_counts(ctx, found.counts))
    lines.extend(_kept(ctx, found))
    lines.append(ctx.t("groups.mydata_footer"))
    await ctx.send_rich(Rich.join(lines))


def _who(ctx: Ctx, found: Held) -> list[Rich]:
    """The person row and their platform accounts."""
    person = found.person
    language = texts.language_names().get(person.language or "", "-")
    lines = [
        ctx.t(
            "groups.mydata_person",
            pseudonym=person.pseudonym,
            since=_date(person.created_at),
            language=language,
        )
    ]
    for ident in found.identities:
        lines.append(
            ctx.t(
                "groups.mydata_identity",
                platform=ident.platform.capitalize(),
                name=shorten(ident.display_name) if ident.display_name else "-",
                user_id=ident.user_id,
            )
        )
    return lines


def _ties(ctx: Ctx, found: Held) -> list[Rich]:
    """Their roles, memberships and join requests (with the answers still kept)."""
    lines = []
    for g in found.grants:
        scope = found.bins.get(g.bin_id or 0) or found.zones.get(g.zone_id or 0) or "-"
        role = texts.text("role." + g.role, ctx.lang)
        lines.append(
            ctx.t("groups.mydata_role", role=role, scope=scope, since=_date(g.granted_at))
        )
    for m in found.memberships:
        lines.append(
            ctx.t(
                "groups.mydata_membership",
                bin=found.bins.get(m.bin_id, "?"),
                status=status_word(m.status, ctx.lang),
                since=_date(m.joined_at),
            )
        )
    for r in found.requests:
        lines.append(
            ctx.t(
                "groups.mydata_request",
                n=r.id,
                bin=found.bins.get(r.bin_id, "?"),
                status=status_word(r.status, ctx.lang),
                date=_date(r.created_at),
            )
        )
        for question, answer in (r.answers or {}).items():
            question = question_text(question, ctx.lang)
            lines.append(ctx.t("groups.request_answer", question=question, answer=answer))
    return lines


def _counts(ctx: Ctx, counts: PersonCounts) -> list[Rich]:
    """How many rows elsewhere refer to them."""
    lines = [ctx.t("groups.mydata_counts", seen=counts.seen, audit=counts.audit)]
    if counts.groups_linked or counts.requests_decided or counts.alerts_written:
        lines.append(
            ctx.t(
                "groups.mydata_work",
                groups=counts.groups_linked,
                requests=counts.requests_decided,
                alerts=counts.alerts_written,
            )
        )
    return lines


def _kept(ctx: Ctx, found: Held) -> list[Rich]:
    """How long each kind of record shown is kept, from the register's rules in force."""
    shown = {
        "people": True,
        "roles": bool(found.grants),
        "memberships": bool(found.memberships),
        "requests": bool(found.requests),
        "seen": True,
        "audit": True,
    }
    periods = register.values(ctx.core.config)
    lines = [ctx.t("groups.kept_title")]
    for record in register.RECORDS:
        if record.mydata and shown.get(record.key):
            lines.append(ctx.t(record.mydata, **periods))
    return lines


# -- /forgetme -----------------------------------------------------------------------------


class State(StrEnum):
    CONFIRM = "confirm"


@routes.conversation
@dataclass
class ForgetMe(Conversation):
    """Confirm before erasing: a button or a word in any of the four languages."""

    kind: ClassVar[str] = "privacy.forget"
    steps: ClassVar[Mapping[str, str]] = {State.CONFIRM: "_on_confirm"}

    async def _on_confirm(self, ctx: Ctx, uow: UnitOfWork, answer: Answer) -> str | None:
        word = texts.fold(answer.value)
        if word in texts.words("words.yes"):
            # Taking the person out of their groups calls platforms: after this step commits.
            uow.after_commit(functools.partial(forget, ctx))
            return None
        if word in texts.words("words.no"):
            await ctx.reply("groups.forget_kept")
            return None
        await ctx.reply("groups.forget_again")
        return State.CONFIRM


async def ask_forget(ctx: Ctx) -> None:
    """Ask the person to confirm that everything about them is to be erased."""
    with_buttons = ctx.core.platform(ctx.platform).capabilities.buttons
    async with ctx.core.uow() as uow:
        members = await uow.groups.memberships_of(ctx.person.id)
        bins = [b.name for m in members if (b := await uow.directory.bin(m.bin_id)) is not None]
        conv = ForgetMe(State.CONFIRM, ctx.core.clock.now())
        await ctx.core.conversations.begin(ctx, uow, conv)
        parts = [ctx.t("groups.forget_question")]
        if bins:
            parts.append(ctx.t("groups.forget_leaves", bins=", ".join(bins)))
        held = [g for g in ctx.roles.grants if g.role != Role.MEMBER]
        if held:
            parts.append(ctx.t("groups.forget_roles", roles=await _roles_held(ctx, uow, held)))
        how = "groups.forget_how_buttons" if with_buttons else "groups.forget_how_words"
        parts.append(ctx.t(how))
        buttons = [
            [
                conv.button(label("groups.button_forget_yes", ctx.lang), State.CONFIRM, "yes"),
                conv.button(label("groups.button_forget_no", ctx.lang), State.CONFIRM, "no"),
            ]
        ]
        await ctx.send_rich(Rich.join(parts), buttons=buttons if with_buttons else ())
        await uow.commit()


async def _roles_held(ctx: Ctx, uow: UnitOfWork, held: Sequence[Grant]) -> str:
    """The roles a person holds, each with its BIN or zone: "coordinator (Noord)"."""
    names = []
    for g in held:
        b = await ctx.core.bin(g.bin_id, uow) if g.bin_id is not None else None
        zone = await ctx.core.zone(g.zone_id, uow) if g.zone_id is not None else None
        role = texts.text("role." + g.role.value, ctx.lang)
        scope = b.name if b is not None else zone.name if zone is not None else ""
        names.append(f"{role} ({scope})" if scope else role)
    return ", ".join(dict.fromkeys(names))


async def forget(ctx: Ctx) -> None:
    """Erase the person asking, as confirmed, and tell them (the coordinators' copies of
    their requests included)."""
    left = await take_out(ctx.core, ctx.person.id)
    if left.bins or left.requests:
        ctx.done("groups.done_taken_out")
    copies = await erase(ctx.core, ctx.person.id, ctx.person.pseudonym)
    ctx.done("groups.done_forgotten")
    cleared, failed = await clear_copies(ctx.core, copies)
    parts = [ctx.t("groups.forget_done")]
    if cleared:
        parts.append(ctx.t("groups.forget_copies_cleared", count=cleared))
    if failed:
        parts.append(ctx.t("groups.forget_copies_failed", count=failed))
    await ctx.send_rich(Rich.join(parts))


@dataclass(frozen=True)
class Left:
    """What taking a person out of everything touched: BINs left, requests withdrawn."""

    bins: int
    requests: int


async def take_out(core: Core, person_id: int) -> Left:
    """Take a person out of their BINs' groups and withdraw their open join requests (on
    the platforms; no transaction stays open meanwhile)."""
    async with core.uow() as uow:
        bin_ids = [m.bin_id for m in await uow.groups.memberships_of(person_id)]
        requests = await uow.groups.requests_of(person_id)
        open_ids = [r.id for r in requests if r.status in OPEN_STATUSES]
    for bin_id in bin_ids:
        await remove_from_groups(core, person_id, bin_id)
    for request_id in open_ids:
        await close_now(core, request_id, "withdrawn", from_statuses=OPEN_STATUSES)
    return Left(len(bin_ids), len(open_ids))


@dataclass(frozen=True)
class RequestCopy:
    """A coordinator's private copy of one of the person's join requests."""

    request_id: int
    copy: Copy


async def erase(core: Core, person_id: int, pseudonym: str) -> list[RequestCopy]:
    """Erase every record of a person in one unit of work: their conversations (intake
    answers among them), memberships, requests, roles, accounts and the person row. Returns
    the coordinators' copies of their requests, which still show their name and answers
    (see `clear_copies`)."""
    async with core.uow() as uow:
        copies: list[RequestCopy] = []
        for r in await uow.groups.requests_of(person_id):
            copies += [
                RequestCopy(r.id, Copy(c.platform, c.chat_id, c.message_id, c.language))
                for c in await uow.groups.copies(r.id)
            ]
            await uow.groups.forget_copies(r.id)
        await core.conversations.end_all(uow, person_id)
        await uow.groups.erase_person(person_id)
        await uow.audit.record(core.clock.now(), pseudonym, "person.forget", copies=len(copies))
        await uow.commit()
    nudges.forget(core, person_id)
    log.info("a person asked to be forgotten; records erased")
    return copies


async def clear_copies(core: Core, copies: Sequence[RequestCopy]) -> tuple[int, int]:
    """Rewrite each copy of an erased person's request so that it shows neither name nor
    answers (or delete it where it cannot be edited): how many were cleared, how many not."""
    cleared = failed = 0
    for one in copies:
        copy = one.copy
        if copy.platform not in core.platforms:
            failed += 1  # that platform does not run in this process
            continue
        ref = MessageRef(ChatRef(Platform(copy.platform), copy.chat_id, True), copy.message_id)
        body = texts.rich(
            "groups.request_erased", copy.language, p=prefix_for(copy.platform), n=one.request_id
        )
        if await _replace(core, ref, body):
            cleared += 1
        else:
            failed += 1
    return cleared, failed


async def _replace(core: Core, ref: MessageRef, body: Rich) -> bool:
    """Edit a message to `body`, else delete it, where the platform allows."""
    port = core.platform(ref.chat.platform)
    if port.capabilities.edit:
        try:
            await port.edit(ref, Outgoing(body))
            return True
        except PlatformError as exc:
            log.info("clearing a copy of an erased request failed: %s", exc.reason)
    if port.capabilities.delete:
        try:
            await port.delete(ref)
            return True
        except PlatformError as exc:
            log.info("deleting a copy of an erased request failed: %s", exc.reason)
    return False
