"""The BIN page's join links and poster in a real browser (Playwright + Debian's Chromium):
the section reads well at phone and desktop widths, and the poster link gives the PDF whose
QR code is the join link."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from tests.desk.test_browser import _why_not, browser, from_chat, person, shoot
from tests.desk.test_poster import BOT, read
from tests.desk.world import DeskWorld

__all__ = ["browser"]  # the fixture, shared with test_browser.py

pytestmark = pytest.mark.skipif(_why_not() is not None, reason=_why_not() or "")


async def test_jan_opens_noord_and_prints_its_poster(
    dw: DeskWorld, browser: Any, tmp_path: Path
) -> None:
    dw.h.core.config = dataclasses.replace(dw.h.core.config, telegram_username=BOT)
    page = await person(browser)
    await from_chat(page, await dw.link("jan"))
    await page.goto(f"{dw.base}/desk/bins/{dw.bins['noord']}")
    section = page.locator("#poster")
    join = f"https://t.me/{BOT}?start=join-noord"
    assert await section.get_by_role("link", name=join).count() == 1
    await section.scroll_into_view_if_needed()
    await shoot(page, "bin-poster")
    link = section.get_by_role("link", name="Poster to print (PDF, A4)")
    # Chromium shows a PDF in its own viewer, out of the page's reach: the link is fetched
    # with the browser's own session instead
    got = await page.context.request.get(dw.base + (await link.get_attribute("href")))
    assert got.status == 200 and got.headers["content-type"] == "application/pdf"
    assert 'filename="poster-noord.pdf"' in got.headers["content-disposition"]
    assert read(await got.body(), tmp_path / "poster.png").codes == [join]
    await link.click()
    await page.wait_for_url("**/poster.pdf")
