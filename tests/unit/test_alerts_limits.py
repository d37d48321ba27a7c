"""Every limit is measured as the platform measures it, when the officer writes: Telegram
counts UTF-16 code units (an emoji counts two), Matrix weighs the event's bytes. A text with
no visible character is no text. (Issue 15, items 4 and 12.)"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import select

from adapters.matrix.platform import CAPABILITIES as MATRIX
from adapters.matrix.render import event_size
from adapters.telegram.render import render_html, utf16_length
from bot.model import Platform
from storage.tables import Alert
from tests.fakes import Harness, RecordingPlatform
from tests.unit.test_alerts_world import compose, make_world, official, posted

ABOUT = re.compile(r"about (\d+)")
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u200e\u202e \u3164"


async def to_text_step(h: Harness, name: str = "sofie") -> int:
    """Walk /alert to the text step; returns the limit it states."""
    await h.say(name, "/alert")
    await h.press(name, "Noord")
    await h.press(name, "Done")
    await h.press(name, "Burglary")
    found = ABOUT.search(h.last(name))
    assert found, h.last(name)
    return int(found.group(1))


async def alerts_stored(h: Harness) -> list[Alert]:
    async with h.db.session() as session:
        return list((await session.execute(select(Alert))).scalars().all())


async def test_two_thousand_emoji_are_refused_when_written_not_after_confirming(
    h: Harness,
) -> None:
    await make_world(h)
    await official(h, "sofie")
    limit = await to_text_step(h)
    assert 3700 < limit < 4096
    await h.say("sofie", "🚓" * 2000)  # 2,000 characters, but 4,000 UTF-16 code units
    refusal = h.last("sofie")
    assert refusal.startswith(f"Too long: the platforms of these groups take about {limit} ")
    assert "yours counts as about 4000 (an emoji" in refusal
    assert await alerts_stored(h) == []

    h.new("sofie")
    longest = "🚓" * (limit // 2)
    await h.say("sofie", longest)  # the step still waits for the text
    head, preview = h.new("sofie")  # at the limit, the text fills a message by itself
    assert head.startswith("Step 4 of 4") and longest in preview
    await h.press("sofie", "Confirm")
    [sent] = [s for s in h.platform.in_chat("noord-1") if longest in s.text]
    assert utf16_length(sent.text) <= 4096
    render_html(sent.message.body)  # Telegram's own check passes: delivered, not refused
    assert all(a.state == "active" for a in await alerts_stored(h))


async def test_the_stated_limit_is_what_fits(h: Harness) -> None:
    await make_world(h)
    await official(h, "sofie")
    limit = await to_text_step(h)
    await h.say("sofie", "é" * limit)  # one UTF-16 unit each: exactly the limit
    await h.press("sofie", "Confirm")
    assert len(posted(h, "noord-1", "é" * limit)) == 1
    limit = await to_text_step(h)
    await h.say("sofie", "x" * (limit - 1) + "🚓")  # one unit too many
    assert f"yours counts as about {limit + 1} " in h.last("sofie")


async def test_matrix_weighs_the_event_not_the_characters(tmp_path: Path) -> None:
    matrix = RecordingPlatform(Platform.MATRIX, MATRIX)
    h = await Harness.create(tmp_path, platform=matrix)
    try:
        await make_world(h)
        await official(h, "sofie")
        await h.say("sofie", "/alert")
        await h.say("sofie", "1")
        await h.say("sofie", "3")
        found = ABOUT.search(h.last("sofie"))
        assert found, h.last("sofie")
        await h.say("sofie", "🚓" * 2000)  # fine for Telegram's count, too heavy encrypted
        assert "Too long" in h.last("sofie") and await alerts_stored(h) == []
        await h.say("sofie", "🚓" * 1800)
        await h.say("sofie", "yes")
        [sent] = [s for s in matrix.in_chat("noord-1") if "🚓" in s.text]
        assert event_size(sent.message) <= MATRIX.max_text_length
    finally:
        await h.close()


async def test_an_update_too_long_in_utf16_is_refused(h: Harness) -> None:
    await make_world(h)
    await official(h, "sofie")
    ref = await compose(h, "sofie")
    await h.say("sofie", f"/update {ref} " + "🚓" * 2000)
    refusal = h.last("sofie")
    assert refusal.startswith("Too long: about ") and "yours counts as about 4000" in refusal
    limit = int(ABOUT.findall(refusal)[0])
    await h.say("sofie", f"/update {ref} " + "🚓" * (limit // 2))
    [update] = [s for s in h.platform.in_chat("noord-1") if s.text.count("🚓") > 10]
    render_html(update.message.body)


async def test_an_alert_of_zero_width_characters_only_is_refused_like_an_empty_one(
    h: Harness,
) -> None:
    await make_world(h)
    await official(h, "sofie")
    await to_text_step(h)
    await h.say("sofie", INVISIBLE)
    assert h.last("sofie") == "The message is empty. Write its text."
    await h.say("sofie", "\u200b" * 50)
    assert h.last("sofie") == "The message is empty. Write its text."
    assert await alerts_stored(h) == []
    await h.say("sofie", "\u200bVisible\u200b")  # invisible characters around text are fine
    assert "Step 4 of 4" in h.last("sofie")


async def test_an_update_of_zero_width_characters_only_is_refused_like_an_empty_one(
    h: Harness,
) -> None:
    await make_world(h)
    await official(h, "sofie")
    ref = await compose(h, "sofie")
    before = h.texts("noord-1")
    await h.say("sofie", f"/update {ref} {INVISIBLE}")
    assert (
        h.last("sofie") == "Send /update REF TEXT: the reference of the message, then the update."
    )
    assert h.texts("noord-1") == before
    await h.say("sofie", f"/resolve {ref} \u200b\u200b")  # no text: the usual all-clear
    assert "\u200b" not in h.last("noord-1")
