"""Join requests: intake, coordinators deciding by button or command, and the bad cases."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest

from bot.dispatch import Core
from bot.events import CommandIssued
from bot.ports import PermanentError
from bot.services.membership import expire_requests
from storage.tables import ConversationRow, JoinRequest, Membership, RequestCopy
from tests.fakes import Harness
from tests.unit.test_groups_support import (
    audit,
    coordinator,
    linked_group,
    member,
    ready,
    rows,
    zone_and_bin,
)


async def test_platform_request_intake_approve_by_button_and_welcome(h: Harness) -> None:
    await ready(h)
    await coordinator(h, "bert")
    await h.ask_join("jan", "buurt")
    assert "In welke straat woon je?" in h.new("jan")[-1]
    assert h.new("an") == []  # nothing for the coordinators until the answers are in

    await h.say("jan", "Kerkstraat 12")
    assert "ligt nu bij de coördinatoren van BIN Noord" in h.new("jan")[-1]
    for name in ("an", "bert"):
        [request] = h.new(name)
        assert "Nieuwe aanvraag #1 voor BIN Noord: Jan wil lid worden." in request
        assert "In welke straat woon je? Kerkstraat 12" in request
    sent = h.platform.in_chat("an")[-1]
    [(approve, approve_data), (decline, decline_data)] = sent.buttons
    assert (approve, decline) == ("Goedkeuren", "Weigeren")
    # The request's number and its stamp (a later request reusing the number is not it).
    assert re.fullmatch(r"jr:approve:1:[0-9a-f]{8}", approve_data)
    assert decline_data == approve_data.replace("approve", "decline")

    await h.press("an", "Goedkeuren")
    assert ("approve", "buurt", "jan") in h.platform.actions
    welcome = h.new("jan")[-1]
    assert welcome.startswith("Welkom in BIN Noord!")
    assert "Groepsregels" in welcome and "Eerst de politie bellen: 101" in welcome
    assert "goedgekeurd" in h.new("an")[-1]
    assert "is goedgekeurd door An" in h.new("bert")[-1]
    # The buttons are gone from both copies of the request.
    assert all(not s.buttons for s in h.platform.sent if "Nieuwe aanvraag" in s.text)

    [req] = await rows(h, JoinRequest)
    assert req.status == "approved" and req.answers is None and req.decided_by is not None
    [m] = await rows(h, Membership)
    assert m.status == "active"
    assert [e.outcome for e in await audit(h, "join.approve")] == ["ok"]


async def test_join_command_in_private_then_approve_command_sends_the_link(h: Harness) -> None:
    await ready(h)
    await h.say("jan", "/join noord")
    assert "Vraag 1/1" in h.new("jan")[-1]
    await h.say("jan", "Stationsstraat")
    assert "Gevraagd in een privégesprek" in h.new("an")[-1]
    await h.say("an", "/approve 1")
    assert "goedgekeurd" in h.new("an")[-1]
    assert "Kom in de groep buurt via deze link: https://t.me/+buurt" in h.new("jan")[-1]
    # When Jan then uses the link, the platform's join request is let through at once.
    await h.ask_join("jan", "buurt")
    assert ("approve", "buurt", "jan") in h.platform.actions
    assert len(await rows(h, JoinRequest)) == 1


async def test_decline_with_reason(h: Harness) -> None:
    await ready(h)
    await h.ask_join("jan", "buurt")
    await h.say("jan", "Elders")
    await h.say("an", "/decline 1 woont niet in de wijk")
    told = h.new("jan")[-1]
    assert "niet goedgekeurd" in told and "Reden: woont niet in de wijk" in told
    assert ("decline", "buurt", "jan") in h.platform.actions
    [req] = await rows(h, JoinRequest)
    assert req.status == "declined" and req.answers is None
    assert await rows(h, Membership) == []
    [entry] = await audit(h, "join.decline")
    assert entry.detail == {"request": 1, "with_reason": True}  # the reason itself is not kept


async def test_first_decision_wins_and_the_second_is_told_who(h: Harness) -> None:
    await ready(h)
    await coordinator(h, "bert")
    await h.ask_join("jan", "buurt")
    await h.say("jan", "Kerkstraat")
    await h.press("an", "Goedkeuren")
    h.new("bert")
    await h.say("bert", "/decline 1")
    assert "is al goedgekeurd door An" in h.new("bert")[-1]
    await h.say("an", "/approve 1")
    assert "is al goedgekeurd door An" in h.new("an")[-1]
    assert [a for a in h.platform.actions if a[0] == "approve"] == [("approve", "buurt", "jan")]
    assert len(h.texts("jan")) == 3  # question, thanks, one welcome


async def test_approving_for_another_bin_is_refused_and_audited(h: Harness) -> None:
    await ready(h)
    await zone_and_bin(h, bin_name="Zuid", code="zuid", new_zone=False)
    await coordinator(h, "zoe", "zuid")
    await h.ask_join("jan", "buurt")
    await h.say("jan", "Kerkstraat")
    await h.say("zoe", "/approve 1")
    assert "Ik ken geen openstaande aanvraag #1" in h.new("zoe")[-1]
    [req] = await rows(h, JoinRequest)
    assert req.status == "pending"
    [entry] = await audit(h, "join.approve")
    assert entry.outcome == "refused" and entry.detail["reason"] == "not_coordinator"


async def test_forged_button_press_is_refused_and_audited(h: Harness) -> None:
    await ready(h)
    await h.ask_join("jan", "buurt")
    await h.say("jan", "Kerkstraat")
    await h.press_data("jan", "jr:approve:1")
    assert "Ik ken geen openstaande aanvraag #1" in h.new("jan")[-1]
    await h.press_data("jan", "jr:approve:99")
    await h.press_data("jan", "jr:approve:1;drop table")
    assert await rows(h, Membership) == []
    entries = await audit(h, "join.approve") + await audit(h, "join.button")
    assert [e.outcome for e in entries] == ["refused"] * 3
    reasons = sorted(e.detail["reason"] for e in entries)
    assert reasons == ["malformed", "not_coordinator", "unknown"]
    assert all(e.actor.startswith("p-") for e in entries)


async def test_already_member_or_pending_get_a_clear_answer(h: Harness) -> None:
    await ready(h)
    await h.say("jan", "/join noord")
    await h.say("jan", "/join noord")  # the question is still open: asked again
    assert "In welke straat woon je?" in h.new("jan")[-1]
    await h.say("jan", "Kerkstraat")
    await h.say("jan", "/join noord")
    assert "wacht nog op een coördinator" in h.new("jan")[-1]
    await h.press("an", "Goedkeuren")
    await h.say("jan", "/join noord")
    assert "Je bent al lid van BIN Noord." in h.new("jan")[-1]
    assert len(await rows(h, JoinRequest)) == 1


async def test_removed_person_cannot_ask_again(h: Harness) -> None:
    await ready(h)
    await member(h, "jan")
    await h.say("an", "/remove 1")
    await h.say("jan", "/join noord")
    assert "heeft je uit BIN Noord verwijderd" in h.new("jan")[-1]
    await h.ask_join("jan", "buurt")
    assert "heeft je uit BIN Noord verwijderd" in h.new("jan")[-1]
    assert ("decline", "buurt", "jan") in h.platform.actions
    assert len(await rows(h, JoinRequest)) == 1
    refused = [e for e in await audit(h, "join.request") if e.outcome == "refused"]
    assert [e.detail["reason"] for e in refused] == ["removed", "removed"]


async def test_unknown_bin_and_bin_without_group(h: Harness) -> None:
    await zone_and_bin(h)
    await h.say("jan", "/join")
    assert "Bij welke BIN wil je aansluiten?\n1. Noord (Beringen)" in h.new("jan")[-1]
    await h.say("jan", "/join atlantis")
    assert "Geen BIN past bij „atlantis”" in h.new("jan")[-1]
    await h.say("jan", "/join noord")
    assert "heeft hier nog geen groep" in h.new("jan")[-1]
    await h.say("jan", "/join noord", chat="buurt")
    assert "privégesprek" in h.new("buurt")[-1]


async def test_bin_without_intake_goes_straight_to_the_coordinators(h: Harness) -> None:
    await ready(h, intake=[])
    await h.ask_join("jan", "buurt")
    assert "ligt nu bij de coördinatoren" in h.new("jan")[-1]
    assert "Nieuwe aanvraag #1" in h.new("an")[-1]


async def test_bin_with_its_own_questions(h: Harness) -> None:
    await ready(h, intake=["Huisnummer?", "Hoe ken je het BIN?"])
    await h.ask_join("jan", "buurt")
    assert "Vraag 1/2: Huisnummer?" in h.new("jan")[-1]
    await h.say("jan", "   ")
    assert "Vraag 1/2" in h.new("jan")[-1]
    await h.say("jan", "12")
    assert "Vraag 2/2: Hoe ken je het BIN?" in h.new("jan")[-1]
    await h.say("jan", "Via de buren")
    request = h.new("an")[-1]
    assert "Huisnummer? 12" in request and "Hoe ken je het BIN? Via de buren" in request


async def expire(h: Harness) -> None:
    """The periodic jobs: the conversation sweep (an abandoned intake is passed on), then the
    expiry of requests."""
    await h.core.conversations.sweep()
    await expire_requests(h.core)


def restart(h: Harness) -> None:
    """A new process on the same database: nothing that was in memory survives."""
    h.core = Core(
        h.db, dict(h.core.platforms), clock=h.clock, config=h.core.config, rng=random.Random(3)
    )


async def test_an_intake_cut_by_a_restart_is_taken_up_where_it_stopped(h: Harness) -> None:
    await ready(h, intake=["Huisnummer?", "Hoe ken je het BIN?", "Sinds wanneer?"])
    await h.ask_join("jan", "buurt")
    await h.say("jan", "12")
    assert "Vraag 2/3: Hoe ken je het BIN?" in h.new("jan")[-1]
    first = h.core
    restart(h)  # the conversation is a row: the new process answers the next question
    assert h.core is not first
    await h.say("jan", "Via de buren")
    assert "Vraag 3/3: Sinds wanneer?" in h.new("jan")[-1]
    restart(h)
    await h.say("jan", "2019")
    assert "Je aanvraag ligt nu bij de coördinatoren van BIN Noord" in h.new("jan")[-1]
    request = h.new("an")[-1]
    assert "Huisnummer? 12" in request and "Hoe ken je het BIN? Via de buren" in request
    assert "Sinds wanneer? 2019" in request
    await h.say("jan", "hallo?")  # the intake is over: no question is taken up again
    assert "Nieuwe aanvraag" not in "".join(h.new("an"))


async def test_after_a_restart_cancel_withdraws_and_the_sweep_keeps_the_answers(
    h: Harness,
) -> None:
    await ready(h, intake=["Huisnummer?", "Hoe ken je het BIN?"])
    await h.ask_join("jan", "buurt")
    await h.say("jan", "12")
    await h.ask_join("lies", "buurt")
    await h.say("lies", "7")
    restart(h)
    await h.say("jan", "/cancel")
    assert "is ingetrokken" in h.new("jan")[-1]
    h.clock.advance(minutes=16)
    await expire(h)  # Lies never answered the second question
    request = h.new("an")[-1]
    assert "Lies" in request and "Huisnummer? 7" in request
    statuses = {r.person_id: r.status for r in await rows(h, JoinRequest)}
    assert sorted(statuses.values()) == ["pending", "withdrawn"]


async def test_cancel_during_intake_withdraws(h: Harness) -> None:
    await ready(h)
    await h.ask_join("jan", "buurt")
    await h.say("jan", "/cancel")
    assert "is ingetrokken" in h.new("jan")[-1]
    assert ("decline", "buurt", "jan") in h.platform.actions
    [req] = await rows(h, JoinRequest)
    assert req.status == "withdrawn"
    assert h.new("an") == []


async def test_abandoned_intake_reaches_the_coordinators(h: Harness) -> None:
    await ready(h)
    await h.ask_join("jan", "buurt")
    h.new("jan")
    h.clock.advance(minutes=16)
    await expire(h)
    assert "Nieuwe aanvraag #1" in h.new("an")[-1]
    assert "met wat je al antwoordde" in h.new("jan")[-1]


async def test_unanswered_request_expires_with_a_notice_to_both(h: Harness) -> None:
    await ready(h)
    await h.ask_join("jan", "buurt")
    await h.say("jan", "Kerkstraat")
    h.clock.advance(days=6, hours=23)
    await expire(h)
    assert h.new("an")[-1].startswith("Nieuwe aanvraag")
    h.clock.advance(hours=2)
    await expire(h)
    assert "is verlopen zonder beslissing" in h.new("an")[-1]
    assert "is verlopen" in h.new("jan")[-1]
    assert ("decline", "buurt", "jan") in h.platform.actions
    [req] = await rows(h, JoinRequest)
    assert req.status == "expired" and req.answers is None
    assert not h.platform.in_chat("an")[-2].buttons  # the request lost its buttons
    await h.press_data("an", "jr:approve:1")  # an old copy, e.g. from before a restart
    assert "Aanvraag #1 van Jan: verlopen." in h.new("an")[-1]
    await expire(h)
    assert h.new("jan") == []


async def test_requests_lists_pending_with_answers(h: Harness) -> None:
    await ready(h)
    await h.say("an", "/requests")
    assert "Er wachten geen aanvragen." in h.new("an")[-1]
    await h.ask_join("jan", "buurt")
    await h.say("jan", "Kerkstraat")
    await h.ask_join("lies", "buurt")
    await h.say("lies", "Dorpsplein")
    h.new("an")
    await h.say("an", "/requests")
    listing = h.new("an")[-1]
    assert "Wachtende aanvragen (2)" in listing
    assert "#1 Jan, BIN Noord" in listing and "Dorpsplein" in listing
    await h.press("an", "Goedkeuren #2")
    [m] = await rows(h, Membership)
    assert m.person_id != 0 and "Welkom" in h.new("lies")[-1]
    await h.say("jan", "/requests")
    assert "coördinator" in h.new("jan")[-1]


async def test_request_in_a_second_group_of_the_bin(h: Harness) -> None:
    await ready(h)
    await linked_group(h, "straat")
    await member(h, "jan")
    await h.ask_join("jan", "straat")
    assert ("approve", "straat", "jan") in h.platform.actions
    assert len(await rows(h, JoinRequest)) == 1


async def test_an_intake_without_its_conversation_is_passed_on_by_the_expiry_job(
    h: Harness,
) -> None:
    from storage.tables import ConversationRow

    await ready(h, intake=["Huisnummer?", "Hoe ken je het BIN?"])
    await h.ask_join("jan", "buurt")
    await h.say("jan", "12")
    h.new("jan")
    # As if the process had died between asking the first question and storing the intake.
    async with h.db.session() as s:
        for row in await rows(h, ConversationRow):
            await s.delete(await s.get(ConversationRow, row.id))
    h.clock.advance(minutes=16)
    await expire_requests(h.core)
    request = h.new("an")[-1]
    assert "Nieuwe aanvraag #1" in request and "Huisnummer? 12" in request
    assert "met wat je al antwoordde" in h.new("jan")[-1]
    [req] = await rows(h, JoinRequest)
    assert req.status == "pending"


async def test_a_decision_in_another_process_edits_every_stored_copy(h: Harness) -> None:
    await ready(h)
    await coordinator(h, "bert")
    await h.ask_join("jan", "buurt")
    await h.say("jan", "Kerkstraat")
    copies = [s for s in h.platform.sent if "Nieuwe aanvraag #1" in s.text]
    assert sorted(c.chat.chat_id for c in copies) == ["an", "bert"]
    assert all(c.buttons for c in copies)
    first = h.core
    restart(h)  # a second process on the same database, which never saw the copies go out
    assert h.core is not first
    await h.press("bert", "Goedkeuren")
    for copy in copies:
        assert not copy.buttons, copy.chat.chat_id
        assert copy.text.endswith("→ ✅") and "Kerkstraat" in copy.text
    assert ("approve", "buurt", "jan") in h.platform.actions
    # Kept after the decision: they still show Jan's answers, which erasing Jan must reach.
    assert len(await rows(h, RequestCopy)) == 2


async def test_expiry_and_withdrawal_edit_the_stored_copies_too(h: Harness) -> None:
    await ready(h)
    await h.ask_join("jan", "buurt")
    await h.say("jan", "Kerkstraat")
    await h.ask_join("lies", "buurt")
    await h.say("lies", "Dorpsplein")
    restart(h)
    await h.say("lies", "/leave noord")
    assert "is ingetrokken" in h.new("lies")[-1]
    h.clock.advance(days=8)
    await expire(h)
    marks = {s.text.splitlines()[-1] for s in h.platform.sent if "Nieuwe aanvraag" in s.text}
    assert marks == {"→ ⌛", "→ ↩"}
    assert all(not s.buttons for s in h.platform.sent if "Nieuwe aanvraag" in s.text)


async def test_a_storage_failure_at_approve_answers_with_a_reference_and_changes_nothing(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storage.groups import GroupRepo

    await ready(h)
    await h.ask_join("jan", "buurt")
    await h.say("jan", "Kerkstraat")
    await h.say("an", "/language en")
    h.new("jan")
    h.new("an")
    actions = list(h.platform.actions)

    async def broken(self: GroupRepo, *args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(GroupRepo, "admit", broken)
    await h.event(
        CommandIssued(h.chat(None, "an"), h.user("an"), "approve", "1", "m1"), may_fail=True
    )
    [answer] = h.new("an")
    assert re.match(r"Something went wrong on my side \(ref E-[A-Z2-9]{4}\)\.", answer)
    assert "Nothing was sent or changed" in answer and "disk on fire" not in answer
    [req] = await rows(h, JoinRequest)
    assert req.status == "pending" and req.decided_by is None
    assert await rows(h, Membership) == []
    assert h.platform.actions == actions  # nobody let in, no platform request touched
    assert h.new("jan") == []
    assert await audit(h, "join.approve") == []
    copy = next(s for s in h.platform.sent if "Nieuwe aanvraag #1" in s.text)
    assert copy.buttons  # still waiting for a decision
    monkeypatch.undo()
    await h.press("an", "Goedkeuren")
    assert "Welkom" in h.new("jan")[-1]


async def test_a_failure_after_the_approval_was_committed_says_what_was_done(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.services import membership

    await ready(h)
    await h.ask_join("jan", "buurt")
    await h.say("jan", "Kerkstraat")
    await h.say("an", "/language en")
    h.new("an")

    async def broken(*args: object) -> None:
        raise RuntimeError("platform wrapper bug")

    monkeypatch.setattr(membership, "let_in", broken)
    await h.event(
        CommandIssued(h.chat(None, "an"), h.user("an"), "approve", "1", "m1"), may_fail=True
    )
    [answer] = h.new("an")
    assert answer.startswith("Something went wrong on my side (ref E-")
    assert "Jan was approved as a member of BIN Noord." in answer
    assert "Nothing was sent" not in answer
    [m] = await rows(h, Membership)
    assert m.status == "active"


async def test_the_intake_is_stored_before_its_first_question_goes_out(h: Harness) -> None:
    """An answer typed the moment the question arrives (and taken by another process) finds
    the conversation: it is committed before the question is sent."""
    await ready(h)
    stored_when_asked: list[int] = []
    send = h.platform.send

    async def watching(chat: Any, message: Any, *, txn_id: str | None = None) -> Any:
        if chat.chat_id == "jan":
            stored_when_asked.append(len(await rows(h, ConversationRow)))
        return await send(chat, message, txn_id=txn_id)

    h.platform.send = watching  # type: ignore[method-assign]
    await h.ask_join("jan", "buurt")
    assert stored_when_asked == [1]
    assert "In welke straat woon je?" in h.last("jan")


async def test_who_cannot_be_written_to_privately_goes_to_the_coordinators_as_is(
    h: Harness,
) -> None:
    await ready(h)
    h.platform.fail("jan", PermanentError("forbidden"))
    await h.ask_join("jan", "buurt")
    assert await rows(h, ConversationRow) == []  # the conversation stored first is gone
    [req] = await rows(h, JoinRequest)
    assert req.status == "pending"
    assert "Nieuwe aanvraag #1 voor BIN Noord: Jan wil lid worden." in h.last("an")
