"""People and invites in a real browser (Playwright driving Debian's Chromium, as in
test_browser.py): an officer invites a coordinator, the code shown is redeemed in chat, the QR
code on the screen is read back from a screenshot, and the role is revoked again.

Screenshots go to test-output/desk/ (people-*.png).
"""

from __future__ import annotations

import dataclasses
import io
from typing import Any

import pytest

from bot import texts
from tests.desk.test_browser import SHOTS, _why_not, browser, from_chat, person, shoot
from tests.desk.world import DeskWorld

__all__ = ["browser"]  # the fixture, shared with test_browser.py

pytestmark = pytest.mark.skipif(_why_not() is not None, reason=_why_not() or "")


def decode_qr(png: bytes) -> list[str]:
    """The texts of the QR codes in a screenshot."""
    import zxingcpp
    from PIL import Image

    image = Image.open(io.BytesIO(png))
    return [found.text for found in zxingcpp.read_barcodes(image)]


async def test_an_officer_invites_a_coordinator_who_redeems_the_code_in_chat(
    dw: DeskWorld, browser: Any
) -> None:
    dw.h.core.config = dataclasses.replace(dw.h.core.config, telegram_username="BinbotTestBot")
    page = await person(browser)
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security" in m.text else None)
    await from_chat(page, await dw.link("jan"))
    await page.click("nav >> text=People")
    assert page.url == dw.base + "/desk/people"
    await page.click("text=New invite")
    await page.select_option("#what", label="Coordinator of Noord (zone Beringen)")
    await page.select_option("#expires", label="3 days")
    await page.click("button:has-text('Create the invite')")

    code = (await page.locator("#invite-code").inner_text()).strip()
    assert len(code) == 14 and code.count("-") == 2
    link = f"https://t.me/BinbotTestBot?start={code}"
    assert await page.locator("#link-telegram").get_attribute("href") == link
    assert "shown now and never again" in await page.content()
    # The QR code is drawn (inline SVG passes the page's CSP) and carries the deep link.
    qr = page.locator("#qr-telegram svg")
    box = await qr.bounding_box()
    assert box is not None and box["width"] >= 150 and box["height"] >= 150
    assert decode_qr(await qr.screenshot()) == [link]
    whole = await page.screenshot(full_page=True)
    assert link in decode_qr(whole)
    await shoot(page, "people-invite")

    # Nora opens the link: Telegram sends /start CODE to the bot.
    await dw.h.say("nora", f"/start {code}")
    role = texts.text("role.coordinator", "en")
    assert texts.text("core.redeem_ok", "en", role=role, scope="Noord") in dw.h.texts("nora")
    await page.click("text=Back to People")
    row = page.locator("table.coordinators tr", has_text="Nora")
    assert "Noord" in await row.inner_text() and "Jan" in await row.inner_text()
    assert await page.locator("table.invites").count() == 0  # the invite is used
    await shoot(page, "people")
    await page.set_viewport_size({"width": 375, "height": 800})
    assert await page.evaluate("document.documentElement.scrollWidth") <= 375
    await page.set_viewport_size({"width": 1280, "height": 900})

    # And the role taken back: a confirmation first, then what followed.
    await row.locator("text=Revoke…").click()
    assert "Revoke the role of Nora as coordinator (Noord)?" in await page.content()
    assert "The other coordinators of Noord are told in chat (1)." in await page.content()
    await shoot(page, "people-revoke-confirm")
    await page.click("button:has-text('Revoke the role')")
    done = await page.locator("main").inner_text()
    assert "Nora no longer holds the role of coordinator (Noord)." in done
    assert "Other coordinators of Noord told in chat: 1." in done
    assert "Nora is no longer a coordinator of Noord" in dw.h.last("an")
    await shoot(page, "people-revoked")
    assert blocked == []
    assert (SHOTS / "people-invite-phone.png").exists()

    # The coordinator's view: her own BIN's coordinators, and who to ask for more.
    an = await person(browser)
    await from_chat(an, await dw.link("an"))
    await an.click("nav >> text=People")
    rows = an.locator("table.coordinators tbody tr")
    assert await rows.count() == 1 and "An (you)" in await rows.inner_text()
    assert "The coordinators of your BIN" in await an.locator("main").inner_text()
    assert await an.locator("text=New invite").count() == 0
    assert await an.locator("text=Revoke…").count() == 0
    await shoot(an, "people-coordinator")
