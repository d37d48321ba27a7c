"""A photo on the desk in a real browser: chosen in the file field, shown in the preview as
residents will see it, sent to the groups; refused clearly when it is not a photo. At a
desktop width and on a phone. Screenshots go to test-output/desk/ (the launch setup is
test_browser.py's)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.model import Capabilities, Platform
from tests.desk.test_browser import SHOTS, _why_not, browser
from tests.desk.world import DeskWorld
from tests.fakes import Harness, RecordingPlatform
from tests.photos import has_metadata, phone_photo

TEXT = "Missing since this morning: Maria, 82, grey coat, walks with a stick."
PHOTOS = Capabilities(
    max_text_length=4096, photos=True, max_caption_length=1024, caption_utf16=True
)


__all__ = ["browser"]  # the fixture, shared with test_browser.py

pytestmark = pytest.mark.skipif(_why_not() is not None, reason=_why_not() or "")


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    """The desk world on a platform that takes photos (Telegram-like)."""
    harness = await Harness.create(tmp_path, platform=RecordingPlatform(Platform.TELEGRAM, PHOTOS))
    yield harness
    await harness.close()


async def officer(browser: Any, dw: DeskWorld, viewport: dict[str, int], **more: Any) -> Any:
    """Jan's browser, logged in from the link the bot gave him in chat."""
    context = await browser.new_context(locale="en-GB", viewport=viewport, **more)
    page = await context.new_page()
    link = await dw.link("jan")
    await page.set_content(f'<a id="go" href="{link}">open the desk</a>')
    await page.click("#go")
    await page.wait_for_load_state()
    return page


async def shot(page: Any, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def compose(page: Any, photo: Path) -> None:
    await page.goto(page.url.split("/desk/")[0] + "/desk/compose")
    await page.check("label:has-text('Noord')")
    await page.select_option("#category", "missing_person")
    await page.fill("#text", TEXT)
    await page.set_input_files("#upload", str(photo))
    await page.click("text=Show preview")


async def loaded(image: Any) -> tuple[int, int]:
    """The size the browser decoded the image at (0 × 0 when it did not load)."""
    await image.wait_for()
    width = await image.evaluate("img => img.complete ? img.naturalWidth : 0")
    height = await image.evaluate("img => img.naturalHeight")
    return int(width), int(height)


async def test_an_officer_adds_a_photo_sees_it_in_the_preview_and_sends_it(
    dw: DeskWorld, browser: Any, tmp_path: Path
) -> None:
    photo = tmp_path / "maria.jpg"
    photo.write_bytes(phone_photo(1600, 1200))
    page = await officer(browser, dw, {"width": 1280, "height": 900})
    await compose(page, photo)
    preview = page.locator("section.preview")
    assert await loaded(preview.locator("figure.photo img")) == (1200, 1600)  # upright
    assert "With the photo above (1200×1600 pixels" in await preview.inner_text()
    assert TEXT in await preview.locator(".chat-message").inner_text()
    await shot(page, "photo-preview-desktop")
    assert [s for s in dw.h.platform.sent if not s.chat.is_private] == []

    await page.click("text=Confirm and send")
    await dw.h.core.idle()
    for chat in ("noord-1", "noord-2"):
        [posted] = dw.h.platform.in_chat(chat)
        assert posted.photo is not None and TEXT in posted.text
        assert not has_metadata(await posted.photo.load())
    await page.reload()
    assert await loaded(page.locator("section figure.photo img")) == (1200, 1600)
    await shot(page, "photo-message-desktop")
    await page.click("text=Messages")
    assert await page.locator("span.pill", has_text="photo").count() == 1


async def test_on_a_phone_the_photo_fits_and_a_text_file_is_refused(
    dw: DeskWorld, browser: Any, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")
    photo = tmp_path / "van.jpg"
    photo.write_bytes(phone_photo(1600, 1200))
    phone = {"width": 375, "height": 740}
    page = await officer(browser, dw, phone, is_mobile=True, has_touch=True)

    await compose(page, notes)
    error = page.locator("[role=alert]")
    assert "That file is not a photo the desk accepts" in await error.inner_text()
    assert await page.locator("#text").input_value() == TEXT  # kept to send again
    await shot(page, "photo-refused-phone")

    # Far larger than a photo may be: a page in the person's language, not a server error.
    huge = tmp_path / "scan.jpg"
    huge.write_bytes(b"\xff\xd8\xff\xe0" + bytes(11 * 1024 * 1024))
    await compose(page, huge)
    assert await page.locator("h1").inner_text() == "Too large to send"
    assert "at most 10 MB" in await page.locator("main").inner_text()
    await shot(page, "photo-too-large-phone")
    await page.go_back()

    await compose(page, photo)
    image = page.locator("section.preview figure.photo img")
    assert await loaded(image) == (1200, 1600)
    box = await image.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375
    # Nothing wider than the phone: no sideways scrolling.
    assert await page.evaluate("document.documentElement.scrollWidth") <= 375
    await shot(page, "photo-preview-phone")
