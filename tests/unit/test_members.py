"""Members: the list for coordinators only, removing a member, leaving by command or platform."""

from __future__ import annotations

from storage.tables import Membership
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


async def test_members_for_coordinators_of_that_bin_only(h: Harness) -> None:
    await ready(h)
    await member(h, "jan")
    await member(h, "lies")
    await h.say("an", "/members")
    listing = h.new("an")[-1]
    assert "Leden van BIN Noord (2)" in listing
    assert "#1 Jan (Telegram), lid sinds 2026-01-05" in listing and "#2 Lies" in listing

    await h.say("jan", "/members")
    assert "Jan (Telegram)" not in h.new("jan")[-1]
    await h.say("an", "/members", chat="buurt")
    assert "privégesprek" in h.new("buurt")[-1]

    await zone_and_bin(h, bin_name="Zuid", code="zuid", new_zone=False)
    await coordinator(h, "zoe", "zuid")
    await h.say("zoe", "/members noord")
    assert "Alleen coördinatoren van BIN Noord" in h.new("zoe")[-1]
    await h.say("zoe", "/members")
    assert "Leden van BIN Zuid (0)" in h.new("zoe")[-1]
    refused = [e for e in await audit(h) if e.outcome == "refused"]
    assert {e.action for e in refused} == {"command.members", "member.list"}


async def test_remove_member_by_number_or_name(h: Harness) -> None:
    await ready(h)
    await linked_group(h, "straat")
    await member(h, "jan")
    await member(h, "lies")
    await h.say("an", "/remove 1")
    assert "Jan is geen lid meer van BIN Noord en is uit 2 groep(en) gehaald." in h.new("an")[-1]
    assert "Een coördinator heeft je uit BIN Noord verwijderd." in h.new("jan")[-1]
    assert {("remove", "buurt", "jan"), ("remove", "straat", "jan")} <= set(h.platform.actions)
    await h.say("an", "/remove lies")
    assert "Lies is geen lid meer" in h.new("an")[-1]
    assert sorted(m.status for m in await rows(h, Membership)) == ["removed", "removed"]
    assert len(await audit(h, "member.remove")) == 2
    await h.say("an", "/remove 1")
    assert "Ik vind geen lid „1”" in h.new("an")[-1]


async def test_remove_reports_groups_it_could_not_touch(h: Harness) -> None:
    from bot.ports import MissingRights

    await ready(h)
    await member(h, "jan")
    h.platform.fail("buurt", MissingRights(["restrict"]))
    await h.say("an", "/remove 1")
    told = h.new("an")
    assert "uit 0 groep(en) gehaald" in told[-2] and "Uit 1 groep(en)" in told[-1]


async def test_coordinator_cannot_remove_a_member_of_another_bin(h: Harness) -> None:
    await ready(h)
    await member(h, "jan")
    await zone_and_bin(h, bin_name="Zuid", code="zuid", new_zone=False)
    await coordinator(h, "zoe", "zuid")
    await h.say("zoe", "/remove 1")
    assert "Ik vind geen lid „1”" in h.new("zoe")[-1]
    [m] = await rows(h, Membership)
    assert m.status == "active"
    [entry] = await audit(h, "member.remove")
    assert entry.outcome == "refused"


async def test_member_leaves_by_command(h: Harness) -> None:
    await ready(h)
    await member(h, "jan")
    await h.say("jan", "/leave")
    assert "Je bent geen lid meer van BIN Noord" in h.new("jan")[-1]
    assert ("remove", "buurt", "jan") in h.platform.actions
    [m] = await rows(h, Membership)
    assert m.status == "left"
    await h.say("jan", "/leave")
    assert "Je bent geen lid van een BIN." in h.new("jan")[-1]
    # Someone who left may ask again.
    await h.say("jan", "/join noord")
    assert "Vraag 1/1" in h.new("jan")[-1]


async def test_leave_in_the_group_answers_privately(h: Harness) -> None:
    await ready(h)
    await member(h, "jan")
    await h.say("jan", "/leave", chat="buurt")
    assert h.new("buurt") == []
    assert "Je bent geen lid meer van BIN Noord" in h.new("jan")[-1]


