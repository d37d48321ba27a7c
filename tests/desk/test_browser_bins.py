"""The BIN pages in a real browser: Playwright driving Debian's Chromium, as in
test_browser.py. Screenshots at 1280 and 375 px go to test-output/desk/."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from storage.tables import Bin, Group
from tests.desk.test_browser import _why_not, browser, from_chat, person, shoot
from tests.desk.world import DeskWorld

__all__ = ["browser"]  # the fixture, shared with test_browser.py

pytestmark = pytest.mark.skipif(_why_not() is not None, reason=_why_not() or "")


async def test_an_officer_creates_a_bin_in_the_browser_and_sees_it_listed(
    dw: DeskWorld, browser: Any
) -> None:
    page = await person(browser)
    await from_chat(page, await dw.link("jan"))
    await page.click("nav >> text=BINs")
    assert await page.locator("h1", has_text="Neighbourhood information networks").count() == 1
    await page.click("text=New BIN")
    await page.fill("#name", "Koersel Centrum")
    await page.fill("#code", "Bad code!")
    await page.fill("#area", "3582, Kerkstraat, Stationsstraat")
    await page.check("#intake-own")
    await page.fill("#intake", "In which street do you live?\nSince when?")
    await page.click("text=Create BIN")
    # Refused next to the field, what was typed kept.
    error = page.locator("#code-error")
    assert "A code has 2 to 32 characters" in await error.inner_text()
    assert await page.input_value("#name") == "Koersel Centrum"
    await shoot(page, "bin-form-error")
    await page.fill("#code", "koersel-centrum")
    # Its own quiet hours; reminders and language as the zone.
    await page.fill("#quiet_start", "23:30")
    await page.fill("#quiet_end", "06:00")
    await shoot(page, "bin-form-own")
    await page.click("text=Create BIN")
    assert "The BIN is created." in await page.locator(".flash").inner_text()
    about = await page.locator("#about").inner_text()
    assert "Since when?" in about and "23:30–06:00 (this BIN's own)" in about
    assert "7 (as the zone)" in about
    await shoot(page, "bin-page")
    await page.click("nav >> text=BINs")
    row = page.locator("tr", has_text="Koersel Centrum")
    assert await row.count() == 1 and "3582, Kerkstraat" in await row.inner_text()
    await shoot(page, "bins")
    async with dw.h.db.session() as s:
        made = (await s.execute(select(Bin).where(Bin.code == "koersel-centrum"))).scalar_one()
    assert made.intake == ["In which street do you live?", "Since when?"]
    # Archived from its page, it leaves the list of active BINs.
    await page.click("text=Koersel Centrum")
    await page.click("button:has-text('Archive')")
    assert "The BIN is archived" in await page.locator(".flash").inner_text()
    await page.click("nav >> text=BINs")
    assert await page.locator("tr", has_text="Koersel Centrum").count() == 0


async def test_a_bins_page_shows_its_groups_and_what_to_grant(dw: DeskWorld, browser: Any) -> None:
    async with dw.h.db.session() as s:
        g = (await s.execute(select(Group).where(Group.chat_id == "noord-2"))).scalar_one()
        g.missing_rights = "pin,invite"
        await s.commit()
    page = await person(browser)
    await from_chat(page, await dw.link("jan"))
    await page.goto(f"{dw.base}/desk/bins/{dw.bins['noord']}")
    table = page.locator("table.group-table")
    assert await table.locator("tbody tr").count() == 2
    row = table.locator("tr", has_text="noord-2")
    assert await row.locator(".fix").count() == 1
    assert "all there" in await table.locator("tr", has_text="noord-1").inner_text()
    await shoot(page, "bin-groups")
