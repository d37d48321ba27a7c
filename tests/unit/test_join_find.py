"""Residents find their BIN from chat: by postcode, street or municipality, from a list of
buttons or typed numbers, and through a BIN's public join link (`/start join-CODE`)."""

from __future__ import annotations

import dataclasses

from storage.tables import JoinRequest
from tests.fakes import Harness
from tests.unit.test_groups_support import coordinator, linked_group, rows


async def two_bins(h: Harness) -> None:
    """Beringen with Noord (3580, Kerkstraat; group "buurt") and Zuid (3582, Kerkstraat too,
    and Stationsstraat; no group), in English."""
    await h.admin('zone add Beringen --non-urgent "011 27 95 79" --language en')
    await h.admin('bin add Noord --zone Beringen --code noord --area "3580 Kerkstraat, Molenweg"')
    await h.admin(
        'bin add Zuid --zone Beringen --code zuid --area "3582 Koersel: Kerkstraat, Stationsstraat"'
    )
    await coordinator(h, "an")
    await linked_group(h)
    await h.say("kim", "/language en")
    h.new("kim")


async def requests(h: Harness) -> list[tuple[int, str]]:
    return [(r.bin_id, r.status) for r in await rows(h, JoinRequest)]


async def test_join_with_a_postcode_lists_the_one_bin_and_a_tap_asks_to_join(h: Harness) -> None:
    await two_bins(h)
    await h.say("kim", "/join 3580")
    listing = h.last("kim")
    assert "1. Noord (Beringen) — 3580 Kerkstraat, Molenweg" in listing
    assert "Zuid" not in listing
    assert [b[0] for b in h.platform.in_chat("kim")[-1].buttons] == ["Noord"]
    await h.press("kim", "Noord")
    assert "Question 1/1" in h.last("kim")
    assert await requests(h) == [(1, "intake")]


async def test_a_street_in_two_bins_lists_both_and_a_typed_number_picks(h: Harness) -> None:
    await two_bins(h)
    await h.say("kim", "/join kerkstraat")
    listing = h.last("kim")
    assert "1. Noord (Beringen)" in listing and "2. Zuid (Beringen)" in listing
    await h.say("kim", "7")
    assert "Reply with a number from the list (1–2)" in h.last("kim")
    assert await requests(h) == []
    await h.say("kim", "1")
    assert "Question 1/1" in h.last("kim")
    assert await requests(h) == [(1, "intake")]


async def test_a_postcode_matches_only_as_a_whole_number(h: Harness) -> None:
    await two_bins(h)
    await h.say("kim", "/join 358")
    assert "No BIN matches “358”" in h.last("kim")
    await h.say("kim", "/join 3582")
    assert "Zuid" in h.last("kim") and "Noord" not in h.last("kim")


async def test_join_by_municipality_and_accents_and_case_do_not_matter(h: Harness) -> None:
    await two_bins(h)
    await h.say("kim", "/join BÉRINGEN")
    assert "1. Noord" in h.last("kim") and "2. Zuid" in h.last("kim")
    await h.say("kim", "/join koersel")
    assert "1. Zuid" in h.last("kim") and "Noord" not in h.last("kim")


async def test_join_without_a_word_lists_every_bin(h: Harness) -> None:
    await two_bins(h)
    await h.say("kim", "/join")
    assert "Which BIN do you want to join?" in h.last("kim")
    assert "2. Zuid" in h.last("kim")


async def test_nothing_matching_is_answered_and_changes_nothing(h: Harness) -> None:
    await two_bins(h)
    await h.say("kim", "/join Nergensstraat")
    assert "No BIN matches “Nergensstraat”" in h.last("kim")
    await h.say("kim", "1")  # no list is open: not taken as a pick
    assert await requests(h) == []


async def test_a_code_still_asks_at_once(h: Harness) -> None:
    await two_bins(h)
    await h.say("kim", "/join noord")
    assert "Question 1/1" in h.last("kim")


async def test_a_bin_without_a_group_here_is_answered_when_picked(h: Harness) -> None:
    await two_bins(h)
    await h.say("kim", "/join 3582")
    await h.say("kim", "1")
    assert "Zuid" in h.last("kim") and await requests(h) == []


async def test_a_button_of_an_older_list_is_refused(h: Harness) -> None:
    await two_bins(h)
    await h.say("kim", "/join 3580")
    old = h.platform.in_chat("kim")[-1].buttons[0][1]
    await h.say("kim", "/join 3582")
    await h.press_data("kim", old)
    assert await requests(h) == []


async def test_without_buttons_the_list_asks_for_a_number(h: Harness) -> None:
    await two_bins(h)
    h.platform.capabilities = dataclasses.replace(h.platform.capabilities, buttons=False)
    await h.say("kim", "/join kerkstraat")
    sent = h.platform.in_chat("kim")[-1]
    assert sent.buttons == [] and "Reply with the number of your BIN (1–2)" in sent.text
    await h.say("kim", "1")
    assert "Question 1/1" in h.last("kim")


async def test_the_public_join_link_starts_the_join_for_that_bin(h: Harness) -> None:
    await two_bins(h)
    await h.say("kim", "/start join-noord")
    assert "Question 1/1" in h.last("kim")
    await h.say("kim", "Molenweg 3")
    assert "BIN Noord" in h.last("kim")
    assert await requests(h) == [(1, "pending")]


async def test_a_join_link_with_an_unknown_code_redeems_nothing(h: Harness) -> None:
    await two_bins(h)
    await h.say("kim", "/start join-nope")
    assert "No BIN matches “nope”" in h.last("kim")
    assert await requests(h) == []
