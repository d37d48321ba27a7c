"""What careless and hostile people tried with invites, numbers, erasure, linking, /numbers
and /join, and the answers they get now."""

from __future__ import annotations

import pytest

from bot.args import ID_MAX, BadNumber, looks_like_number, parse_number
from bot.ports import MissingRights, PermanentError
from bot.services import invites
from storage.tables import Identity, Invite, JoinRequest, Membership, RequestCopy
from tests.fakes import Harness
from tests.unit.test_groups_support import (
    audit,
    coordinator,
    member,
    ready,
    rows,
    zone_and_bin,
)

VOIDED_HERE = "Ik heb een bericht met een uitnodigingscode verwijderd."
VOIDED_PRIVATELY = "Je zette een uitnodigingscode in een groepsgesprek"
REFUSED = "Deze code is niet geldig. Vraag je beheerder om een nieuwe."


def deleted_in(h: Harness, chat: str) -> list[str]:
    return [
        mid for action, where, mid in h.platform.actions if (action, where) == ("delete", chat)
    ]


# -- 1. an invite code shown in a group ---------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    ["/redeem {code}", "/start {code}", "/redeem {sloppy}", "voor Piet: {code}, veel plezier"],
)
async def test_an_invite_code_shown_in_a_group_is_void_at_once(h: Harness, typed: str) -> None:
    await ready(h)
    await h.admin("invite coordinator --bin noord")
    code = h.code
    sloppy = code.lower().replace("-", " ")
    h.new("buurt")
    await h.say("yan", typed.format(code=code, sloppy=sloppy), chat="buurt")
    assert len(deleted_in(h, "buurt")) == 1
    assert h.new("buurt") == [
        VOIDED_HERE + " Codes zijn persoonlijk: omdat iedereen hier ze kon zien, werkt deze "
        "niet meer."
    ]
    [told] = h.new("yan")
    assert told.startswith(VOIDED_PRIVATELY) and "Vraag wie je ze gaf om een nieuwe" in told
    assert code not in told

    await h.say("lurker", f"/redeem {code}")
    assert h.new("lurker") == [REFUSED]
    [void] = await audit(h, "invite.void")
    assert void.outcome == "ok" and void.detail["reason"] == "posted_in_group"
    assert void.detail["group"] == 1 and void.actor.startswith("p-")
    listed = await h.admin("invite list")
    assert listed[-1].startswith("2\tcoordinator\tvoided\t")
    assert listed[-1].endswith(": the code was posted in a group chat")


async def test_a_code_is_void_even_where_the_bot_may_not_delete_the_message(h: Harness) -> None:
    await ready(h)
    await h.admin("invite police --zone Beringen")
    code = h.code
    h.new("buurt")
    h.platform.fail("buurt", MissingRights(["delete"]))
    await h.say("yan", f"/redeem {code}", chat="buurt")
    assert deleted_in(h, "buurt") == []
    assert h.new("buurt") == [
        "Dat was een uitnodigingscode. Codes zijn persoonlijk: omdat iedereen hier ze zag, "
        "werkt deze niet meer."
    ]
    await h.say("yan", f"/redeem {code}")  # not even the poster may use it now
    assert h.new("yan")[-1] == REFUSED
    [invite] = await rows(h, Invite, Invite.role == "police")
    assert invite.voided_at is not None and invite.used_at is None


async def test_a_code_shaped_word_that_is_no_open_invite_changes_nothing(h: Harness) -> None:
    await ready(h)
    await h.admin("invite coordinator --bin noord")
    used = h.code
    await h.say("bert", f"/redeem {used}")
    await h.admin("invite coordinator --bin noord")
    still_open = h.code
    h.new("buurt")
    await h.say("yan", "/redeem ABCD-EFGH-JKMN", chat="buurt")
    assert h.new("buurt") == ["Gebruik /redeem in een privégesprek met mij."]
    await h.say("yan", f"/redeem {used}", chat="buurt")  # used already: reveals nothing
    assert h.new("buurt") == ["Gebruik /redeem in een privégesprek met mij."]
    for text in ("buurtwachten", "ABCD EFGH JKMN", f"x{still_open}", "de code is 1234"):
        await h.say("yan", text, chat="buurt")
        await h.say("stil", text, chat="buurt")
    assert h.new("buurt") == [] and h.new("yan") == []
    assert await rows(h, Identity, Identity.user_id == "stil") == []  # nothing kept on them
    assert deleted_in(h, "buurt") == []
    assert await audit(h, "invite.void") == []
    await h.say("zoe", f"/redeem {still_open}")
    assert "coördinator voor Noord" in h.new("zoe")[0]


