"""The statistics page in a real browser: the delivery times and the 101 nudges drawn as
charts (no script, nothing blocked by the page's CSP), at desktop and phone width; the
timings CSV downloaded by clicking its link is the page's table."""

from __future__ import annotations

import csv
import io
from typing import Any

from tests.desk.client import Browser
from tests.desk.test_browser import browser, from_chat, person, pytestmark, shoot
from tests.desk.test_stats_more import expected_timings, nudges, timed_messages
from tests.desk.world import DeskWorld

__all__ = ["browser", "pytestmark"]


async def test_the_new_charts_render_and_the_csv_download_is_the_table(
    dw: DeskWorld, browser: Any
) -> None:
    jan = Browser(dw.base)
    try:
        await jan.get(await dw.link("jan"))
        month = await timed_messages(dw, jan)
    finally:
        await jan.close()
    await nudges(dw)
    page = await person(browser)
    blocked: list[str] = []  # what the CSP refused, or a resource the page asked in vain
    page.on("console", lambda m: blocked.append(m.text) if "Content Security" in m.text else None)
    page.on(
        "response",
        lambda r: blocked.append(r.url) if r.status >= 400 and "favicon" not in r.url else None,
    )
    await from_chat(page, await dw.link("jan"))
    await page.goto(dw.base + "/desk/stats#timings")
    for table in ("timings", "nudges"):
        section = page.locator(f"section#{table}")
        assert await section.locator("svg rect.bar").count() > 0, table
        box = await section.locator("svg").bounding_box()
        assert box is not None and box["width"] > 300, table
    assert await page.locator("section#nudges td.num").count() >= 4
    await shoot(page, "stats-timings")
    async with page.expect_download() as info:
        await page.locator("section#timings a[download]").click()
    download = await info.value
    rows = list(csv.reader(io.StringIO(open(await download.path(), encoding="utf-8").read())))
    want = await expected_timings(dw, month)
    assert {r[1]: r for r in rows[1:]} == want
    assert blocked == [], blocked
