"""A join request between the requester and the coordinators: the copy each coordinator gets
(with Approve/Decline), handing a request over, and closing it.

The copies are stored (table `request_copies`), so that whichever process closes a request
edits every copy: the buttons go and the decision shows.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bot import texts
from bot.model import Button, ChatRef, MessageRef, Outgoing, Platform, Rich
from bot.ports import PlatformError
from bot.services.audience import (
    Buttons,
    chat_of,
    display_name,
    label,
    prefix_for,
    shorten,
    tell_coordinators,
)
from bot.services.pages import clip
from storage.groups import OPEN_STATUSES

if TYPE_CHECKING:
    from bot.dispatch import Core
    from storage.tables import JoinRequest
    from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

DEFAULT_QUESTION = "@street"  # stands for the catalogue's localised street question
MAX_QUESTION = 200  # characters of an intake question as it is shown
ANSWERS_ROOM = 2800  # UTF-16 units of a request copy's answers, all together
_MARK = {"approved": "✅", "declined": "❌", "expired": "⌛", "withdrawn": "↩"}


def question_text(question: str, lang: str) -> str:
    """An intake question as the reader sees it (the default one in their language)."""
    if question == DEFAULT_QUESTION:
        return texts.text("groups.intake_street", lang)
    return shorten(question, MAX_QUESTION)


@dataclass(frozen=True)
class RequestView:
    """What coordinators read about a request, as plain values that outlive the transaction."""

    id: int
    bin_id: int
    bin_name: str
    name: str
    answers: Mapping[str, str]
    via_command: bool
    stamp: str = ""

    def body(self, lang: str, prefix: str) -> Rich:
        """The request as one coordinator reads it."""
        parts = [
            texts.rich(
                "groups.request_new", lang, p=prefix, n=self.id, name=self.name, bin=self.bin_name
            )
        ]
        answers = [
            texts.rich(
                "groups.request_answer",
                lang,
                p=prefix,
                question=question_text(question, lang),
                answer=answer,
            )
            for question, answer in self.answers.items()
        ]
        if answers:
            # However many questions a BIN asks, the copy stays one message.
            parts.append(clip(Rich.join(answers), ANSWERS_ROOM))
        if self.via_command:
            parts.append(texts.rich("groups.request_via_command", lang, p=prefix))
        parts.append(texts.rich("groups.request_how", lang, p=prefix, n=self.id))
        return Rich.join(parts)


@dataclass(frozen=True)
class Copy:
    """One coordinator's copy of a request: where it is, and the language it is written in."""

    platform: str
    chat_id: str
    message_id: str
    language: str


@dataclass(frozen=True)
class Closed:
    """A request just closed, and what is left to do on the platforms once that is committed."""

    view: RequestView
    status: str
    was: str  # the status it had: intake or pending
    person_id: int
    decline: tuple[ChatRef, str] | None  # the platform's own request to turn down, if any
    copies: tuple[Copy, ...]


def stamp(req: JoinRequest) -> str:
    """What a request's buttons carry beside its number, so that a button left under the copy
    of an erased request cannot decide a later request that got the same number."""
    moment = req.created_at.replace(tzinfo=None).isoformat()
    mark = f"{req.id}|{req.bin_id}|{req.person_id}|{req.platform}|{moment}"
    return hashlib.sha256(mark.encode()).hexdigest()[:8]


def request_buttons(request_id: int, request_stamp: str = "") -> Buttons:
    """Approve / Decline, labelled in the coordinator's language."""
    ref = f"{request_id}:{request_stamp}" if request_stamp else str(request_id)

    def rows(lang: str) -> list[list[Button]]:
        return [
            [
                Button(label("groups.button_approve", lang), f"jr:approve:{ref}"),
                Button(label("groups.button_decline", lang), f"jr:decline:{ref}"),
            ]
        ]

    return rows


async def _view(uow: UnitOfWork, req: JoinRequest, answers: Mapping[str, str]) -> RequestView:
    b = await uow.directory.bin(req.bin_id)
    name = await display_name(uow, req.person_id, req.platform)
    bin_name = b.name if b is not None else "?"
    return RequestView(
        req.id,
        req.bin_id,
        bin_name,
        name,
        dict(answers),
        req.group_id is None,
        stamp(req),
    )


