"""Nudges towards 101: what reads like an incident, once per cooldown, and never for whom."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from bot.events import MessagePosted
from bot.model import Capabilities, Platform, UserRef
from bot.nudge import classify, default_model
from storage.tables import Identity
from tests.fakes import Harness, RecordingPlatform
from tests.unit.test_groups_support import audit, coordinator, member, ready, rows

# Posts as neighbours write them: what they saw, rarely the category's name.
INCIDENTS = [
    "man met kap op loopt in de voortuinen en voelt aan de klinken",
    "iemand met een zaklamp in de tuin van de buren",
    "Er staat een verdachte wagen in de straat",
    "Inbraak bij de buren vannacht!",
    "Vitre de voiture cassée rue du Moulin, rien vu?",
    "Un individu suspect rôde autour des maisons",
    "Zwei Männer versuchen Autotüren zu öffnen",
    "Einbruch in der Hauptstraße",
    "Fake water company guys knocking on doors",
    "torch in the back gardens behind Mill Lane",
]
EMERGENCIES = [
    "Er komt zwarte rook uit het dak van de buren!!",
    "Un homme est inconscient sur le trottoir, il ne réagit pas",
    "Da wird gerade einer am Bahnhof zusammengeschlagen",
    "someone is drowning in the canal, shouting for help",
]
ALREADY_CALLED = [
    "politie is al verwittigd, die wagen staat er nog",
    "j'ai appelé la police, ils arrivent",
    "Polizei ist schon da",
    "cops are on their way",
]
CHATTER = [
    "De politie heeft gisteren de daders van de inbraken opgepakt",
    "Haha er stond een 'verdachte' wagen voor mijn deur, bleek mijn schoonmoeder te zijn",
    "Infoavond over inbraakpreventie op dinsdag",
    "Wie heeft er zin in de barbecue?",
    "Bei Einbruch der Dunkelheit gehen die Lampen an",
    "Le vol pour Rome est annulé",
    "What a suspenseful film",
    "Kat gevonden, grijs met witte pootjes",
    "",
]


@pytest.mark.parametrize("text", INCIDENTS)
def test_incident_reports_get_a_101_nudge(text: str) -> None:
    decision = classify(text)
    assert decision.kind == "101" and decision.nudges


@pytest.mark.parametrize("text", EMERGENCIES)
def test_emergencies_get_112(text: str) -> None:
    assert classify(text).kind == "112"


@pytest.mark.parametrize("text", ALREADY_CALLED)
def test_posts_saying_the_police_were_called_get_no_nudge(text: str) -> None:
    decision = classify(text)
    assert decision.kind == "called" and not decision.nudges


@pytest.mark.parametrize("text", CHATTER)
def test_ordinary_messages_are_left_alone(text: str) -> None:
    assert classify(text).kind == "none"


def test_sensitivity_moves_the_threshold() -> None:
    """A borderline post is nudged at high, not at low; off never nudges."""
    text = "Er staat een verdachte wagen in de straat"
    p = classify(text).nudge
    assert classify(text, "off").kind == "none"
    thresholds = default_model().thresholds
    assert thresholds["high"] < thresholds["normal"] < thresholds["low"]
    for level in ("low", "normal", "high"):
        assert classify(text, level).nudges == (p >= thresholds[level])  # type: ignore[arg-type]


def test_the_decision_can_be_explained_by_the_words_of_the_post() -> None:
    words = [w.word for w in default_model().explain("man met kap voelt aan de klinken")]
    assert "klinken" in words[:2]
    assert all(w.weight > 0 for w in default_model().explain("verdachte wagen"))
    assert default_model().explain("") == []


async def test_nudge_once_then_i_called_101(h: Harness) -> None:
    await ready(h)
    await member(h, "jan")
    await h.say("jan", "Er staat een verdachte wagen in de straat", chat="buurt")
    [nudge] = h.new("buurt")
    assert "Heb je eerst de politie gebeld?" in nudge and "101" in nudge
    sent = h.platform.in_chat("buurt")[-1]
    assert sent.message.reply_to is not None
    assert sent.buttons == [("Ik heb 101 gebeld", "called:1")]

    await h.press("piet", "Ik heb 101 gebeld", chat="buurt")
    assert h.new("buurt") == [
        "✅ Piet heeft de politie gebeld (101). Niet iedereen hoeft nu apart "
        "te bellen over hetzelfde. Zie je iets nieuws (een nummerplaat, een "
        "richting)? Bel dan zelf 101 met die informatie."
    ]
    assert not h.platform.in_chat("buurt")[-2].buttons  # tapped once, the button goes
    await h.press_data("jan", "called:1", chat="buurt")
    assert "al laten weten" in h.new("buurt")[-1]


async def test_cooldown_keeps_the_bot_quiet(h: Harness) -> None:
    await ready(h)
    await member(h, "jan")
    await h.say("jan", "verdachte wagen", chat="buurt")
    assert len(h.new("buurt")) == 1
    h.clock.advance(minutes=29)
    await h.say("jan", "Nu ook een inbraak verderop", chat="buurt")
    await h.say("lies", "Suspicious man at the corner", chat="buurt")
    assert h.new("buurt") == []
    h.clock.advance(minutes=2)
    await h.say("lies", "Inbraak!", chat="buurt")
    assert len(h.new("buurt")) == 1


async def test_cooldown_is_per_group(h: Harness) -> None:
    from tests.unit.test_groups_support import linked_group

    await ready(h)
    await linked_group(h, "straat")
    await h.say("jan", "inbraak", chat="buurt")
    await h.say("jan", "inbraak", chat="straat")
    assert len(h.new("buurt")) == 1 and len(h.new("straat")) == 1


async def test_no_nudge_for_police_prevention_coordinators_or_unlinked_groups(
    h: Harness,
) -> None:
    await ready(h)
    await h.admin("invite police --zone Beringen")
    await h.say("inspecteur", "/redeem " + h.code)
    await h.admin("invite prevention --zone Beringen")
    await h.say("preventie", "/redeem " + h.code)
    await coordinator(h, "bert")
    for name in ("an", "bert", "inspecteur", "preventie"):
        await h.say(name, "Verdachte wagen gemeld, we volgen op", chat="buurt")
    assert h.new("buurt") == []
    await h.say("jan", "inbraak", chat="elders")
    assert h.new("elders")[1:] == []  # the greeting only: the group is not linked


async def test_never_the_bots_own_messages(h: Harness) -> None:
    await ready(h)
    bot = UserRef(h.platform.platform, "binbot", "binbot", is_bot=True)
    await h.event(MessagePosted(h.chat("buurt", "x"), bot, "Verdachte wagen", "m1"))
    assert h.new("buurt") == []


async def test_text_is_neither_stored_nor_logged(
    h: Harness, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await ready(h)
    caplog.set_level(logging.DEBUG)
    secret = "Verdachte wagen 1-ABC-123 bij Jansens"
    await h.say("stranger", secret, chat="buurt")
    assert len(h.new("buurt")) == 1
    # No record was made of the poster, and the text is nowhere in the database or the logs.
    assert [i.user_id for i in await rows(h, Identity)] == ["an"]
    await h.db.dispose()
    with sqlite3.connect(tmp_path / "test.db") as conn:
        dump = "\n".join(conn.iterdump())
    assert "1-ABC-123" not in dump and "Jansens" not in dump
    assert "1-ABC-123" not in caplog.text


async def test_matrix_has_no_buttons_so_the_nudge_names_the_command(tmp_path: Path) -> None:
    fake = RecordingPlatform(Platform.MATRIX, Capabilities(max_text_length=4096, buttons=False))
    h = await Harness.create(tmp_path, platform=fake)
    try:
        await ready(h)
        await h.say("jan", "Inbraak in de Dorpsstraat", chat="buurt")
        nudge = h.new("buurt")[-1]
        assert "Antwoord !called" in nudge
        assert not h.platform.in_chat("buurt")[-1].buttons
        await h.say("jan", "/called", chat="buurt")
        assert h.new("buurt")[-1].startswith("✅ Jan heeft de politie gebeld")
    finally:
        await h.close()


async def test_called_without_a_recent_nudge(h: Harness) -> None:
    await ready(h)
    await h.say("jan", "/called", chat="buurt")
    assert "niets gemeld" in h.new("buurt")[-1]
    await h.press_data("jan", "called:99", chat="buurt")
    assert "werkt niet meer" in h.new("buurt")[-1]


async def test_nudge_in_french(h: Harness) -> None:
    await ready(h, zone="Namur", language="fr", bin_name="Nord", code="noord")
    await h.say("luc", "Cambriolage rue de Fer", chat="buurt")
    assert "Avez-vous d'abord appelé la police ?" in h.new("buurt")[-1]
    await h.press("luc", "J'ai appelé le 101", chat="buurt")
    assert h.new("buurt")[-1].startswith("✅ Luc a appelé la police (101).")


async def test_i_called_101_still_works_once_after_a_restart(h: Harness) -> None:
    from bot.dispatch import Core

    await ready(h)
    await h.say("jan", "Inbraak bij nummer 3", chat="buurt")
    h.new("buurt")
    h.core = Core(h.db, {h.platform.platform: h.platform}, clock=h.clock)
    await h.press("jan", "Ik heb 101 gebeld", chat="buurt")
    assert h.new("buurt")[-1].startswith("✅ Jan heeft de politie gebeld")
    # The nudge is stored: the new process took its button away too.
    assert not h.platform.in_chat("buurt")[-2].buttons
    await h.press_data("lies", "called:1", chat="buurt")
    assert "al laten weten" in h.new("buurt")[-1]
    # The cooldown survived the restart too: it lives in the database.
    await h.say("lies", "Nog een inbraak", chat="buurt")
    assert h.new("buurt") == []


async def test_an_emergency_is_told_to_call_112_first(h: Harness) -> None:
    await ready(h)
    await h.say("jan", "Er komt zwarte rook uit het dak van de buren!!", chat="buurt")
    [nudge] = h.new("buurt")
    assert "Bel eerst 112" in nudge
    assert h.platform.in_chat("buurt")[-1].buttons == [("Ik heb 112 gebeld", "called:1")]
    await h.press("piet", "Ik heb 112 gebeld", chat="buurt")
    assert h.new("buurt")[-1].startswith("✅ Piet heeft 112 gebeld.")


async def test_police_already_called_gets_a_thank_you_not_a_nudge(h: Harness) -> None:
    await ready(h)
    await h.say("jan", "politie is al verwittigd, die wagen staat er nog", chat="buurt")
    [thanks] = h.new("buurt")
    assert thanks.startswith("👍 Bedankt om eerst de politie te verwittigen.")
    assert "Heb je eerst de politie gebeld?" not in thanks
    assert not h.platform.in_chat("buurt")[-1].buttons
    # One bot message per cooldown: the next incident post in the same minutes is left alone,
    # and "I called" says the group already knows.
    await h.say("lies", "Er staat een verdachte wagen in de straat", chat="buurt")
    assert h.new("buurt") == []
    await h.say("lies", "/called", chat="buurt")
    assert "al laten weten" in h.new("buurt")[-1]


async def test_coordinator_sets_the_sensitivity_of_the_group(h: Harness) -> None:
    await ready(h)
    await h.say("an", "/nudges", chat="buurt")
    assert "**normal**" not in (shown := h.new("buurt")[-1]) and ": normal —" in shown
    await h.say("an", "/nudges off", chat="buurt")
    assert h.new("buurt")[-1].startswith("Gelukt: herinneringen in deze groep staan nu op off")
    await h.say("jan", "Inbraak bij de buren vannacht!", chat="buurt")
    assert h.new("buurt") == []
    await h.say("an", "/nudges hoog", chat="buurt")  # the Dutch word works too
    assert "staan nu op high" in h.new("buurt")[-1]
    await h.say("jan", "Inbraak bij de buren vannacht!", chat="buurt")
    assert "Heb je eerst de politie gebeld?" in h.new("buurt")[-1]
    first, second = await audit(h, "group.nudges")
    assert (first.detail["before"], first.detail["after"]) == ("normal", "off")
    assert (second.detail["before"], second.detail["after"]) == ("off", "high")
    await h.say("an", "/nudges sometimes", chat="buurt")
    assert "Gebruik /nudges off, low, normal of high" in h.new("buurt")[-1]


async def test_only_the_bins_coordinator_sets_the_sensitivity(h: Harness) -> None:
    await ready(h)
    await member(h, "jan")
    await h.say("jan", "/nudges off", chat="buurt")
    h.new("buurt")
    # A coordinator of another BIN of the zone may not either.
    await h.admin("bin add Zuid --zone Beringen --code zuid")
    await coordinator(h, "els", "zuid")
    await h.say("els", "/nudges off", chat="buurt")
    assert (
        h.new("buurt")[-1] == "Alleen een coördinator van de BIN van deze groep kan dit aanpassen."
    )
    assert [e.outcome for e in await audit(h, "group.nudges")] == ["refused"]
    await h.say("an", "/nudges", chat="buurt")
    assert ": normal —" in h.new("buurt")[-1]


async def test_a_coordinator_tries_a_text_in_private_and_it_is_not_kept(
    h: Harness, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await ready(h)
    caplog.set_level(logging.DEBUG)
    await h.say("an", "/nudges test ne gast met een kap voelt aan de klinken bij Jansens")
    [answer] = h.new("an")
    assert answer.startswith("Zo lees ik het: een incident voor 101")
    assert "klinken" in answer.split("wogen:")[1] and "low, normal, high" in answer
    await h.say("an", "/nudges test politie is al verwittigd")
    assert "de politie is al verwittigd" in h.new("an")[-1]
    await h.say("an", "/nudges test hallo", chat="buurt")
    assert "in een privégesprek" in h.new("buurt")[-1]
    await h.db.dispose()
    with sqlite3.connect(tmp_path / "test.db") as conn:
        dump = "\n".join(conn.iterdump())
    assert "Jansens" not in dump and "Jansens" not in caplog.text
