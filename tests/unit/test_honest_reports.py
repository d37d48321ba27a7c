"""What the bot says it did, it did: a decline's reason is bounded at input, and a message
that could not reach the requester, or rules that could not be posted, are reported."""

from __future__ import annotations

from bot.ports import BotRemoved, PermanentError
from storage.tables import Group, JoinRequest
from tests.fakes import Harness
from tests.unit.test_groups_support import coordinator, ready, rows, zone_and_bin


async def asked(h: Harness, name: str = "jan") -> None:
    await h.ask_join(name, "buurt")
    await h.say(name, "Kerkstraat")
    h.new(name)
    h.new("an")


async def test_a_decline_reason_too_long_is_refused_and_nothing_is_decided(h: Harness) -> None:
    await ready(h)
    await asked(h)
    await h.say("an", "/decline 1 " + "x" * 5000)
    assert h.last("an") == (
        "Een reden mag hoogstens 500 tekens lang zijn; de jouwe heeft er 5000. Er is niets "
        "beslist: stuur /decline N opnieuw met een kortere reden."
    )
    assert h.new("jan") == []
    [req] = await rows(h, JoinRequest)
    assert req.status == "pending"
    await h.say("an", "/decline 1 " + "y" * 500)  # the longest reason reaches them whole
    assert "Reden: " + "y" * 500 in h.last("jan")
    assert "Ik heb het de aanvrager laten weten." in h.last("an")


async def test_the_coordinator_hears_when_the_requester_could_not_be_told(h: Harness) -> None:
    await ready(h)
    await asked(h)
    h.platform.fail("jan", BotRemoved("blocked_by_user"))
    await h.say("an", "/decline 1")
    answer = h.last("an")
    assert "aanvraag #1 van Jan is geweigerd" in answer
    assert "Ik kon de aanvrager niet privé bereiken" in answer
    assert "Ik heb het de aanvrager laten weten" not in answer


async def test_a_removal_says_when_the_member_could_not_be_told(h: Harness) -> None:
    await ready(h)
    await asked(h)
    await h.say("an", "/approve 1")
    h.platform.fail("jan", BotRemoved("blocked_by_user"))
    await h.say("an", "/remove 1")
    assert "Ik kon Jan niet privé bereiken" in h.last("an")


async def test_link_says_when_the_rules_could_not_be_posted(h: Harness) -> None:
    await zone_and_bin(h)
    await coordinator(h, "an")
    await h.add_bot("buurt", "an")
    h.platform.fail("buurt", PermanentError("message_too_long"))
    await h.say("an", "/link", chat="buurt")
    report = h.last("an")
    assert "De groep buurt hoort nu bij BIN Noord, maar ik kon er de groepsregels niet" in report
    assert "ik heb er de groepsregels geplaatst" not in report
    [group] = await rows(h, Group)
    assert group.active and group.rules_message_id is None


async def test_link_says_when_the_rules_could_not_be_pinned(h: Harness) -> None:
    await zone_and_bin(h)
    await coordinator(h, "an")
    await h.add_bot("buurt", "an")
    original = h.platform.pin

    async def refuse(ref):  # type: ignore[no-untyped-def]
        raise PermanentError("not_enough_rights")  # the rules are posted, the pin refused

    h.platform.pin = refuse  # type: ignore[method-assign]
    try:
        await h.say("an", "/link", chat="buurt")
    finally:
        h.platform.pin = original  # type: ignore[method-assign]
    assert "maar kon ze niet vastzetten" in h.last("an")
