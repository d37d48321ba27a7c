"""/mydata shows every record held on a person; /forgetme erases them, after confirming."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from bot.dispatch import Core
from bot.events import MessagePosted
from bot.services import privacy
from storage.tables import ConversationRow, Identity, JoinRequest, Membership, Person
from tests.fakes import Harness
from tests.unit.test_groups_support import audit, member, ready, rows


async def test_mydata_shows_every_record(h: Harness) -> None:
    await ready(h)
    await h.say("jan", "/join noord")
    await h.say("jan", "Kerkstraat 12")
    await h.say("jan", "/mydata")
    shown = h.new("jan")[-1]
    assert shown.startswith("Wat ik over je bewaar")
    [person] = await rows(h, Person, Person.id == 2)
    assert person.pseudonym in shown
    assert "Account: Telegram, naam „Jan”, id jan" in shown
    assert "Aanvraag #1 voor BIN Noord van 2026-01-05: wacht op een coördinator" in shown
    assert "In welke straat woon je? Kerkstraat 12" in shown  # answers, while pending
    await h.say("an", "/approve 1")
    await h.say("jan", "/mydata")
    shown = h.new("jan")[-1]
    assert "BIN Noord: lid (sinds 2026-01-05)" in shown and "goedgekeurd" in shown
    assert "Kerkstraat" not in shown  # erased once decided
    await h.say("an", "/mydata")
    assert "Rol: coördinator voor Noord" in h.new("an")[-1]


async def test_forgetme_leaves_nothing_personal_behind(h: Harness, tmp_path: Path) -> None:
    await ready(h)
    await member(h, "jan")
    await h.say("jan", "/join zuid")  # an unknown BIN: no record
    [jan] = await rows(h, Person, Person.id == 2)
    await h.say("jan", "/forgetme")
    question = h.new("jan")[-1]
    assert "Wil je dat ik alles wis" in question and "Noord" in question
    await h.press("jan", "Ja, wis alles")
    assert "ik heb alles over je gewist" in h.new("jan")[-1]
    assert ("remove", "buurt", "jan") in h.platform.actions

    assert await rows(h, Person, Person.id == jan.id) == []
    assert await rows(h, Identity, Identity.person_id == jan.id) == []
    assert await rows(h, Membership) == []
    assert await rows(h, JoinRequest) == []
    entries = await audit(h)
    assert {e.action for e in entries if e.actor == jan.pseudonym} == {
        "join.request",
        "person.forget",
    }
    for e in entries:
        assert "jan" not in str(e.detail).lower()
    await h.db.dispose()
    with sqlite3.connect(tmp_path / "test.db") as conn:
        dump = "\n".join(conn.iterdump())
    assert "Kerkstraat" not in dump and "'jan'" not in dump and "'Jan'" not in dump
    assert jan.pseudonym in dump  # only in the audit log


async def test_forgetme_during_a_pending_request_withdraws_it(h: Harness) -> None:
    await ready(h)
    await h.ask_join("jan", "buurt")
    await h.say("jan", "Kerkstraat")
    await h.say("jan", "/forgetme")
    await h.say("jan", "ja")
    assert ("decline", "buurt", "jan") in h.platform.actions
    assert await rows(h, JoinRequest) == []
    assert not any(s.buttons for s in h.platform.in_chat("an"))


async def test_forgetme_can_be_refused_or_cancelled(h: Harness) -> None:
    await ready(h)
    await member(h, "jan")
    await h.say("jan", "/forgetme")
    await h.say("jan", "misschien")
    assert "Antwoord ja of nee" in h.new("jan")[-1]
    await h.press("jan", "Nee, bewaren")
    assert "ik heb niets gewist" in h.new("jan")[-1]
    await h.say("jan", "/forgetme")
    await h.say("jan", "/cancel")
    assert len(await rows(h, Membership)) == 1 and len(await rows(h, Identity)) == 2


async def test_forgetme_warns_about_roles(h: Harness) -> None:
    await ready(h)
    await h.say("an", "/forgetme")
    assert "Ook je rollen" in h.new("an")[-1]
    await h.say("an", "/forgetme", chat="buurt")
    assert "privégesprek" in h.new("buurt")[-1]


async def test_forgetme_in_french_with_words(h: Harness) -> None:
    await ready(h, zone="Namur", language="fr", bin_name="Nord", code="noord")
    await member(h, "luc", approve="Accepter")
    await h.say("luc", "/forgetme")
    assert "Voulez-vous que j'efface tout" in h.new("luc")[-1]
    await h.say("luc", "Oui !")
    assert "j'ai tout effacé" in h.new("luc")[-1]
    assert await rows(h, Membership) == []


async def test_join_decide_and_forget_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    h = await Harness.create(tmp_path, url=pg_url)
    try:
        await ready(h)
        await member(h, "jan")
        [req] = await rows(h, JoinRequest)
        assert req.status == "approved" and req.answers is None
        await h.say("jan", "/forgetme")
        await h.say("jan", "ja")
        assert await rows(h, Membership) == [] and await rows(h, JoinRequest) == []
        assert [i.user_id for i in await rows(h, Identity)] == ["an"]
    finally:
        await h.close()


async def test_the_confirmation_is_stored_and_any_process_takes_it(h: Harness) -> None:
    await ready(h)
    await member(h, "jan")
    await h.say("jan", "/forgetme")
    h.core = Core(h.db, h.core.platforms, clock=h.clock, rng=h.core.rng)  # a restart
    await h.say("jan", "ja")
    assert "ik heb alles over je gewist" in h.new("jan")[-1]
    assert await rows(h, Membership) == [] and await rows(h, ConversationRow) == []


async def test_a_second_tap_on_the_confirmation_changes_nothing(h: Harness) -> None:
    await ready(h)
    await member(h, "jan")
    await h.say("jan", "/forgetme")
    await h.press("jan", "Nee, bewaren")
    await h.press("jan", "Ja, wis alles")  # the old button of an ended conversation
    assert h.last("jan") == "Deze knop werkt niet meer."
    assert len(await rows(h, Membership)) == 1


async def test_erasing_ends_every_conversation_of_the_person(h: Harness) -> None:
    await ready(h)
    await h.say("jan", "/join noord")  # the intake asks a question: a stored conversation
    [jan] = await rows(h, Person, Person.id == 2)
    async with h.core.uow() as uow:  # one more, in another private chat of theirs
        expires = h.clock.now() + timedelta(minutes=5)
        platform = h.platform.platform.value
        await uow.conversations.begin(platform, "jan-2", "jan", jan.id, "x", "s", {}, expires)
        await uow.commit()
    await h.say("jan", "/forgetme")
    await h.say("jan", "ja")
    assert await rows(h, ConversationRow) == [] and await rows(h, JoinRequest) == []


async def test_a_failure_after_taking_someone_out_says_so(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await ready(h)
    await member(h, "jan")
    await h.say("jan", "/forgetme")

    async def broken(*args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(privacy, "erase", broken)
    await h.event(MessagePosted(h.chat(None, "jan"), h.user("jan"), "ja", "99"), may_fail=True)
    answer = h.last("jan")
    assert answer.startswith("Er ging aan mijn kant iets mis")
    assert "Je bent uit de groepen van je BIN's gehaald" in answer
    assert ("remove", "buurt", "jan") in h.platform.actions
