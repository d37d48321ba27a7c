"""An archived BIN in chat: its group stays linked but takes no join requests, no reminder
and no new group; un-archived, all of it works again."""

from __future__ import annotations

from bot.services import directory
from bot.services.rules import post_reminders
from storage.tables import Group, JoinRequest
from tests.fakes import Harness
from tests.unit.test_groups_support import audit, coordinator, ready, rows, zone_and_bin


async def archive(h: Harness, code: str = "noord", archived: bool = True) -> None:
    async with h.core.uow() as uow:
        b = await uow.directory.bin_by_code(code)
        assert b is not None
        assert await directory.set_archived(uow, h.clock.now(), b, archived, "p-test")
        await uow.commit()


async def test_a_join_request_in_an_archived_bins_group_is_declined_and_explained(
    h: Harness,
) -> None:
    await ready(h)
    await archive(h)
    await h.ask_join("kim", "buurt")
    assert ("decline", "buurt", "kim") in h.platform.actions
    assert "BIN Noord is gearchiveerd" in h.last("kim")
    assert await rows(h, JoinRequest) == []
    [refused] = [e for e in await audit(h, "join.request") if e.outcome == "refused"]
    assert (refused.detail or {})["reason"] == "archived"
    [group] = await rows(h, Group)
    assert group.active  # still linked


async def test_no_reminder_in_an_archived_bins_groups_until_it_is_active_again(
    h: Harness,
) -> None:
    await ready(h)
    h.clock.advance(days=7)
    await archive(h)
    assert await post_reminders(h.core) == 0
    assert h.new("buurt") == []
    await archive(h, archived=False)
    assert await post_reminders(h.core) == 1
    assert "Eerst de politie bellen: 101" in h.new("buurt")[0]


async def test_no_group_is_linked_to_an_archived_bin(h: Harness) -> None:
    await zone_and_bin(h)
    await coordinator(h, "an")
    await archive(h)
    await h.add_bot("buurt", "an")
    h.new("buurt")
    await h.say("an", "/link noord", chat="buurt")
    assert "BIN Noord is gearchiveerd" in h.new("buurt")[-1]
    assert await rows(h, Group) == []
    [refused] = [e for e in await audit(h, "group.link") if e.outcome == "refused"]
    assert (refused.detail or {})["reason"] == "archived"
    await archive(h, archived=False)
    await h.say("an", "/link", chat="buurt")
    [group] = await rows(h, Group)
    assert group.active


async def test_archiving_twice_changes_nothing_the_second_time(h: Harness) -> None:
    await zone_and_bin(h)
    await archive(h)
    async with h.core.uow() as uow:
        b = await uow.directory.bin_by_code("noord")
        assert b is not None
        assert not await directory.set_archived(uow, h.clock.now(), b, True, "p-test")
        await uow.commit()
    assert len(await audit(h, "bin.archive")) == 1
