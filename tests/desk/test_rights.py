"""A group whose bot lost its rights: recorded when a delivery, a reminder or a link finds
them missing, shown on the desk with what to do, and gone once they are back."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot.model import BotRights, ChatRef
from bot.ports import MissingRights
from bot.services import group_rights, rules
from storage.tables import Group
from tests.desk.client import Browser
from tests.desk.test_flows import send
from tests.desk.world import DeskWorld

LACKS_SEND = "The bot lacks rights in group “noord-1” of Noord: it may not send messages."
FIX_SEND = "To fix: in the group's settings, make the bot an administrator that may send messages."


def words(page: str) -> str:
    """A page's text as a reader sees it (tags dropped, entities read)."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


@pytest.fixture
async def jan(dw: DeskWorld) -> AsyncIterator[Browser]:
    b = Browser(dw.base)
    await b.get(await dw.link("jan"))
    yield b
    await b.close()


async def browser_of(dw: DeskWorld, name: str) -> Browser:
    b = Browser(dw.base)
    await b.get(await dw.link(name))
    return b


async def stored(dw: DeskWorld, chat: str) -> str | None:
    async with dw.h.db.session() as s:
        q = select(Group.missing_rights).where(Group.chat_id == chat)
        return (await s.execute(q)).scalar_one()


async def test_a_delivery_refused_for_lack_of_rights_puts_the_group_on_the_overview(
    dw: DeskWorld, jan: Browser
) -> None:
    dw.h.platform.fail("noord-1", MissingRights(("send",)))
    await send(dw, jan, "noord")
    assert await stored(dw, "noord-1") == "send"
    page = words(await jan.get("/desk/"))
    assert LACKS_SEND in page and FIX_SEND in page
    assert "The bot checks again within the hour" in page
    assert "noord-2" not in page.split("Needs someone", 1)[1].split("Zone Beringen", 1)[0]
    assert f'href="/desk/bins/{dw.bins["noord"]}#groups"' in jan.text  # where it is seen
    bin_page = words(await jan.get(f"/desk/bins/{dw.bins['noord']}"))
    noord_1 = bin_page.split("noord-1", 1)[1].split("noord-2", 1)[0]  # its row of the table
    assert "the bot may not send messages" in noord_1 and FIX_SEND in noord_1

    an = await browser_of(dw, "an")  # the BIN's coordinator sees it too
    piet = await browser_of(dw, "piet")  # another zone's officer does not
    try:
        assert LACKS_SEND in words(await an.get("/desk/"))
        assert "noord-1" not in await piet.get("/desk/")
    finally:
        await an.close()
        await piet.close()
    [entry] = await dw.audit("group.rights")
    assert entry.actor == "system" and (entry.detail or {})["missing"] == ["send"]


async def test_the_problem_goes_once_a_post_goes_through_again(
    dw: DeskWorld, jan: Browser
) -> None:
    dw.h.platform.fail("noord-1", MissingRights(("send",)))
    await send(dw, jan, "noord")
    assert LACKS_SEND in words(await jan.get("/desk/"))
    dw.h.new("noord-1")
    await send(dw, jan, "noord")  # someone granted the right: the next message goes out
    assert len(dw.h.new("noord-1")) == 1
    assert await stored(dw, "noord-1") is None
    page = words(await jan.get("/desk/"))
    assert "lacks rights" not in page
    assert [(e.detail or {})["missing"] for e in await dw.audit("group.rights")] == [["send"], []]


async def test_a_post_does_not_clear_rights_it_does_not_prove(dw: DeskWorld, jan: Browser) -> None:
    async with dw.h.core.uow() as uow:
        await uow.rights.lost(dw.world.groups["noord-1"], ["pin", "invite"], dw.h.clock.now())
        await uow.commit()
    await send(dw, jan, "noord")
    assert await stored(dw, "noord-1") == "invite,pin"  # posting proves neither
    page = words(await jan.get("/desk/"))
    assert "it may not invite users, pin messages" in page
    assert "make the bot an administrator that may invite users, pin messages" in page


async def test_a_reminder_refused_for_lack_of_rights_is_recorded(dw: DeskWorld) -> None:
    dw.h.platform.fail("zuid-1", MissingRights(("admin",)))
    await rules.post_reminders(dw.h.core)
    assert await stored(dw, "zuid-1") == "admin"
    an = await browser_of(dw, "jan")
    try:
        page = words(await an.get("/desk/"))
    finally:
        await an.close()
    assert "group “zuid-1” of Zuid: it may not be an admin." in page
    assert "To fix: in the group's settings, make the bot an administrator of the group." in page


async def test_the_hourly_check_asks_only_about_known_problems_and_clears_them(
    dw: DeskWorld, jan: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform = dw.h.platform
    asked: list[str] = []
    check = platform.check_rights

    async def counted(chat: ChatRef) -> BotRights:
        asked.append(chat.chat_id)
        return await check(chat)

    monkeypatch.setattr(platform, "check_rights", counted)
    platform.missing_rights["noord-2"] = ("pin",)
    await group_rights.found(dw.h.core, dw.world.groups["noord-2"], ["pin"])
    assert await group_rights.recheck(dw.h.core) == 0  # just seen: not asked again yet
    dw.h.clock.advance(minutes=61)
    assert await group_rights.recheck(dw.h.core) == 1
    assert asked == ["noord-2"]  # healthy groups cost nothing
    assert "group “noord-2” of Noord: it may not pin messages." in words(await jan.get("/desk/"))

    del platform.missing_rights["noord-2"]  # a coordinator made the bot an admin again
    assert await group_rights.recheck(dw.h.core) == 0  # at most hourly per group
    dw.h.clock.advance(minutes=61)
    assert await group_rights.recheck(dw.h.core) == 1
    assert await stored(dw, "noord-2") is None
    assert "lacks rights" not in words(await jan.get("/desk/"))
    dw.h.clock.advance(hours=2)
    assert await group_rights.recheck(dw.h.core) == 0 and asked == ["noord-2", "noord-2"]


async def test_a_recheck_that_finds_the_bot_removed_marks_the_group_lost(
    dw: DeskWorld, jan: Browser
) -> None:
    await group_rights.lost(dw.h.core, dw.world.groups["zuid-1"], ["pin"])
    dw.h.platform.removed.add("zuid-1")
    dw.h.clock.advance(minutes=61)

    async def removed(chat: ChatRef) -> BotRights:
        dw.h.platform._check(chat.chat_id)
        return BotRights()

    dw.h.platform.check_rights = removed  # type: ignore[method-assign]
    await group_rights.recheck(dw.h.core)
    page = words(await jan.get("/desk/"))
    assert "The bot was removed from group “zuid-1” of Zuid" in page
    assert "lacks rights" not in page  # one problem per group: the removal says it all


async def test_a_group_linked_without_the_rights_it_needs_is_on_the_desk_at_once(
    dw: DeskWorld, jan: Browser
) -> None:
    dw.h.platform.missing_rights["noord-3"] = ("pin", "invite")
    await dw.h.add_bot("noord-3", "an")
    await dw.h.say("an", "/link noord", chat="noord-3")
    assert "I still lack rights in this group" in dw.h.last("an")  # the chat says so, as before
    assert await stored(dw, "noord-3") == "invite,pin"
    page = words(await jan.get("/desk/"))
    assert "group “noord-3” of Noord: it may not invite users, pin messages." in page
