"""Asking to join a BIN: the checks, the intake questions (a stored conversation in the
private chat), and handing the request to the BIN's coordinators."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING, ClassVar

from bot import texts
from bot.commands import Registry
from bot.context import Ctx
from bot.conversation import Answer, Conversation
from bot.model import LANGUAGES, ChatRef, Outgoing, Platform, Rich, UserRef
from bot.ports import PlatformError
from bot.services import bin_settings
from bot.services.audience import (
    bin_and_zone,
    group_language,
    prefix_for,
    tell,
)
from bot.services.join_requests import (
    DEFAULT_QUESTION,
    close,
    hand_over,
    question_text,
    settle,
    submit,
)
from storage.conversations import StaleConversation
from storage.groups import OPEN_STATUSES

if TYPE_CHECKING:
    from bot.dispatch import Core
    from storage.tables import Bin, Group
    from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

MAX_ANSWER = 200

routes = Registry()


def questions_of(b: Bin) -> list[str]:
    """The BIN's intake questions: the default street question, its own list, or none."""
    if b.intake is None:
        return [DEFAULT_QUESTION]
    return [str(q) for q in b.intake if str(q).strip()]


@dataclass(frozen=True)
class Refusal:
    """Why a person cannot ask: a catalogue key, the BIN (or the word) it is about, the reason
    the audit log records ("" for none), and the day they may ask again (cooldown)."""

    key: str
    name: str
    reason: str = ""
    until: str = ""


@dataclass(frozen=True)
class Waiting:
    """The person's request for that BIN is still open (`in_intake`: questions unanswered)."""

    request_id: int
    via_command: bool
    in_intake: bool = False


async def check_can_ask(
    uow: UnitOfWork, person_id: int, b: Bin, now: datetime, cooldown_days: float = 0.0
) -> Refusal | Waiting | None:
    """None when the person may ask; the open request when one is waiting; else a refusal:
    a member, someone removed or blocked, a BIN that is archived, or someone declined or who
    withdrew a request the coordinators had received less than `cooldown_days` ago."""
    member = await uow.groups.membership(b.id, person_id)
    if member is not None and member.status == "active":
        return Refusal("groups.join_already_member", b.name)
    if member is not None and member.status in ("removed", "blocked"):
        return Refusal(f"groups.join_{member.status}", b.name, member.status)
    req = await uow.groups.open_request(person_id, b.id)
    if req is not None:
        return Waiting(req.id, req.group_id is None, req.status == "intake")
    if b.archived_at is not None:
        return Refusal("bins.join_archived", b.name, "archived")
    last = await uow.groups.last_closed(person_id, b.id, ("declined", "withdrawn"))
    if last is None or last.decided_at is None or cooldown_days <= 0:
        return None
    if last.status == "withdrawn" and last.submitted_at is None:
        return None  # withdrawn during the intake: no coordinator was bothered
    until = last.decided_at + timedelta(days=cooldown_days)
    if until <= now:
        return None
    return Refusal("groups.join_cooldown", b.name, "cooldown", until.date().isoformat())


class State(StrEnum):
    """The states of an intake: there is one, asked once per question."""

    ANSWER = "answer"


