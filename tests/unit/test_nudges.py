"""Nudges towards 101: what reads like an incident, once per cooldown, and never for whom."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from bot.events import MessagePosted
from bot.model import Capabilities, Platform, UserRef
from bot.services.nudges import looks_like_incident
from storage.tables import Identity
from tests.fakes import Harness, RecordingPlatform
from tests.unit.test_groups_support import coordinator, member, ready, rows


@pytest.mark.parametrize(
    "text",
    [
        "Er staat een verdachte wagen in de straat",
        "VERDACHT persoon aan de school",
        "Inbraak bij de buren vannacht!",
        "Poging tot woninginbraak in de Kerkstraat",
        "Inbrekers gezien aan nr 12",
        "Mijn fiets is gestolen",
        "fietsdiefstal aan het station",
        "Cambriolage rue de la Station",
        "Un individu suspect rôde autour des maisons",
        "Deux cambrioleurs en fuite",
        "ma voiture a été volée cette nuit",
        "Attention au voleur à vélo",
        "Einbruch in der Hauptstraße",
        "Ein verdächtiges Auto vor der Schule",
        "Fahrraddiebstahl am Bahnhof",
        "Suspicious van parked all day",
        "Burglar alarm and a break-in at number 4",
        "There was a BREAKIN last night",
    ],
)
def test_incident_reports_are_recognised(text: str) -> None:
    assert looks_like_incident(text)


@pytest.mark.parametrize(
    "text",
    [
        "Infoavond over inbraakpreventie op dinsdag",
        "Wie heeft er zin in de barbecue?",
        "Bei Einbruch der Dunkelheit gehen die Lampen an",
        "Le vol pour Rome est annulé",
        "What a suspenseful film",
        "Overvalt het je ook dat het stil is?",
        "Rode bloemen aan de kerk",
        "",
    ],
)
def test_ordinary_messages_are_left_alone(text: str) -> None:
    assert not looks_like_incident(text)


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
