"""Asking to join a BIN: the checks, the intake questions (a conversation in the private
chat), and handing the request to the BIN's coordinators with Approve/Decline buttons."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bot import texts
from bot.context import Ctx
from bot.conversation import Conversation, restorer
from bot.model import LANGUAGES, Button, ChatRef, MessageRef, Outgoing, Platform, Rich, UserRef
from bot.ports import PlatformError
from bot.services.audience import (
    Body,
    Buttons,
    bin_and_zone,
    display_name,
    group_language,
    label,
    tell,
    tell_coordinators,
)
from storage.groups import GroupRepo
from storage.repo import Repo
from storage.tables import Bin, Group, JoinRequest

if TYPE_CHECKING:
    from bot.dispatch import Core

log = logging.getLogger(__name__)

DEFAULT_QUESTION = "@street"  # stands for the catalogue's localised street question
MAX_ANSWER = 200


@dataclass
class Sent:
    """The coordinators' copies of one request, so they lose their buttons once decided."""

    copies: list[tuple[MessageRef, Rich]] = field(default_factory=list)


def sent_requests(core: Core) -> dict[int, Sent]:
    """Request id -> the coordinators' copies of it, kept in memory."""
    # After a restart the copies keep their buttons; a press then learns it was decided.
    found: dict[int, Sent] = core.services.setdefault("groups:requests", {})
    return found


def questions_of(b: Bin) -> list[str]:
    """The BIN's intake questions: the default street question, its own list, or none."""
    if b.intake is None:
        return [DEFAULT_QUESTION]
    return [str(q) for q in b.intake if str(q).strip()]


def question_text(question: str, lang: str) -> str:
    """An intake question as the reader sees it (the default one in their language)."""
    return texts.text("groups.intake_street", lang) if question == DEFAULT_QUESTION else question


@dataclass(frozen=True)
class Refusal:
    """Why a person cannot ask: a catalogue key, and the BIN (or the word) it is about."""

    key: str
    name: str


async def check_can_ask(repo: Repo, person_id: int, b: Bin) -> Refusal | JoinRequest | None:
    """None when the person may ask; the open request when one is waiting; else a refusal."""
    groups = GroupRepo(repo.session)
    member = await groups.membership(b.id, person_id)
    if member is not None and member.status == "active":
        return Refusal("groups.join_already_member", b.name)
    if member is not None and member.status == "removed":
        return Refusal("groups.join_removed", b.name)
    return await groups.open_request(person_id, b.id)


async def record_request(
    core: Core,
    person_id: int,
    b: Bin,
    platform: Platform,
    group: Group | None,
    hint: str | None,
) -> tuple[JoinRequest, str]:
    """Record a new request; also the requester's language, kept from now on if unset."""
    now = core.clock.now()
    async with core.tx() as repo:
        person = await repo.person(person_id)
        assert person is not None
        if person.language not in LANGUAGES:
            if hint in LANGUAGES:
                person.language = hint
            elif group is not None:
                person.language = await group_language(repo, group)
            else:
                person.language = (await bin_and_zone(repo, b.id))[1].language
        req = JoinRequest(
            bin_id=b.id,
            person_id=person_id,
            group_id=group.id if group else None,
            platform=platform.value,
            status="intake" if questions_of(b) else "pending",
            created_at=now,
            expires_at=now + timedelta(days=core.config.join_request_days),
        )
        await repo.add(req)
        await repo.audit(
            now,
            person.pseudonym,
            "join.request",
            bin_id=b.id,
            request=req.id,
            via="platform" if group else "command",
        )
        return req, str(person.language)


class Intake(Conversation):
    """The intake questions, one at a time, in the requester's private chat."""

    name = "join.intake"

    async def on_timeout(self, ctx: Ctx) -> None:
        """Pass the request on with the answers given so far."""
        ctx.lang = self.data["lang"]
        await submit(ctx.core, self.data["request_id"], self.data["answers"])
        await ctx.reply("groups.intake_timeout", bin=self.data["bin"])

    async def on_cancel(self, ctx: Ctx) -> None:
        """The requester withdraws."""
        ctx.lang = self.data["lang"]
        await withdraw(ctx.core, self.data["request_id"])
        await ctx.reply("groups.request_withdrawn", bin=self.data["bin"])