@routes.conversation
@dataclass
class Intake(Conversation):
    """The BIN's intake questions, one at a time, in the requester's private chat."""

    kind: ClassVar[str] = "join.intake"
    steps: ClassVar[Mapping[str, str]] = {State.ANSWER: "_on_answer"}
    request_id: int = 0
    questions: list[str] = field(default_factory=list)
    answers: dict[str, str] = field(default_factory=dict)
    index: int = 0
    lang: str = "nl"
    bin: str = ""

    def question(self, prefix: str) -> Rich:
        """The question now asked."""
        return texts.rich(
            "groups.intake_question",
            self.lang,
            p=prefix,
            n=self.index + 1,
            total=len(self.questions),
            question=question_text(self.questions[self.index], self.lang),
        )

    def intro(self, prefix: str) -> Rich:
        """The first message: what this is about, and the first question."""
        head = texts.rich("groups.intake_intro", self.lang, p=prefix, bin=self.bin)
        return Rich.join([head, self.question(prefix)])

    async def _on_answer(self, ctx: Ctx, uow: UnitOfWork, answer: Answer) -> str | None:
        ctx.lang = self.lang
        text = " ".join(answer.value.split())[:MAX_ANSWER]
        if not text:
            await ctx.send_rich(self.question(ctx.prefix))
            return State.ANSWER
        req = await uow.groups.request(self.request_id)
        if req is None or req.status != "intake":  # withdrawn or expired meanwhile
            await ctx.reply("core.private_text_hint")
            return None
        self.answers[self.questions[self.index]] = text
        self.index += 1
        if self.index < len(self.questions):
            req.answers = dict(self.answers)  # /mydata shows them while the intake runs
            await ctx.send_rich(self.question(ctx.prefix))
            return State.ANSWER
        view = await submit(uow, self.request_id, self.answers, now=ctx.core.clock.now())
        if view is not None:
            uow.after_commit(partial(hand_over, ctx.core, view))
        await ctx.reply("groups.request_sent", bin=self.bin)
        return None

    async def on_timeout(self, ctx: Ctx, uow: UnitOfWork) -> None:
        """Pass the request on with the answers given so far."""
        ctx.lang = self.lang
        view = await submit(uow, self.request_id, self.answers, now=ctx.core.clock.now())
        if view is None:
            return  # closed meanwhile: nothing left to pass on
        uow.after_commit(partial(hand_over, ctx.core, view))
        await ctx.reply("groups.intake_timeout", bin=self.bin)

    async def on_cancel(self, ctx: Ctx, uow: UnitOfWork) -> None:
        """The requester withdraws."""
        ctx.lang = self.lang
        now = ctx.core.clock.now()
        closed = await close(uow, self.request_id, "withdrawn", now, from_statuses=OPEN_STATUSES)
        if closed is not None:
            uow.after_commit(partial(settle, ctx.core, closed))
        await ctx.reply("groups.request_withdrawn", bin=self.bin)


async def end_intake(uow: UnitOfWork, person_id: int, request_id: int) -> bool:
    """End the intake conversation of a request without a word (it was closed otherwise)."""
    for stored in await uow.conversations.of_person(person_id):
        if stored.kind == Intake.kind and stored.data.get("request_id") == request_id:
            try:
                await uow.conversations.end(stored.id, stored.version)
            except StaleConversation:
                return False  # a step is running: it finds the request closed
            return True
    return False


async def has_intake(uow: UnitOfWork, person_id: int, request_id: int) -> bool:
    """Whether a request's intake conversation is stored (expired or not)."""
    return any(
        s.kind == Intake.kind and s.data.get("request_id") == request_id
        for s in await uow.conversations.of_person(person_id)
    )


async def withdraw(core: Core, request_id: int) -> bool:
    """The requester takes an open request back: its intake ends, the platform's own request
    is declined and the coordinators' copies say so. False when it was closed already."""
    async with core.uow() as uow:
        closed = await close(
            uow, request_id, "withdrawn", core.clock.now(), from_statuses=OPEN_STATUSES
        )
        if closed is not None:
            await end_intake(uow, closed.person_id, request_id)
        await uow.commit()
    if closed is None:
        return False
    await settle(core, closed)
    return True


@dataclass(frozen=True)
class Recorded:
    """A request just recorded: what its intake needs."""

    request_id: int
    person_id: int
    lang: str
    bin: str
    questions: list[str]

    def intake(self, expires_at: datetime) -> Intake:
        """The intake conversation of this request."""
        return Intake(
            state=State.ANSWER,
            expires_at=expires_at,
            request_id=self.request_id,
            questions=list(self.questions),
            lang=self.lang,
            bin=self.bin,
        )