def test_code_shaped_words_are_found_in_text_as_redeem_reads_them() -> None:
    code = "K7Q2-MX4P-9BDE"
    assert invites.codes_in(f"hier: {code}.") == [code]
    assert invites.codes_in("k7q2 mx4p 9bde") == ["k7q2 mx4p 9bde"]
    assert invites.codes_in("K7Q2MX4P9BDE en K7Q2-MX4P-9BDEX") == ["K7Q2MX4P9BDE"]
    assert invites.codes_in("IOL1-MX4P-9BDE") == []  # letters no code has
    found = invites.codes_in("k7q2 mx4p 9bde")[0]
    assert invites.code_hash(found) == invites.code_hash(code)


# -- 6. numeric arguments -----------------------------------------------------------------


def test_numbers_are_parsed_with_bounds_and_ascii_digits_only() -> None:
    assert parse_number("12") == 12 and parse_number(" #12 ") == 12
    assert parse_number("") == BadNumber.MISSING
    for word in ("²", "١٢", "12a", "1 2", "0x10", "1e3", "½"):
        assert parse_number(word) == BadNumber.NOT_A_NUMBER, word
    for word in ("0", "-1", str(ID_MAX + 1), "9" * 5000, "99999999999999999999999"):
        assert parse_number(word) == BadNumber.OUT_OF_RANGE, word[:30]
    assert parse_number(str(ID_MAX)) == ID_MAX and parse_number("007") == 7
    assert parse_number("3", low=1, high=2) == BadNumber.OUT_OF_RANGE
    assert looks_like_number("-5") and not looks_like_number("jan") and not looks_like_number("²")


async def test_a_huge_or_odd_number_gets_a_clear_answer_from_every_command(h: Harness) -> None:
    await ready(h)
    await member(h, "jan")
    huge = "99999999999999999999999"
    for command in ("remove", "approve", "decline", "readmit"):
        await h.say("an", f"/{command} {huge}")
        assert h.new("an") == [
            f"{huge} is geen nummer dat ik kan gebruiken: geef een geheel getal van 1 tot "
            f"{ID_MAX}."
        ], command
    await h.say("an", f"/remove #{'9' * 5000}")
    assert "…" in h.new("an")[-1]  # the number is not echoed whole
    await h.say("an", "/decline 0 geen reden")
    assert "0 is geen nummer dat ik kan gebruiken" in h.new("an")[-1]
    await h.say("an", "/approve ²")
    assert h.new("an")[-1].startswith("Stuur /approve gevolgd door het nummer")
    await h.say("an", "/remove ²")  # not a number: a name nobody has
    assert "Ik vind geen lid „²”" in h.new("an")[-1]
    await h.press_data("an", f"jr:approve:{huge}")
    assert h.new("an") == ["Deze knop werkt niet meer."]
    [m] = await rows(h, Membership)
    assert m.status == "active"


# -- 15 and 16. /forgetme -----------------------------------------------------------------


async def test_forgetme_clears_the_coordinators_copies_of_the_request(h: Harness) -> None:
    await ready(h)
    await coordinator(h, "bert")
    await h.ask_join("jan", "buurt")
    await h.say("jan", "Kerkstraat 12, 0475 11 22 33")
    await h.press("an", "Goedkeuren")
    copies = [s for s in h.platform.sent if s.text.startswith("Nieuwe aanvraag #1")]
    assert len(copies) == 2 and all("0475 11 22 33" in c.text for c in copies)
    h.new("jan")
    await h.say("jan", "/forgetme")
    await h.press("jan", "Ja, wis alles")
    for copy in copies:
        assert copy.text == (
            "Aanvraag #1: gewist op vraag van de aanvrager. Naam en antwoorden worden niet "
            "meer bewaard."
        )
        assert not copy.buttons
    assert h.new("jan")[-1].endswith(
        "Ook de berichten waarin coördinatoren je aanvraag kregen, tonen je naam en "
        "antwoorden niet meer (2)."
    )
    assert await rows(h, RequestCopy) == [] and await rows(h, JoinRequest) == []
    [forgot] = await audit(h, "person.forget")
    assert forgot.detail == {"copies": 2}


