"""The desk in a real browser: Playwright driving headless Chromium (Debian's `chromium`).

Playwright's own browser download cannot work on CI, so the system Chromium is launched by
path. Where it is missing the tests skip and say why. Screenshots of the main pages, at a
desktop (1280 px) and a phone (375 px) width, go to test-output/desk/.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.ports import MissingRights
from storage.tables import Alert, JoinRequest
from tests.desk.world import DeskWorld

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "desk"
WIDTHS = {"desktop": 1280, "phone": 375}
TEXT = "Grey van <b>AB-123</b> drives slowly past the houses of the Stationsstraat."


def _why_not() -> str | None:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    if not Path(CHROMIUM).exists():
        return f"chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    return None


pytestmark = pytest.mark.skipif(_why_not() is not None, reason=_why_not() or "")


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        found = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield found
        await found.close()


async def person(browser: Any) -> Any:
    """A fresh browser profile (its own cookies), in English."""
    context = await browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    return await context.new_page()


async def shoot(page: Any, name: str) -> None:
    """Screenshots of the page at both widths, whole page."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for label, width in WIDTHS.items():
        await page.set_viewport_size({"width": width, "height": 900})
        await page.screenshot(path=str(SHOTS / f"{name}-{label}.png"), full_page=True)
    await page.set_viewport_size({"width": 1280, "height": 900})


async def from_chat(page: Any, link: str) -> None:
    """Follow a link as a chat app hands it over: a navigation from another site."""
    await page.set_content(f'<a id="go" href="{link}">open the desk</a>')
    await page.click("#go")
    await page.wait_for_load_state()


async def test_an_officer_logs_in_from_chat_composes_and_follows_up(
    dw: DeskWorld, browser: Any
) -> None:
    page = await person(browser)
    await from_chat(page, await dw.link("jan"))
    # SameSite=Lax: the cookie set by the link counts on the redirect a chat app's click led to.
    assert page.url == dw.base + "/desk/"
    assert await page.locator("h2", has_text="Zone Beringen").count() == 1
    assert "Hasselt" not in await page.content()
    await shoot(page, "overview")

    await page.click("text=New message")
    await page.check("label:has-text('Noord')")
    await page.check("label:has-text('Zuid')")
    await page.select_option("#category", "suspicious_vehicle")
    await page.fill("#text", TEXT)
    await page.click("text=Show preview")
    box = page.locator(".chat-message")
    assert TEXT in await box.inner_text()  # markup shown literally
    assert "It goes to 3 groups of: Noord, Zuid." in await page.content()
    await shoot(page, "compose-preview")
    assert dw.h.new("noord-1") == []

    await page.click("text=Confirm and send")
    ref = page.url.rsplit("/", 1)[1].split("?")[0]
    table = page.locator("#deliveries")
    assert await table.locator("text=waiting").count() == 3
    await dw.h.core.idle()  # the fan-out runs; the page's script picks it up by itself
    # (The page's CSP forbids eval, so Playwright waits on locators, not on a JS predicate.)
    await table.locator("tr.st-sent").nth(2).wait_for(timeout=10_000)
    assert await table.locator("tr.st-sent td.status", has_text="sent").count() == 3
    for chat in ("noord-1", "noord-2", "zuid-1"):
        [posted] = dw.h.new(chat)
        assert TEXT in posted and ref in posted
    await shoot(page, "message")

    await page.fill("#fu-text", "The van has left; thank you for your reports.")
    await page.click("button:has-text('Send update')")
    assert "Done: it is on its way" in await page.content()
    await dw.h.core.idle()
    assert "The van has left" in dw.h.new("zuid-1")[0]
    await page.click("button:has-text('Withdraw')")
    await dw.h.core.idle()
    async with dw.h.db.session() as s:
        assert (await s.execute(select(Alert.state))).scalar_one() == "withdrawn"
    assert "WITHDRAWN" in dw.h.last("zuid-1").upper()

    await page.goto(dw.base + "/desk/messages")
    assert await page.locator(f"a:has-text('{ref}')").count() == 1
    # The filters are folded until used, so that on a phone the messages come first.
    assert await page.locator("details.filter-box").get_attribute("open") is None
    await shoot(page, "messages")
    await page.goto(f"{dw.base}/desk/messages?bin={dw.bins['noord']}")
    assert await page.locator("details.filter-box").get_attribute("open") is not None