async def record_request(
    core: Core,
    uow: UnitOfWork,
    person_id: int,
    b: Bin,
    platform: Platform,
    group: Group | None,
    hint: str | None,
) -> Recorded | None:
    """Record a new request; also the requester's language, kept from now on if unset. None
    when an open request of that person for that BIN was recorded meanwhile (a race)."""
    now = core.clock.now()
    person = await uow.people.person(person_id)
    assert person is not None
    if person.language not in LANGUAGES:
        if hint in LANGUAGES:
            person.language = hint
        elif group is not None:
            person.language = await group_language(uow, group)
        else:
            person.language = bin_settings.language((await bin_and_zone(uow, b.id))[1], b)
    questions = questions_of(b)
    req = await uow.groups.add_open_request(
        b.id,
        person_id,
        group.id if group else None,
        platform.value,
        "intake" if questions else "pending",
        now,
        now + timedelta(days=core.config.join_request_days),
    )
    if req is None:
        return None
    via = "platform" if group else "command"
    await uow.audit.record(
        now, person.pseudonym, "join.request", bin_id=b.id, request=req.id, via=via
    )
    return Recorded(req.id, person_id, str(person.language), b.name, questions)


async def ask_for_bin(ctx: Ctx, uow: UnitOfWork, b: Bin) -> None:
    """Ask to join `b` from a private chat (`/join CODE`, a deep link, or a BIN picked from a
    list), in the caller's unit of work, which commits."""
    core = ctx.core
    found = await check_can_ask(
        uow, ctx.person.id, b, core.clock.now(), core.config.join_cooldown_days
    )
    if isinstance(found, Refusal):
        if found.reason:
            await ctx.audit("join.request", outcome="refused", reason=found.reason, bin_id=b.id)
        await ctx.reply(found.key, bin=found.name, date=found.until)
    elif found is not None and found.in_intake:
        await _ask_again(ctx, uow, found.request_id, b)
    elif found is not None:
        await ctx.reply("groups.join_pending", bin=b.name)
    elif not any(
        g.platform == ctx.platform.value for g in await uow.groups.groups_of_bins([b.id])
    ):
        await ctx.reply("groups.join_no_group", bin=b.name)
    else:
        rec = await record_request(
            core, uow, ctx.person.id, b, ctx.platform, None, ctx.sender.language_hint
        )
        if rec is None:  # another request won the race: that one is waiting
            await ctx.reply("groups.join_pending", bin=b.name)
        else:
            ctx.lang = rec.lang
            await _start(ctx, uow, rec)


async def _ask_again(ctx: Ctx, uow: UnitOfWork, request_id: int, b: Bin) -> None:
    """`/join` again while the intake questions are unanswered: nothing waits for a
    coordinator yet, so the open question is asked again, here (the intake moves to this
    chat, with the answers given so far)."""
    conv = None
    for stored in await uow.conversations.of_person(ctx.person.id):
        if stored.kind == Intake.kind and stored.data.get("request_id") == request_id:
            loaded = Intake.load(stored)
            assert isinstance(loaded, Intake)
            conv = loaded
            if (stored.platform, stored.chat_id) != (ctx.platform.value, ctx.chat.chat_id):
                await uow.conversations.end(stored.id, stored.version)
    if conv is None or conv.index >= len(conv.questions):  # none stored (e.g. after a crash)
        rec = Recorded(request_id, ctx.person.id, ctx.lang, b.name, questions_of(b))
        if not rec.questions:  # the expiry job passes it on
            await ctx.reply("groups.join_pending", bin=b.name)
            return
        conv = rec.intake(ctx.core.clock.now())
    ctx.lang = conv.lang
    await ctx.core.conversations.begin(ctx, uow, conv)
    await ctx.send_rich(
        Rich.join([ctx.t("groups.join_intake_open", bin=b.name), conv.question(ctx.prefix)])
    )


async def _start(ctx: Ctx, uow: UnitOfWork, rec: Recorded) -> None:
    """In the private chat the request was made in: the intake begins, or (no questions) the
    request goes to the coordinators once committed."""
    if rec.questions:
        conv = rec.intake(ctx.core.clock.now())
        await ctx.core.conversations.begin(ctx, uow, conv)
        await ctx.send_rich(conv.intro(ctx.prefix))
        return
    view = await submit(uow, rec.request_id, {}, now=ctx.core.clock.now())
    if view is not None:
        uow.after_commit(partial(hand_over, ctx.core, view))
    await ctx.reply("groups.request_sent", bin=rec.bin)