async def test_forgetme_says_which_copies_it_could_not_clear(h: Harness) -> None:
    await ready(h)
    await h.ask_join("jan", "buurt")
    await h.say("jan", "Kerkstraat 12")  # pending: withdrawn, then cleared
    [copy] = [s for s in h.platform.sent if s.text.startswith("Nieuwe aanvraag #1")]
    await h.say("jan", "/forgetme")
    # The withdrawal's edit fails, then clearing: the copy is deleted instead.
    h.platform.fail("an", PermanentError("x"), PermanentError("y"))
    await h.press("jan", "Ja, wis alles")
    assert copy.deleted
    assert h.new("jan")[-1].endswith("tonen je naam en antwoorden niet meer (1).")

    await h.ask_join("piet", "buurt")
    await h.say("piet", "Dorpstraat 3")
    [copy] = [s for s in h.platform.sent if "Dorpstraat 3" in s.text]
    await h.say("piet", "/forgetme")
    # Withdrawing, clearing and deleting all fail.
    h.platform.fail("an", PermanentError("x"), PermanentError("y"), PermanentError("z"))
    await h.press("piet", "Ja, wis alles")
    assert "Dorpstraat 3" in copy.text and not copy.deleted
    assert h.new("piet")[-1].endswith(
        "1 bericht(en) met je aanvraag bij coördinatoren kon ik niet aanpassen of verwijderen "
        "(het platform liet het niet toe of het bericht bestaat niet meer)."
    )


async def test_a_button_left_under_an_erased_request_cannot_decide_a_later_one(
    h: Harness,
) -> None:
    await ready(h)
    await h.ask_join("piet", "buurt")
    await h.say("piet", "Dorpstraat 3")
    [old] = [s for s in h.platform.sent if "Dorpstraat 3" in s.text]
    await h.say("piet", "/forgetme")
    h.platform.fail("an", PermanentError("x"), PermanentError("y"), PermanentError("z"))
    await h.press("piet", "Ja, wis alles")
    assert old.buttons  # the copy could not be cleared: its buttons are still there
    # The next request may get the same number (SQLite reuses the id of a deleted last row),
    # and even the same person id: only the moment it was made tells them apart.
    h.clock.advance(minutes=5)
    await h.ask_join("jan", "buurt")
    await h.say("jan", "Kerkstraat 12")
    [req] = await rows(h, JoinRequest)
    [(_, stale)] = [b for b in old.buttons if b[0] == "Goedkeuren"]
    [(_, fresh)] = [b for b in h.platform.in_chat("an")[-1].buttons if b[0] == "Goedkeuren"]
    assert stale.rsplit(":", 1)[0] == fresh.rsplit(":", 1)[0] == f"jr:approve:{req.id}"
    h.new("an")
    await h.press_data("an", stale)
    assert h.new("an") == ["Deze knop werkt niet meer."]
    [req] = await rows(h, JoinRequest)
    assert req.status == "pending"  # Jan's request is still for the coordinators to decide
    assert await rows(h, Membership) == []


async def test_forgetme_names_the_roles_a_coordinator_actually_holds(h: Harness) -> None:
    await ready(h)
    await h.say("an", "/forgetme")
    question = h.new("an")[-1]
    assert "Ook je rollen vervallen: coördinator (Noord);" in question
    assert "politie" not in question and "preventiedienst" not in question
    await h.admin("invite prevention --zone Beringen")
    await h.say("an", f"/redeem {h.code}")
    await h.say("an", "/forgetme")
    assert "coördinator (Noord), preventiedienst (Beringen);" in h.new("an")[-1]
    await member(h, "jan")
    await h.say("jan", "/forgetme")
    assert "rollen" not in h.new("jan")[-1]


# -- 17. /link again -------------------------------------------------------------------------


async def test_linking_a_group_again_to_its_bin_posts_nothing_again(h: Harness) -> None:
    await ready(h)
    sent, actions = len(h.platform.sent), len(h.platform.actions)
    await h.say("an", "/link noord", chat="buurt")
    await h.say("an", "/link", chat="buurt")
    already = (
        "Deze groep hoort al bij BIN Noord; de groepsregels staan er al. Er is niets veranderd."
    )
    assert h.new("buurt") == [already, already]
    assert len(h.platform.sent) == sent + 2 and len(h.platform.actions) == actions
    assert h.new("an") == []
    refused = [e for e in await audit(h, "group.link") if e.outcome == "refused"]
    assert [e.detail["reason"] for e in refused] == ["already_linked"] * 2


