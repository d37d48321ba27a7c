"""Photos of official messages in the core: a photo taken in the wizard, sent as one logical
message in two parts when its caption cannot hold the text (a retry sends only what is
missing), uploaded once, and released on withdrawal and some days after expiry."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from bot.events import PhotoPosted
from bot.model import Capabilities, Platform
from bot.ports import TransientError
from bot.services import photos
from storage.tables import Alert, Delivery, Photo
from tests.fakes import Harness, RecordingPlatform
from tests.photos import phone_photo
from tests.unit.test_alerts_world import REF, make_world, official

PHOTOS = Capabilities(
    max_text_length=4096, photos=True, max_caption_length=1024, caption_utf16=True
)


async def send_photo(h: Harness, name: str, data: bytes, caption: str = "") -> None:
    async def fetch() -> bytes:
        return data

    chat = h.chat(None, name)
    await h.event(PhotoPosted(chat, h.user(name), caption, "p1", fetch, size=len(data)))


async def missing_person(h: Harness, text: str, photo: bytes) -> str:
    """Jan writes a missing-person message, adds the photo when asked, and confirms."""
    await h.say("jan", "/alert")
    await h.press("jan", "Noord")
    await h.press("jan", "Done")
    await h.press("jan", "Missing person")
    await h.say("jan", text)
    assert "a photo?" in h.last("jan")
    await send_photo(h, "jan", photo)
    await h.press("jan", "Confirm")
    found = REF.search(h.last("jan"))
    assert found is not None
    return found.group(0)


async def photo_rows(h: Harness) -> int:
    async with h.db.session() as session:
        return int((await session.execute(select(func.count()).select_from(Photo))).scalar())


async def test_a_text_too_long_for_a_caption_follows_and_a_retry_sends_only_the_text(
    tmp_path: Path,
) -> None:
    h = await Harness.create(tmp_path, platform=RecordingPlatform(Platform.TELEGRAM, PHOTOS))
    try:
        await make_world(h)
        await official(h, "jan")
        long_text = "Missing: a man of 82, grey coat, walks with a stick. " * 22
        await send_photo(h, "jan", phone_photo(400, 300))  # outside a message: refused
        assert "only goes out with an official message" in h.last("jan")
        ref = await missing_person(h, long_text, phone_photo(800, 600))
        for chat in ("noord-1", "noord-2"):
            sent = h.platform.in_chat(chat)
            assert [s.photo is not None for s in sent] == [True, False]
            assert sent[1].message.reply_to == sent[0].ref.message_id
            assert f"Ref. {ref}" in sent[1].text
        uploads = [s for s in h.platform.sent if s.photo is not None and s.uploaded]
        assert len(uploads) == 1  # the preview; the groups got it by its file id
        async with h.db.session() as session:
            rows = (await session.execute(select(Delivery))).scalars().all()
            assert all(r.text_message_id and r.platform_message_id for r in rows)
    finally:
        await h.close()


async def test_a_failed_text_part_is_sent_again_without_its_photo(tmp_path: Path) -> None:
    h = await Harness.create(tmp_path, platform=RecordingPlatform(Platform.TELEGRAM, PHOTOS))
    try:
        await make_world(h, groups={"noord": ["noord-1"]})
        await official(h, "jan")
        long_text = "Missing: a man of 82, grey coat, walks with a stick. " * 22
        original_send = h.platform.send
        failed: list[str] = []

        async def flaky_text(chat, message, *, txn_id=None):  # type: ignore[no-untyped-def]
            if chat.chat_id == "noord-1" and not failed:
                failed.append(chat.chat_id)
                raise TransientError("timeout")
            return await original_send(chat, message, txn_id=txn_id)

        h.platform.send = flaky_text  # type: ignore[method-assign]
        await missing_person(h, long_text, phone_photo(800, 600))
        assert [s.photo is not None for s in h.platform.in_chat("noord-1")] == [True]
        h.clock.advance(seconds=5)
        await h.core.idle()
        sent = h.platform.in_chat("noord-1")
        assert [s.photo is not None for s in sent] == [True, False]  # the photo once
        assert sent[1].message.reply_to == sent[0].ref.message_id
    finally:
        await h.close()


async def test_a_withdrawal_releases_the_photo_and_its_file_at_once(tmp_path: Path) -> None:
    h = await Harness.create(tmp_path, platform=RecordingPlatform(Platform.TELEGRAM, PHOTOS))
    try:
        await make_world(h)
        await official(h, "jan")
        ref = await missing_person(h, "Missing: man of 82, grey coat.", phone_photo(800, 600))
        folder = h.core.config.media_dir
        assert len(list(folder.iterdir())) == 1 and await photo_rows(h) == 1
        await h.say("jan", f"/withdraw {ref}")
        assert list(folder.iterdir()) == [] and await photo_rows(h) == 0
        await h.say("jan", f"/status {ref}")
        assert "withdrawn" in h.last("jan")
    finally:
        await h.close()


async def test_an_expired_message_keeps_its_photo_for_the_set_days_only(tmp_path: Path) -> None:
    h = await Harness.create(tmp_path, platform=RecordingPlatform(Platform.TELEGRAM, PHOTOS))
    try:
        await make_world(h)
        await official(h, "jan")
        await missing_person(h, "Missing: man of 82, grey coat.", phone_photo(800, 600))
        async with h.db.session() as session:
            alert = (await session.execute(select(Alert))).scalar_one()
        assert alert.photo_id is not None
        h.clock.set(alert.valid_until + timedelta(days=29))
        await photos.release_expired(h.core)
        assert await photo_rows(h) == 1
        h.clock.set(alert.valid_until + timedelta(days=30, minutes=1))
        await photos.release_expired(h.core)
        assert await photo_rows(h) == 0 and list(h.core.config.media_dir.iterdir()) == []
    finally:
        await h.close()


async def test_a_photo_at_a_step_that_takes_none_is_answered_and_not_used(h: Harness) -> None:
    await make_world(h)
    await official(h, "jan")
    await h.say("jan", "/alert")
    await send_photo(h, "jan", phone_photo(400, 300))
    assert "I cannot take a photo at this step" in h.last("jan")