async def _answer(conv: Conversation, ctx: Ctx, text: str) -> str | None:
    data = conv.data
    ctx.lang = data["lang"]
    answer = " ".join(text.split())[:MAX_ANSWER]
    if not answer:
        await _ask(ctx, data)
        return "answer"
    data["answers"][data["questions"][data["index"]]] = answer
    data["index"] += 1
    if data["index"] < len(data["questions"]):
        # Kept with the request as they come, so that a restart loses none of them (they
        # are erased with the rest once the request is decided).
        async with ctx.core.tx() as repo:
            req = await GroupRepo(repo.session).request(data["request_id"])
            if req is not None and req.status == "intake":
                req.answers = dict(data["answers"])
        await _ask(ctx, data)
        return "answer"
    await submit(ctx.core, data["request_id"], data["answers"])
    await ctx.reply("groups.request_sent", bin=data["bin"])
    return None


Intake.steps = {"answer": _answer}


def _waiting(core: Core) -> set[int] | None:
    """Persons who had an intake open when this process started (None: not read yet)."""
    found: set[int] | None = core.services.get("joins:intakes_before_start")
    return found


@restorer
async def resume_intake(ctx: Ctx) -> Conversation | None:
    """After a restart, take up the intake of a request still in it where it stopped: the
    text the person now sends answers the question they were last asked."""
    waiting = _waiting(ctx.core)
    if waiting is None:  # once per process: who had an intake open before it started
        async with ctx.core.tx() as repo:
            waiting = set(await GroupRepo(repo.session).persons_in_intake())
        ctx.core.services["joins:intakes_before_start"] = waiting
    if ctx.person.id not in waiting:
        return None
    waiting.discard(ctx.person.id)
    async with ctx.core.tx() as repo:
        req = await GroupRepo(repo.session).intake_of(ctx.person.id, ctx.platform.value)
        b = await repo.bin(req.bin_id) if req is not None else None
    if req is None or b is None:
        return None
    questions = questions_of(b)
    answers = dict(req.answers or {})
    index = next((i for i, q in enumerate(questions) if q not in answers), len(questions))
    if index >= len(questions):
        return None  # nothing left to ask: the sweep passes it on
    data: dict[str, Any] = {
        "request_id": req.id,
        "questions": questions,
        "answers": answers,
        "index": index,
        "lang": ctx.lang,
        "bin": b.name,
    }
    conv = Intake("answer", ctx.core.clock.now() + ctx.core.conversations.timeout(), data)
    ctx.core.conversations.begin(ctx, conv)
    return conv


def _question(data: dict[str, Any], lang: str, prefix: str) -> Rich:
    questions = data["questions"]
    return texts.rich(
        "groups.intake_question",
        lang,
        p=prefix,
        n=data["index"] + 1,
        total=len(questions),
        question=question_text(questions[data["index"]], lang),
    )


async def _ask(ctx: Ctx, data: dict[str, Any]) -> None:
    await ctx.send_rich(_question(data, ctx.lang, ctx.prefix))


async def start_intake(
    core: Core, req: JoinRequest, b: Bin, user: UserRef, lang: str, private: ChatRef | None
) -> None:
    """Ask the intake questions privately; without questions (or no private chat), submit."""
    questions = questions_of(b)
    if not questions:
        await submit(core, req.id, {})
        await tell(core, req.person_id, "groups.request_sent", lang=lang, bin=b.name)
        return
    data: dict[str, Any] = {
        "request_id": req.id,
        "questions": questions,
        "answers": {},
        "index": 0,
        "lang": lang,
        "bin": b.name,
    }
    prefix = "!" if user.platform == Platform.MATRIX else "/"
    intro = Rich.join(
        [
            texts.rich("groups.intake_intro", lang, p=prefix, bin=b.name),
            _question(data, lang, prefix),
        ]
    )
    try:
        platform = core.platform(user.platform)
        if private is None:
            ref = await platform.send_direct(user.user_id, Outgoing(intro))
        else:
            ref = await platform.send(private, Outgoing(intro))
    except PlatformError as exc:
        log.info("intake for request %s not possible: %s", req.id, exc.reason)
        await submit(core, req.id, {})
        return
    ctx = await core.context(ref.chat, user)
    ctx.lang = lang
    core.conversations.begin(
        ctx, Intake("answer", core.clock.now() + core.conversations.timeout(), data)
    )


def request_buttons(request_id: int) -> Buttons:
    """Approve / Decline, labelled in the coordinator's language."""

    def rows(lang: str) -> list[list[Button]]:
        return [
            [
                Button(label("groups.button_approve", lang), f"jr:approve:{request_id}"),
                Button(label("groups.button_decline", lang), f"jr:decline:{request_id}"),
            ]
        ]

    return rows


