"""A new BIN from nothing to its first member, on the desk only, in a real browser.

The prevention service of Beringen creates BIN Koersel, invites its coordinator and prints
its poster; a resident scans the poster's QR code, answers the intake and the coordinator
approves on the desk; prevention sends a notice; the year's statistics show the message and
the new member, and the downloaded CSV matches the database. Chat appears only where a person
would use it: redeeming the invite, linking the group, following the join link.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from typing import Any

import pytest
from sqlalchemy import func, select

from bot import texts
from storage.tables import Alert, Bin, JoinRequest, Membership
from tests.desk.test_browser import _why_not, browser, from_chat, person, shoot
from tests.desk.world import DeskWorld
from tests.unit.test_alerts_world import official

__all__ = ["browser"]  # the fixture, shared with test_browser.py

pytestmark = pytest.mark.skipif(_why_not() is not None, reason=_why_not() or "")

BOT = "beringen_bin_bot"
JOIN_LINK = f"https://t.me/{BOT}?start=join-koersel"


def read_poster(pdf: bytes) -> tuple[str, list[str]]:
    """The poster's text and the QR codes on it, read from the page as printed (150 dpi)."""
    import pypdfium2
    import zxingcpp

    document = pypdfium2.PdfDocument(pdf)
    try:
        assert len(document) == 1
        page = document[0]
        text = page.get_textpage().get_text_range()
        image = page.render(scale=150 / 72).to_pil()
    finally:
        document.close()
    return text, [found.text for found in zxingcpp.read_barcodes(image)]


async def test_a_new_bin_from_the_desk_to_its_first_member(dw: DeskWorld, browser: Any) -> None:
    h = dw.h
    h.core.config = dataclasses.replace(h.core.config, telegram_username=BOT)
    await official(h, "ria", role="prevention")
    await h.say("ria", "/language en")
    h.new("ria")

    # 1. Prevention logs in from chat and creates the BIN.
    ria = await person(browser)
    await from_chat(ria, await dw.link("ria"))
    await ria.click("nav >> text=BINs")
    await ria.click("text=New BIN")
    await ria.fill("#name", "Koersel")
    await ria.fill("#code", "koersel")
    await ria.fill("#area", "3582, Kerkstraat, Stationsstraat")
    await ria.check("#intake-own")
    await ria.fill("#intake", "In which street do you live?")
    await ria.click("text=Create BIN")
    assert "The BIN is created." in await ria.locator(".flash").inner_text()
    async with h.db.session() as s:
        koersel = (await s.execute(select(Bin).where(Bin.code == "koersel"))).scalar_one()

    # 2. It invites the coordinator; Nora redeems the code the page shows, as its link would.
    await ria.click("nav >> text=People")
    await ria.click("text=New invite")
    await ria.select_option("#what", label="Coordinator of Koersel (zone Beringen)")
    await ria.click("button:has-text('Create the invite')")
    code = (await ria.locator("#invite-code").inner_text()).strip()
    link = await ria.locator("#link-telegram").get_attribute("href")
    assert link == f"https://t.me/{BOT}?start={code}"
    await shoot(ria, "walkthrough-invite")
    await h.say("nora", "/start " + link.split("start=", 1)[1])
    role = texts.text("role.coordinator", "en")
    assert texts.text("core.redeem_ok", "en", role=role, scope="Koersel") in h.texts("nora")
    # Nora adds the bot to her neighbourhood group and links it, as the bot tells her.
    await h.add_bot("koersel-1", "nora")
    await h.say("nora", "/link koersel", chat="koersel-1")
    h.new("nora")

    # 3. The poster: printed from the BIN's page, its QR code is the join link.
    await ria.click("nav >> text=BINs")
    await ria.click("a:has-text('Koersel')")
    await shoot(ria, "walkthrough-bin")
    href = await ria.locator("a[href$='/poster.pdf']").first.get_attribute("href")
    assert href == f"/desk/bins/{koersel.id}/poster.pdf"
    printed = await ria.request.get(dw.base + href)
    assert printed.status == 200 and printed.headers["content-type"] == "application/pdf"
    text, codes = read_poster(await printed.body())
    assert codes == [JOIN_LINK]
    assert "Koersel" in text and "Beringen" in text and "101" in text and "112" in text

    # 4. Tom scans it: Telegram opens the bot with /start join-koersel; he answers the intake.
    await h.say("tom", "/start " + codes[0].split("start=", 1)[1])
    assert "In which street do you live?" in h.last("tom")
    await h.say("tom", "Kerkstraat 12")
    assert h.platform.in_chat("nora")[-1].text.count("Kerkstraat 12") == 1

    # 5. Nora approves on the desk; Tom is let into the group.
    nora = await person(browser)
    await from_chat(nora, await dw.link("nora"))
    await nora.click("a:has-text('Koersel')")
    assert "Kerkstraat 12" in await nora.content()
    await nora.click("button:has-text('Approve Tom')")
    assert "Approved" in await nora.locator(".flash").inner_text()
    welcome = h.last("tom")
    assert welcome.startswith("Welcome to BIN Koersel!")
    assert "Join the group koersel-1 with this link" in welcome
    await shoot(nora, "walkthrough-approved")

    # 6. Prevention sends a notice to the new BIN.
    await ria.click("text=New message")
    await ria.check("label:has-text('Koersel')")
    await ria.select_option("#category", "other")
    await ria.fill("#text", "Information evening on burglary prevention, Thursday 19:30.")
    await ria.click("text=Show preview")
    await ria.click("text=Confirm and send")
    await h.core.idle()
    assert "Information evening" in h.last("koersel-1")

    # 7. The year's statistics show the message and the new member; the CSV is the database.
    await ria.goto(f"{dw.base}/desk/stats?bin={koersel.id}")
    messages = ria.locator("section#messages")
    row = messages.locator("tbody tr", has_text="Koersel")
    assert "not urgent" in await row.inner_text() and "Other" in await row.inner_text()
    members = ria.locator("section#members")
    assert await members.locator("td.num", has_text="1").count() >= 1
    await shoot(ria, "walkthrough-stats")
    async with ria.expect_download() as info:
        await members.locator("a[download]").click()
    download = await info.value
    with open(await download.path(), encoding="utf-8") as f:
        rows = list(csv.DictReader(io.StringIO(f.read())))
    async with h.db.session() as s:
        active = (
            await s.execute(
                select(func.count())
                .select_from(Membership)
                .where(Membership.bin_id == koersel.id, Membership.status == "active")
            )
        ).scalar_one()
        approved = (
            await s.execute(
                select(func.count())
                .select_from(JoinRequest)
                .where(JoinRequest.bin_id == koersel.id, JoinRequest.status == "approved")
            )
        ).scalar_one()
        sent = (
            await s.execute(select(func.count()).select_from(Alert).where(Alert.zone_id > 0))
        ).scalar_one()
    mine = [r for r in rows if r["bin_code"] == "koersel"]
    assert len(mine) == 1
    assert int(mine[0]["members"]) == active == 1 and int(mine[0]["joined"]) == 1
    assert approved == 1 and sent >= 1
    async with ria.expect_download() as info:
        await messages.locator("a[download]").click()
    with open(await (await info.value).path(), encoding="utf-8") as f:
        notices = [r for r in csv.DictReader(f) if r["bin_code"] == "koersel"]
    assert [(r["category"], r["messages"]) for r in notices] == [("other", "1")]
