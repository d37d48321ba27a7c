"""Linking a group to a BIN: greeting, /link, rules pinned, approval-only, /unlink, removal."""

from __future__ import annotations

from storage.tables import Group
from tests.fakes import Harness
from tests.unit.test_groups_support import audit, coordinator, ready, rows, zone_and_bin


async def test_new_group_is_greeted_with_how_to_link(h: Harness) -> None:
    await zone_and_bin(h)
    await h.add_bot("buurt", "an")
    greeting = h.new("buurt")
    assert len(greeting) == 1
    assert "/link CODE" in greeting[0] and "101" in greeting[0]


async def test_coordinator_links_group_rules_pinned_and_group_secured(h: Harness) -> None:
    await zone_and_bin(h)
    await coordinator(h, "an")
    await h.add_bot("buurt", "an")
    h.new("buurt")
    await h.say("an", "/link noord", chat="buurt")

    rules = h.new("buurt")
    assert len(rules) == 1
    assert "Groepsregels – BIN Noord (politiezone Beringen)" in rules[0]
    assert "Eerst de politie bellen: 101" in rules[0] and "011 27 95 79" in rules[0]
    rules_id = h.platform.in_chat("buurt")[-1].ref.message_id
    assert ("pin", "buurt", rules_id) in h.platform.actions
    assert ("secure", "buurt", "") in h.platform.actions
    told = h.new("an")
    assert len(told) == 1
    assert "hoort nu bij BIN Noord" in told[0] and "https://t.me/+buurt" in told[0]
    [group] = await rows(h, Group)
    assert group.active and group.rules_message_id == rules_id
    assert group.invite_link == "https://t.me/+buurt"
    assert [e.outcome for e in await audit(h, "group.link")] == ["ok"]


async def test_link_without_argument_uses_the_only_bin(h: Harness) -> None:
    await ready(h)
    [group] = await rows(h, Group)
    assert group.active and group.title == "buurt"


async def test_coordinator_of_two_bins_must_say_which(h: Harness) -> None:
    await zone_and_bin(h)
    await zone_and_bin(h, bin_name="Zuid", code="zuid", new_zone=False)
    await coordinator(h, "an")
    await coordinator(h, "an", "zuid")
    await h.say("an", "/link", chat="buurt")
    assert "noord, zuid" in h.new("buurt")[-1]
    assert await rows(h, Group) == []


async def test_non_coordinator_link_is_refused_and_audited(h: Harness) -> None:
    await zone_and_bin(h)
    await h.say("jan", "/link noord", chat="buurt")
    assert "coördinator" in h.new("buurt")[-1]
    assert await rows(h, Group) == []
    [entry] = await audit(h, "command.link")
    assert entry.outcome == "refused"


async def test_coordinator_of_another_bin_cannot_link_to_this_one(h: Harness) -> None:
    await zone_and_bin(h)
    await zone_and_bin(h, bin_name="Zuid", code="zuid", new_zone=False)
    await coordinator(h, "zoe", "zuid")
    await h.say("zoe", "/link noord", chat="buurt")
    assert "geen coördinator van BIN Noord" in h.new("buurt")[-1]
    assert await rows(h, Group) == []
    [entry] = await audit(h, "group.link")
    assert entry.outcome == "refused" and entry.detail == {"reason": "not_coordinator"}


async def test_a_group_belongs_to_one_bin(h: Harness) -> None:
    await ready(h)
    await zone_and_bin(h, bin_name="Zuid", code="zuid", new_zone=False)
    await coordinator(h, "zoe", "zuid")
    await h.say("zoe", "/link zuid", chat="buurt")
    assert "hoort al bij BIN Noord" in h.new("buurt")[-1]
    [group] = await rows(h, Group)
    assert group.bin_id == 1


async def test_missing_rights_are_named_to_the_coordinator_privately(h: Harness) -> None:
    await zone_and_bin(h)
    await coordinator(h, "an")
    h.platform.missing_rights["buurt"] = ("invite", "restrict")
    await h.add_bot("buurt", "an")
    await h.say("an", "/link", chat="buurt")
    told = h.new("an")[-1]
    assert "Ik mis nog rechten" in told
    assert "gebruikers uitnodigen, leden beperken of verwijderen" in told
    assert "https://" not in told


async def test_unlink_and_relink(h: Harness) -> None:
    await ready(h)
    await h.say("jan", "/unlink", chat="buurt")
    assert "coördinator" in h.new("buurt")[-1]
    await h.say("an", "/unlink", chat="buurt")
    assert "hoort niet meer bij BIN Noord" in h.new("buurt")[-1]
    [group] = await rows(h, Group)
    assert not group.active and group.inactive_reason == "unlinked"
    await h.say("an", "/link", chat="buurt")
    [group] = await rows(h, Group)
    assert group.active and group.inactive_reason is None


async def test_bot_removed_makes_link_inactive_and_tells_coordinators(h: Harness) -> None:
    await ready(h)
    await coordinator(h, "bert")
    await h.remove_bot("buurt")
    for name in ("an", "bert"):
        assert "verwijderd uit de groep buurt van BIN Noord" in h.new(name)[-1]
    [group] = await rows(h, Group)
    assert not group.active and group.inactive_reason == "bot_removed"
    # A second removal event (a retry by the platform) tells nobody twice.
    await h.remove_bot("buurt")
    assert h.new("an") == []


async def test_migrated_group_keeps_its_link(h: Harness) -> None:
    from bot.events import ChatMigrated

    await ready(h)
    await h.event(ChatMigrated(h.chat("buurt", "an"), "-100buurt"))
    [group] = await rows(h, Group)
    assert group.chat_id == "-100buurt" and group.active
    assert group.invite_link == "https://t.me/+-100buurt"


async def test_group_language_follows_the_zone(h: Harness) -> None:
    await ready(h, zone="Mons", language="fr", bin_name="Nord", code="noord")
    await h.say("an", "/language de", chat="buurt")
    await h.say("an", "/link", chat="buurt")  # linked already: nothing posted again
    assert "Diese Gruppe gehört bereits zum BIN Nord" in h.new("buurt")[-1]
    await h.say("an", "/unlink", chat="buurt")
    await h.say("an", "/link", chat="buurt")
    assert "Gruppenregeln – BIN Nord (Polizeizone Mons)" in h.new("buurt")[-1]