def request_body(req: JoinRequest, bin_name: str, name: str, answers: dict[str, Any]) -> Body:
    """What coordinators read about a request, as a function of their language."""

    def body(lang: str, prefix: str) -> Rich:
        parts = [
            texts.rich("groups.request_new", lang, p=prefix, n=req.id, name=name, bin=bin_name)
        ]
        for question, answer in answers.items():
            parts.append(
                texts.rich(
                    "groups.request_answer",
                    lang,
                    p=prefix,
                    question=question_text(question, lang),
                    answer=answer,
                )
            )
        if req.group_id is None:
            parts.append(texts.rich("groups.request_via_command", lang, p=prefix))
        parts.append(texts.rich("groups.request_how", lang, p=prefix, n=req.id))
        return Rich.join(parts)

    return body


async def submit(core: Core, request_id: int, answers: dict[str, Any]) -> None:
    """Store the answers and give the request to the BIN's coordinators."""
    async with core.tx() as repo:
        req = await GroupRepo(repo.session).request(request_id)
        if req is None or req.status not in ("intake", "pending"):
            return
        req.status, req.answers = "pending", dict(answers) or None
        b, _ = await bin_and_zone(repo, req.bin_id)
        name = await display_name(repo, req.person_id, req.platform)
    body = request_body(req, b.name, name, answers)
    refs = await tell_coordinators(core, b.id, body, buttons=request_buttons(req.id))
    if not refs:
        log.warning("request %s: no coordinator of BIN %s could be reached", req.id, b.id)
    sent_requests(core).setdefault(req.id, Sent()).copies.extend(refs)


async def withdraw(core: Core, request_id: int) -> None:
    """The requester takes the request back; the platform's own request is declined."""
    from bot.services.membership import close

    await close(core, request_id, "withdrawn", from_statuses=("intake", "pending"))


async def ask_by_command(ctx: Ctx, word: str) -> None:
    """`/join BIN` in a private chat."""
    if not word:
        await ctx.reply("groups.join_usage")
        return
    async with ctx.core.tx() as repo:
        b = await repo.find_bin(word)
        if b is None:
            found: Refusal | JoinRequest | None = Refusal("groups.unknown_bin", word)
            linked: list[Group] = []
        else:
            found = await check_can_ask(repo, ctx.person.id, b)
            linked = [
                g
                for g in await GroupRepo(repo.session).groups_of_bins([b.id])
                if g.platform == ctx.platform.value
            ]
    if isinstance(found, Refusal):
        if found.key == "groups.join_removed":
            await ctx.audit(
                "join.request", outcome="refused", reason="removed", bin_id=b.id if b else None
            )
        await ctx.reply(found.key, bin=found.name, word=found.name)
        return
    assert b is not None
    if found is not None:
        await ctx.reply("groups.join_pending", bin=b.name)
        return
    if not linked:
        await ctx.reply("groups.join_no_group", bin=b.name)
        return
    req, lang = await record_request(
        ctx.core, ctx.person.id, b, ctx.platform, None, ctx.sender.language_hint
    )
    ctx.lang = lang
    await start_intake(ctx.core, req, b, ctx.sender, lang, ctx.chat)


async def ask_by_platform(core: Core, chat: ChatRef, user: UserRef) -> None:
    """A Telegram join request or a Matrix knock in a linked group."""
    ctx = await core.context(chat, user)
    group = ctx.group
    if group is None or not group.active:
        return  # not a BIN group: the group's own admins decide
    async with core.tx() as repo:
        b, _ = await bin_and_zone(repo, group.bin_id)
        found = await check_can_ask(repo, ctx.person.id, b)
        first_lang = ctx.person.language or user.language_hint or ctx.lang
    platform = core.platform(chat.platform)
    if isinstance(found, Refusal):
        if found.key == "groups.join_already_member":
            # An approved member coming in through the group's invite link.
            try:
                await platform.approve_join(chat, user.user_id)
            except PlatformError as exc:
                log.info("letting a member into group %s failed: %s", group.id, exc.reason)
            return
        await ctx.audit("join.request", outcome="refused", reason="removed", bin_id=b.id)
        try:
            await platform.decline_join(chat, user.user_id)
        except PlatformError as exc:
            log.info("declining a request in group %s failed: %s", group.id, exc.reason)
        await tell(core, ctx.person.id, found.key, lang=first_lang, bin=found.name)
        return
    if found is not None:
        if found.group_id is None:
            # Asked by /join first: deciding it now also answers the platform's request.
            async with core.tx() as repo:
                req = await GroupRepo(repo.session).request(found.id)
                if req is not None:
                    req.group_id, req.platform = group.id, chat.platform.value
        await tell(core, ctx.person.id, "groups.join_pending", lang=first_lang, bin=b.name)
        return
    req, lang = await record_request(
        core, ctx.person.id, b, chat.platform, group, user.language_hint
    )
    await start_intake(core, req, b, user, lang, None)