async def ask_by_platform(core: Core, chat: ChatRef, user: UserRef) -> None:
    """A Telegram join request or a Matrix knock in a linked group."""
    ctx = await core.context(chat, user)
    group = ctx.group
    if group is None or not group.active:
        return  # not a BIN group: the group's own admins decide
    rec = None
    async with core.uow() as uow:
        b, _ = await bin_and_zone(uow, group.bin_id)
        found = await check_can_ask(
            uow, ctx.person.id, b, core.clock.now(), core.config.join_cooldown_days
        )
        first_lang = ctx.person.language or user.language_hint or ctx.lang
        if isinstance(found, Refusal) and found.reason:
            await ctx.audit("join.request", outcome="refused", reason=found.reason, bin_id=b.id)
        elif isinstance(found, Waiting) and found.via_command:
            # Asked by /join first: deciding it now also answers the platform's request.
            req = await uow.groups.request(found.request_id)
            if req is not None:
                req.group_id, req.platform = group.id, chat.platform.value
        elif found is None:
            rec = await record_request(
                core, uow, ctx.person.id, b, chat.platform, group, user.language_hint
            )
        await uow.commit()
    if isinstance(found, Refusal):
        await _refuse(core, group, chat, user, found, ctx.person.id, first_lang)
    elif found is not None:
        await tell(core, ctx.person.id, "groups.join_pending", lang=first_lang, bin=b.name)
    elif rec is not None:
        await _start_privately(core, rec, user)
    # rec None with nothing found: a request recorded meanwhile (a race) is already on its way


async def _refuse(
    core: Core,
    group: Group,
    chat: ChatRef,
    user: UserRef,
    refusal: Refusal,
    person_id: int,
    lang: str,
) -> None:
    """A platform request from a member (let in: they came by the invite link) or from
    someone who may not ask (removed, blocked, in the cooldown: turned down, and told why)."""
    platform = core.platform(chat.platform)
    if refusal.key == "groups.join_already_member":
        try:
            await platform.approve_join(chat, user.user_id)
        except PlatformError as exc:
            log.info("letting a member into group %s failed: %s", group.id, exc.reason)
        return
    try:
        await platform.decline_join(chat, user.user_id)
    except PlatformError as exc:
        log.info("declining a request in group %s failed: %s", group.id, exc.reason)
    await tell(core, person_id, refusal.key, lang=lang, bin=refusal.name, date=refusal.until)


async def _ask_privately(core: Core, rec: Recorded, user: UserRef) -> bool:
    """Store the intake conversation for the private chat, then ask its first question there:
    in that order, an answer typed at once (and handled by any process) finds the
    conversation. False when the person cannot be written to privately (nothing kept)."""
    conv = rec.intake(core.clock.now())
    intro = conv.intro(prefix_for(user.platform))
    platform = core.platform(user.platform)
    try:
        chat = await platform.direct_chat(user.user_id)
    except PlatformError as exc:
        log.info("intake for request %s not possible: %s", rec.request_id, exc.reason)
        return False
    ctx = await core.context(chat, user)
    async with core.uow() as uow:
        await core.conversations.begin(ctx, uow, conv)
        await uow.commit()
    try:
        await platform.send(chat, Outgoing(intro))
    except PlatformError as exc:
        log.info("intake for request %s not possible: %s", rec.request_id, exc.reason)
        async with core.uow() as uow:
            await core.conversations.drop(uow, ctx)
            await uow.commit()
        return False
    # A crash before the question went out leaves the conversation waiting for an answer
    # that never comes: it expires after the timeout, and the request goes on as it is.
    return True


async def _start_privately(core: Core, rec: Recorded, user: UserRef) -> None:
    """The intake of a platform request: the first question in a private chat, then the
    conversation stored for that chat. Without questions, or when the person cannot be
    written to privately, the request goes to the coordinators as it is."""
    if rec.questions and await _ask_privately(core, rec, user):
        return
    async with core.uow() as uow:
        view = await submit(uow, rec.request_id, {}, now=core.clock.now())
        await uow.commit()
    if view is not None:
        await hand_over(core, view)
    if not rec.questions:
        await tell(core, rec.person_id, "groups.request_sent", lang=rec.lang, bin=rec.bin)