async def test_a_coordinator_approves_a_request_and_the_resident_is_welcomed(
    dw: DeskWorld, browser: Any
) -> None:
    await dw.h.ask_join("kim", "noord-1")
    await dw.h.say("kim", "Stationsstraat 4")
    page = await person(browser)
    await from_chat(page, await dw.link("an"))
    assert await page.locator("h2", has_text="Your BINs").count() == 1
    await page.click("a:has-text('Noord')")
    assert "Stationsstraat 4" in await page.content()
    await shoot(page, "bin")
    await page.click("button:has-text('Approve Kim')")
    assert "Approved: the resident is being let in" in await page.content()
    assert ("approve", "noord-1", "kim") in dw.h.platform.actions
    assert "Welcome" in dw.h.last("kim")
    async with dw.h.db.session() as s:
        assert (await s.execute(select(JoinRequest.status))).scalar_one() == "approved"


async def test_the_attackers_attempts_fail(dw: DeskWorld, browser: Any) -> None:
    stranger = await person(browser)
    await stranger.goto(dw.base + "/desk/")
    assert "Not logged in" in await stranger.content()  # no cookie

    link = await dw.link("jan")
    jan = await person(browser)
    await from_chat(jan, link)
    await from_chat(stranger, link)  # the same link again
    assert "This link does not work" in await stranger.content()

    piet = await person(browser)
    await from_chat(piet, await dw.link("piet"))
    await jan.click("text=New message")
    await jan.check("label:has-text('Noord')")
    await jan.select_option("#category", "other")
    await jan.fill("#text", "Meeting on Thursday.")
    await jan.click("text=Show preview")
    await jan.click("text=Confirm and send")
    await dw.h.core.idle()
    ref = jan.url.rsplit("/", 1)[1].split("?")[0]
    response = await piet.goto(f"{dw.base}/desk/messages/{ref}")
    assert response.status == 404 and "Meeting on Thursday" not in await piet.content()
    response = await piet.goto(f"{dw.base}/desk/bins/{dw.bins['noord']}")
    assert response.status == 404

    # Jan's own page, the form stripped of its token: refused, nothing changed.
    await jan.goto(f"{dw.base}/desk/messages/{ref}")
    await jan.evaluate("document.querySelector('.actions input[name=csrf]').remove()")
    await jan.click("button:has-text('Withdraw')")
    assert "This form was not sent from the desk" in await jan.content()
    async with dw.h.db.session() as s:
        assert (await s.execute(select(Alert.state))).scalar_one() == "active"
    await shoot(jan, "refused")
    assert re.search(r"Nothing was changed", await jan.content())


async def test_an_officer_on_a_phone_sees_what_needs_someone_and_where(
    dw: DeskWorld, browser: Any
) -> None:
    context = await browser.new_context(
        locale="en-GB", viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True
    )
    page = await context.new_page()
    dw.h.platform.fail("noord-1", MissingRights(("send",)))
    await from_chat(page, await dw.link("jan"))
    await page.click("text=New message")
    await page.check("label:has-text('Noord')")
    await page.select_option("#category", "burglary")
    await page.fill("#text", "Break-in at the Kerkstraat last night; report what you saw to 101.")
    await page.click("text=Show preview")
    await page.click("text=Confirm and send")
    await dw.h.core.idle()
    await page.goto(dw.base + "/desk/")
    problem = page.locator(".problem-rights")
    assert "it may not send messages" in await problem.inner_text()
    assert "make the bot an administrator that may send messages" in await problem.inner_text()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375  # nothing to scroll sideways on a phone
    await page.screenshot(path=str(SHOTS / "overview-problems-phone.png"), full_page=True)
    await problem.locator("a").click()
    assert page.url.endswith(f"/desk/bins/{dw.bins['noord']}#groups")
    assert "the bot may not send messages" in await page.locator("#groups").inner_text()
    await context.close()


async def test_a_confused_user_with_a_stale_tab_and_an_old_link_is_told_what_happened(
    dw: DeskWorld, browser: Any
) -> None:
    link = await dw.link("jan")
    tab = await person(browser)
    await from_chat(tab, link)
    await tab.click("text=New message")
    await tab.check("label:has-text('Noord')")
    await tab.select_option("#category", "other")
    await tab.fill("#text", "Info evening on Thursday at the town hall.")
    await tab.click("text=Show preview")

    # The old link, tapped again in the chat while still logged in: the desk, not a dead end.
    other = await tab.context.new_page()
    await from_chat(other, link)
    assert other.url == dw.base + "/desk/"
    await other.click("button:has-text('Log out')")  # and in that second tab, logs out
    assert "You are logged out" in await other.content()
    await tab.click("text=Confirm and send")
    text = await tab.content()
    assert "Your desk session has ended, so nothing was sent or changed." in text
    assert "/desk" in text and "!desk" in text  # how to get back in, on either platform
    await shoot(tab, "stale-tab")
    await dw.h.core.idle()
    assert dw.h.new("noord-1") == [] and await dw.count(Alert) == 0

    stranger = await person(browser)  # the link forwarded to someone else: spent
    await from_chat(stranger, link)
    assert "This link does not work" in await stranger.content()