async def test_leave_with_two_bins_asks_which(h: Harness) -> None:
    await ready(h)
    await zone_and_bin(h, bin_name="Zuid", code="zuid", new_zone=False)
    await coordinator(h, "an", "zuid")
    await linked_group(h, "zuidgroep", code="zuid")
    await member(h, "jan")
    await member(h, "jan", chat="zuidgroep")
    await h.say("jan", "/leave")
    assert "noord, zuid" in h.new("jan")[-1]
    await h.say("jan", "/leave zuid")
    assert "Je bent geen lid meer van BIN Zuid" in h.new("jan")[-1]
    await h.say("jan", "/leave zuid")
    assert "Je bent geen lid van BIN Zuid." in h.new("jan")[-1]


async def test_leave_withdraws_a_pending_request(h: Harness) -> None:
    await ready(h)
    await h.say("jan", "/join noord")
    await h.say("jan", "Kerkstraat")
    await h.say("jan", "/leave noord")
    assert "is ingetrokken" in h.new("jan")[-1]
    await h.say("an", "/requests")
    assert "Er wachten geen aanvragen." in h.new("an")[-1]


async def test_leaving_the_only_group_on_the_platform_ends_the_membership(h: Harness) -> None:
    await ready(h)
    await linked_group(h, "straat")
    await member(h, "jan")
    await h.leave("jan", "straat")
    [m] = await rows(h, Membership)
    assert m.status == "active"  # still in "buurt" of the same BIN
    await h.say("an", "/unlink", chat="straat")
    await h.leave("jan", "buurt")
    [m] = await rows(h, Membership)
    assert m.status == "left"
    assert "Terugkomen kan met /join noord" in h.new("jan")[-1]
    await h.leave("jan", "buurt")  # a repeated event changes nothing
    assert h.new("jan") == []


async def test_a_removal_is_listed_and_can_be_lifted_so_the_person_may_ask_again(
    h: Harness,
) -> None:
    await ready(h)
    await member(h, "jan")
    await h.say("an", "/remove 1")
    h.new("an"), h.new("jan")
    await h.say("jan", "/join noord")
    assert "daarom kun je niet opnieuw vragen" in h.new("jan")[-1]

    await h.say("an", "/members")
    listing = h.new("an")[-1]
    assert "Verwijderd (1)" in listing and "#1 Jan, verwijderd op 2026-01-05" in listing

    await h.say("an", "/readmit 1")
    answer = h.new("an")[-1]
    assert "Jan mag opnieuw vragen om lid te worden van BIN Noord;" in answer
    assert "Ik heb het de persoon laten weten." in answer
    assert "heeft opgeheven wat je verhinderde om aan te vragen" in h.new("jan")[-1]
    [m] = await rows(h, Membership)
    assert m.status == "left"
    [entry] = await audit(h, "member.readmit")
    assert entry.outcome == "ok" and entry.bin_id == m.bin_id

    await h.say("jan", "/join noord")  # an ordinary request again, which An decides
    assert "daarom kun je niet opnieuw vragen" not in h.new("jan")[-1]
    await h.say("an", "/readmit 1")
    assert "Jan is niet uit BIN Noord verwijderd of geblokkeerd" in h.new("an")[-1]


async def test_readmit_is_refused_outside_ones_bins_and_for_bad_input(h: Harness) -> None:
    await ready(h)
    await member(h, "jan")
    await h.say("an", "/remove 1")
    await zone_and_bin(h, bin_name="Zuid", code="zuid", new_zone=False)
    await coordinator(h, "zoe", "zuid")
    await h.say("zoe", "/readmit 1")
    assert "Ik vind geen verwijderde of geblokkeerde persoon #1" in h.new("zoe")[-1]
    [refused] = await audit(h, "member.readmit")
    assert refused.outcome == "refused"
    await h.say("jan", "/readmit 1")
    assert h.new("jan")[-1].startswith("/readmit is voorbehouden aan: ")
    for bad in ("", "jan", "1 2", "²"):
        await h.say("an", f"/readmit {bad}".strip())
        assert "Stuur /readmit gevolgd door het nummer" in h.new("an")[-1]
    await h.say("an", "/readmit 99999999999")
    assert "99999999999 is geen nummer dat ik kan gebruiken" in h.new("an")[-1]
    await h.say("an", "/readmit 7")
    assert "Ik vind geen verwijderde of geblokkeerde persoon #7" in h.new("an")[-1]
    [m] = await rows(h, Membership)
    assert m.status == "removed"