async def submit(
    uow: UnitOfWork,
    request_id: int,
    answers: Mapping[str, str],
    *,
    now: datetime | None = None,
) -> RequestView | None:
    """Make an open request pending with its answers (submitted `now`); what to hand to the
    coordinators once committed (see `hand_over`), or None when it was closed meanwhile."""
    req = await uow.groups.request(request_id)
    if req is None or req.status not in OPEN_STATUSES:
        return None
    req.status, req.answers = "pending", dict(answers) or None
    if req.submitted_at is None:
        req.submitted_at = now
    return await _view(uow, req, answers)


async def hand_over(core: Core, view: RequestView) -> int:
    """Send a submitted request to every coordinator of its BIN and store each copy (never
    inside a unit of work); how many went out."""
    told = await tell_coordinators(
        core, view.bin_id, view.body, buttons=request_buttons(view.id, view.stamp)
    )
    if not told:
        log.warning("request %s: no coordinator of BIN %s could be reached", view.id, view.bin_id)
    async with core.uow() as uow:
        for one in told:
            chat = one.ref.chat
            await uow.groups.add_copy(
                view.id, chat.platform.value, chat.chat_id, one.ref.message_id, one.lang
            )
        req = await uow.groups.request(view.id)
        status = req.status if req is not None else "withdrawn"
        late: tuple[Copy, ...] = ()
        if status != "pending":  # decided while the copies were on their way
            late = await _copies_of(uow, view.id)
        await uow.commit()
    await edit_copies(core, view, status, late)
    return len(told)


async def _copies_of(uow: UnitOfWork, request_id: int) -> tuple[Copy, ...]:
    """The stored copies of a request. They are kept once it is closed: they still show the
    requester's name and answers, which erasing the requester must reach (bot/services/
    privacy.py); they go with the request."""
    return tuple(
        Copy(c.platform, c.chat_id, c.message_id, c.language)
        for c in await uow.groups.copies(request_id)
    )


async def close(
    uow: UnitOfWork,
    request_id: int,
    status: str,
    now: datetime,
    *,
    from_statuses: Sequence[str] = ("pending",),
    by: int | None = None,
) -> Closed | None:
    """Close a request (answers erased); None when it was not open or someone else closed it
    first. Once committed, `settle` does the rest on the platforms."""
    req = await uow.groups.request(request_id)
    if req is None or req.status not in from_statuses:
        return None
    was, answers = req.status, dict(req.answers or {})  # as the copies show them
    if not await uow.groups.close_request(
        request_id, status, now, from_statuses=from_statuses, by=by
    ):
        return None
    decline = None
    if status != "approved" and req.group_id is not None:
        group = await uow.groups.group(req.group_id)
        ident = next(
            (
                i
                for i in await uow.people.identities_of(req.person_id)
                if i.platform == req.platform
            ),
            None,
        )
        if group is not None and group.active and ident is not None:
            decline = (chat_of(group), ident.user_id)
    view = await _view(uow, req, answers)
    copies = await _copies_of(uow, request_id)
    return Closed(view, status, was, req.person_id, decline, copies)


async def settle(core: Core, closed: Closed) -> None:
    """After a close was committed: the platform's own request is turned down unless
    approved, and every coordinator's copy loses its buttons and shows the decision."""
    if closed.decline is not None:
        chat, user_id = closed.decline
        try:
            await core.platform(chat.platform).decline_join(chat, user_id)
        except PlatformError as exc:
            log.info("declining the platform request %s failed: %s", closed.view.id, exc.reason)
    await edit_copies(core, closed.view, closed.status, closed.copies)


async def edit_copies(core: Core, view: RequestView, status: str, copies: Sequence[Copy]) -> None:
    """Rewrite coordinators' copies of a decided request: no buttons, the decision shown."""
    mark = Rich.of("\n→ " + _MARK.get(status, status))
    for copy in copies:
        if copy.platform not in core.platforms:
            continue
        ref = MessageRef(ChatRef(Platform(copy.platform), copy.chat_id, True), copy.message_id)
        body = view.body(copy.language, prefix_for(copy.platform)) + mark
        try:
            await core.platform(copy.platform).edit(ref, Outgoing(body))
        except PlatformError as exc:
            log.info("taking the buttons off request %s failed: %s", view.id, exc.reason)


async def close_now(
    core: Core, request_id: int, status: str, *, from_statuses: Sequence[str] = ("pending",)
) -> Closed | None:
    """Close a request in a unit of work of its own, then settle it on the platforms."""
    async with core.uow() as uow:
        closed = await close(
            uow, request_id, status, core.clock.now(), from_statuses=from_statuses
        )
        await uow.commit()
    if closed is not None:
        await settle(core, closed)
    return closed