async def test_linking_again_posts_the_rules_that_could_not_be_posted(h: Harness) -> None:
    await zone_and_bin(h)
    await coordinator(h, "an")
    await h.add_bot("buurt", "an")
    h.platform.fail("buurt", MissingRights(["post"]))
    await h.say("an", "/link", chat="buurt")
    assert not any(t.startswith("Groepsregels") for t in h.new("buurt"))
    await h.say("an", "/link", chat="buurt")
    assert h.new("buurt")[-1].startswith("Groepsregels – BIN Noord")


# -- 18. /numbers -------------------------------------------------------------------------


async def test_numbers_for_someone_in_no_bin_name_the_zones_served(h: Harness) -> None:
    await zone_and_bin(h)
    await h.say("lone", "/numbers")
    text = h.new("lone")[-1]
    assert text.startswith("Politiezone Beringen") and "011 27 95 79" in text
    await h.say("lone", "/check A-ZZZZ")
    assert "011 27 95 79" in h.new("lone")[-1]
    await h.admin('zone add Genk --non-urgent "089 30 52 00"')
    await h.admin("zone add Heusden-Zolder")
    await h.say("lone", "/numbers")
    text = h.new("lone")[-1]
    assert "112" in text and "101" in text
    assert text.endswith(
        "De politiezones van dit netwerk:\n"
        "• Beringen: dringend 101, niet dringend 011 27 95 79\n"
        "• Genk: dringend 101, niet dringend 089 30 52 00\n"
        "• Heusden-Zolder: dringend 101"
    )
    await coordinator(h, "an")  # in a BIN: only its zone
    await h.say("an", "/numbers")
    assert "Genk" not in h.new("an")[-1]


# -- 13. /join while the intake is unanswered ---------------------------------------------


async def test_join_again_during_the_intake_asks_the_open_question_again(h: Harness) -> None:
    await ready(h, intake=["Straat?", "Huisnummer?"])
    await h.say("jan", "/join noord")
    await h.say("jan", "Kerkstraat")
    h.new("jan")
    await h.say("jan", "/join noord")
    [again] = h.new("jan")
    assert "er staat nog een vraag voor je open" in again
    assert again.endswith("Vraag 2/2: Huisnummer?")
    assert "wacht nog op een coördinator" not in again
    await h.say("jan", "12")
    [copy] = h.new("an")
    assert "Straat? Kerkstraat" in copy and "Huisnummer? 12" in copy
    await h.say("jan", "/join noord")
    assert "wacht nog op een coördinator" in h.new("jan")[-1]
    assert len(await rows(h, JoinRequest)) == 1


async def test_join_by_command_takes_over_the_intake_of_a_platform_request(h: Harness) -> None:
    await ready(h)
    await h.ask_join("jan", "buurt")  # the intake runs in jan's private chat
    h.new("jan")
    await h.say("jan", "/join noord")
    assert h.new("jan")[-1].endswith("Vraag 1/1: In welke straat woon je?")
    await h.say("jan", "Kerkstraat")
    assert "In welke straat woon je? Kerkstraat" in h.new("an")[-1]


async def test_odd_numbers_typed_into_the_alert_wizard_are_refused_clearly(h: Harness) -> None:
    from tests.unit.test_alerts_world import make_world, official

    await make_world(h)
    await official(h, "jan")
    await h.say("jan", "/alert")
    for typed in ("²", "9" * 5000, "0", "-1"):
        await h.say("jan", typed)  # which BINs: none of these is one
        assert h.new("jan")[-1].startswith("I did not understand"), typed[:10]
    await h.say("jan", "1")
    for typed in ("²", "99999999999999999999999"):
        await h.say("jan", typed)  # which category
        assert h.new("jan")[-1] == "Reply with a number from 1 to 7.", typed[:10]
    await h.press_data("jan", "seen:99999999999999999999999", chat="noord-1")
    await h.press_data("jan", "seen:²", chat="noord-1")
    refused = [e for e in await audit(h, "alert.seen") if e.outcome == "refused"]
    assert [e.detail["reason"] for e in refused] == ["payload", "payload"]
