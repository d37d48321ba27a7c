"""Official messages with a photo on the desk: uploaded beside the text, cleaned exactly as a
photo sent in chat, shown in the preview, sent to every group; refused clearly when it is no
photo or too large; carried to Send by a reference no browser can forge; shown only to those
who may see it."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot import media
from bot.model import Capabilities, Platform
from bot.services.desk_photos import UPLOAD_LIMIT
from storage.tables import Alert, FollowUp, Photo
from tests.desk.client import Browser
from tests.desk.world import DeskWorld
from tests.fakes import Harness, RecordingPlatform
from tests.photos import has_metadata, phone_photo

TEXT = "Missing since this morning: Maria, 82, grey coat, walks with a stick."
PHOTOS = Capabilities(
    max_text_length=4096, photos=True, max_caption_length=1024, caption_utf16=True
)
IMG = re.compile(r'<img src="(/desk/photos/([0-9a-f]{64})(?:\?ref=[0-9a-f]+)?)"')


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    """The desk world on a platform that takes photos (Telegram-like)."""
    harness = await Harness.create(tmp_path, platform=RecordingPlatform(Platform.TELEGRAM, PHOTOS))
    yield harness
    await harness.close()


async def login(dw: DeskWorld, name: str) -> Browser:
    b = Browser(dw.base)
    await b.get(await dw.link(name))
    assert b.status == 200
    return b


@pytest.fixture
async def jan(dw: DeskWorld) -> AsyncIterator[Browser]:
    b = await login(dw, "jan")
    yield b
    await b.close()


def draft(dw: DeskWorld, *bins: str, zone_id: int = 1) -> list[tuple[str, str]]:
    fields = [("as", f"police:{zone_id}"), ("category", "missing_person"), ("text", TEXT)]
    return fields + [("bin", str(dw.bins[b])) for b in bins]


def hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, name
    return found.group(1)


async def upload(
    b: Browser, path: str, fields: list[tuple[str, str]], file: tuple[str, bytes, str] | None
) -> str:
    """Send a form as a browser does with a file chosen (multipart), with the CSRF token."""
    form = aiohttp.FormData()
    for name, value in [*fields, ("csrf", b.csrf)]:
        form.add_field(name, value)
    if file is not None:
        filename, data, kind = file
        form.add_field("upload", data, filename=filename, content_type=kind)
    async with b.session.post(b.base + path, data=form, headers={"Origin": b.base}) as r:
        b.status, b.text = r.status, await r.text()
    if found := re.search(r'name="csrf" value="([0-9a-f]+)"', b.text):
        b.csrf = found.group(1)
    return b.text


async def fetch(b: Browser, path: str) -> tuple[int, bytes, str]:
    async with b.session.get(b.base + path) as r:
        return r.status, await r.read(), r.content_type


def in_groups(dw: DeskWorld) -> list[Any]:
    return [s for s in dw.h.platform.sent if not s.chat.is_private]


async def photo_rows(dw: DeskWorld) -> list[Photo]:
    async with dw.h.db.session() as s:
        return list((await s.execute(select(Photo))).scalars().all())


def files(dw: DeskWorld) -> list[Path]:
    folder = dw.h.core.config.media_dir
    return sorted(folder.iterdir()) if folder.exists() else []


async def preview_with_photo(dw: DeskWorld, b: Browser, photo: bytes, *bins: str) -> str:
    page = await upload(b, "/desk/compose", draft(dw, *bins), ("maria.jpg", photo, "image/jpeg"))
    assert b.status == 200, page
    return page


async def send_with_photo(dw: DeskWorld, b: Browser, *bins: str) -> tuple[str, str]:
    """Preview and send a missing-person message with a phone photo; (ref, photo hash)."""
    page = await preview_with_photo(dw, b, phone_photo(800, 600), *bins)
    found = IMG.search(page)
    assert found
    fields = [*draft(dw, *bins), ("photo", hidden(page, "photo"))]
    fields += [("ref", hidden(page, "ref")), ("sig", hidden(page, "sig"))]
    await b.post("/desk/compose/send", fields)
    assert b.status == 200 and "Official message" in b.text, b.text
    await dw.h.core.idle()
    ref = hidden(page, "ref")
    return ref, found.group(2)


async def test_an_officer_sends_a_photo_taken_with_gps_to_every_group(
    dw: DeskWorld, jan: Browser
) -> None:
    original = phone_photo(1600, 1200)
    assert has_metadata(original)
    page = await preview_with_photo(dw, jan, original, "noord", "zuid")
    assert "It goes to 3 groups of: Noord, Zuid." in page
    # The same line as the chat wizard's preview; the photo was turned upright (EXIF 6).
    assert "With the photo above (1200×1600 pixels, without any metadata)." in page
    found = IMG.search(page)
    assert found
    url, sha = found.groups()
    status, shown, kind = await fetch(jan, url.replace("&amp;", "&"))
    assert status == 200 and kind == "image/jpeg"
    assert hashlib.sha256(shown).hexdigest() == sha and not has_metadata(shown)
    assert in_groups(dw) == []  # nothing goes out before Confirm

    fields = [*draft(dw, "noord", "zuid"), ("photo", hidden(page, "photo"))]
    fields += [("ref", hidden(page, "ref")), ("sig", hidden(page, "sig"))]
    await jan.post("/desk/compose/send", fields)
    await dw.h.core.idle()
    ref = hidden(page, "ref")
    for chat in ("noord-1", "noord-2", "zuid-1"):
        [posted] = dw.h.platform.in_chat(chat)
        assert posted.photo is not None and posted.photo.sha256 == sha
        assert TEXT in posted.text and ref in posted.text
    assert dw.h.platform.in_chat("kern-1") == []

    [stored] = files(dw)
    data = stored.read_bytes()
    assert stored.name == sha and not has_metadata(data)
    assert b"SN-4417-0098" not in data and b"PhoneMaker" not in data
    async with dw.h.db.session() as s:
        alert = (await s.execute(select(Alert))).scalar_one()
    [row] = await photo_rows(dw)
    assert alert.photo_id == row.id and (row.width, row.height) == (1200, 1600)

    page = await jan.get(f"/desk/messages/{ref}")
    assert f'<img src="/desk/photos/{sha}"' in page
    assert "With a photo (1200×1600)" in page
    listing = await jan.get("/desk/messages")
    assert re.search(rf"{ref}</a> <span class=\"pill\">📷 photo</span>", listing)


async def test_a_withdrawal_on_the_desk_deletes_the_photo(dw: DeskWorld, jan: Browser) -> None:
    ref, sha = await send_with_photo(dw, jan, "noord")
    assert [p.name for p in files(dw)] == [sha]
    await jan.get(f"/desk/messages/{ref}")
    await jan.post(f"/desk/messages/{ref}/followup", {"kind": "withdraw", "text": ""})
    assert jan.status == 200
    assert files(dw) == [] and await photo_rows(dw) == []
    page = await jan.get(f"/desk/messages/{ref}")
    assert "<img" not in page


async def test_an_update_from_the_desk_carries_a_photo(dw: DeskWorld, jan: Browser) -> None:
    ref, first = await send_with_photo(dw, jan, "noord")
    dw.h.new("noord-1")
    await jan.get(f"/desk/messages/{ref}")
    better = phone_photo(640, 480)
    fields = [("kind", "update"), ("text", "A clearer photo of Maria.")]
    await upload(jan, f"/desk/messages/{ref}/followup", fields, ("b.jpg", better, "image/jpeg"))
    assert jan.status == 200 and "Done: it is on its way" in jan.text
    await dw.h.core.idle()
    posted = dw.h.platform.in_chat("noord-1")[-1]
    assert posted.photo is not None and posted.photo.sha256 != first
    assert "A clearer photo of Maria." in posted.text
    async with dw.h.db.session() as s:
        fu = (await s.execute(select(FollowUp))).scalar_one()
    assert fu.photo_id is not None
    assert f'src="/desk/photos/{posted.photo.sha256}"' in jan.text  # under the update

    # A photo with an all-clear is refused, and nothing is posted.
    fields = [("kind", "resolve"), ("text", "Found, safe and well.")]
    await upload(jan, f"/desk/messages/{ref}/followup", fields, ("c.jpg", better, "image/jpeg"))
    assert jan.status == 400 and "can only go out with an update" in jan.text
    async with dw.h.db.session() as s:
        assert (await s.execute(select(Alert.state))).scalar_one() == "updated"


async def test_a_text_file_is_refused_clearly_and_nothing_is_kept(
    dw: DeskWorld, jan: Browser
) -> None:
    page = await upload(
        jan, "/desk/compose", draft(dw, "noord"), ("notes.txt", b"hello", "text/plain")
    )
    assert jan.status == 400
    assert "That file is not a photo the desk accepts" in page
    assert TEXT in page  # the text typed is kept to send again
    assert await photo_rows(dw) == [] and files(dw) == []
    [audited] = await dw.audit("photo", "refused")
    assert (audited.detail or {})["reason"] == "not_image"
    # A truncated photo, in the person's language.
    whole = phone_photo(400, 300)
    cut = whole[: len(whole) // 2]
    await jan.post("/desk/language", {"lang": "fr", "back": "/desk/compose"})
    page = await upload(jan, "/desk/compose", draft(dw, "noord"), ("a.jpg", cut, "image/jpeg"))
    assert jan.status == 400 and "endommagée ou incomplète" in page
    assert await photo_rows(dw) == [] and files(dw) == []


async def test_oversized_uploads_are_refused_with_a_page_not_a_crash(
    dw: DeskWorld, jan: Browser
) -> None:
    # Above the photo limit but within what the form may carry: the compose page says why.
    big = b"\xff\xd8\xff\xe0" + bytes(media.MAX_BYTES)
    page = await upload(jan, "/desk/compose", draft(dw, "noord"), ("big.jpg", big, "image/jpeg"))
    assert jan.status == 400 and "a photo may be at most 10 MB" in page
    # Far above what the form may carry (aiohttp's own limit would say 413 in English).
    huge = bytes(UPLOAD_LIMIT + 1)
    await jan.post("/desk/language", {"lang": "nl", "back": "/desk/compose"})
    page = await upload(jan, "/desk/compose", draft(dw, "noord"), ("huge.jpg", huge, "image/jpeg"))
    assert jan.status == 413
    assert "Te groot om te versturen" in page and "hoogstens 10 MB" in page
    assert await photo_rows(dw) == [] and files(dw) == []
    assert in_groups(dw) == []


async def test_a_forged_or_borrowed_photo_reference_is_refused(
    dw: DeskWorld, jan: Browser
) -> None:
    piet = await login(dw, "piet")
    try:
        # Piet (Hasselt) previews a message with a photo; his reference is his session's.
        kern = [("as", "police:2"), ("category", "missing_person"), ("text", TEXT)]
        kern.append(("bin", str(dw.bins["kern"])))
        theirs = await upload(
            piet, "/desk/compose", kern, ("p.jpg", phone_photo(300, 200), "image/jpeg")
        )
        assert piet.status == 200
        their_ref = hidden(theirs, "photo")
        their_sha = their_ref.split(".")[0]

        page = await jan.post("/desk/compose", draft(dw, "noord"))
        ref, sig = hidden(page, "ref"), hidden(page, "sig")
        forged = [f"{their_sha}.{'0' * 32}", their_ref, their_sha]
        for photo in forged:  # a made-up signature, another session's, none at all
            await jan.post(
                "/desk/compose/send",
                [*draft(dw, "noord"), ("photo", photo), ("ref", ref), ("sig", sig)],
            )
            assert jan.status == 400 and "can no longer be used here" in jan.text, photo
            assert f"/desk/photos/{their_sha}" not in jan.text
        await dw.h.core.idle()
        assert dw.h.platform.in_chat("noord-1") == []
        async with dw.h.db.session() as s:
            assert (await s.execute(select(Alert))).first() is None
        refusals = await dw.audit("alert.compose", "refused")
        assert [(e.detail or {}).get("reason") for e in refusals].count("photo_ref") == 3
        assert len([e for e in await dw.audit("alert.compose") if e.outcome == "ok"]) == 0

        # Jan's own reference is worth nothing in another session of his.
        mine = await preview_with_photo(dw, jan, phone_photo(300, 200), "noord")
        second = await login(dw, "jan")
        try:
            page = await second.post(
                "/desk/compose", [*draft(dw, "noord"), ("photo", hidden(mine, "photo"))]
            )
            assert second.status == 400 and "can no longer be used here" in page
        finally:
            await second.close()
    finally:
        await piet.close()


async def test_only_those_who_may_see_the_message_get_its_photo(
    dw: DeskWorld, jan: Browser
) -> None:
    ref, sha = await send_with_photo(dw, jan, "noord")
    draft_page = await preview_with_photo(dw, jan, phone_photo(320, 240), "noord")
    draft_url = IMG.search(draft_page)
    assert draft_url
    status, _, _ = await fetch(jan, f"/desk/photos/{sha}")
    assert status == 200
    outsiders: list[tuple[str, Browser]] = []
    for name in ("piet", "an"):  # another zone's officer; a coordinator (sees no messages)
        outsiders.append((name, await login(dw, name)))
    nobody = Browser(dw.base)  # Kim, a resident, has no desk session: only a link of her own
    await dw.h.say("kim", "/desk")
    assert "/desk/login/" not in dw.h.last("kim")
    try:
        for name, b in outsiders:
            for url in (f"/desk/photos/{sha}", draft_url.group(1).replace("&amp;", "&")):
                status, body, _ = await fetch(b, url)
                assert status == 404 and b"\xff\xd8" not in body, (name, url)
            await b.get(f"/desk/messages/{ref}")  # as the message itself
            assert b.status == 404
        for url in (f"/desk/photos/{sha}", draft_url.group(1)):
            status, body, _ = await fetch(nobody, url)
            assert status == 401 and b"\xff\xd8" not in body
        refused = await dw.audit("desk.photo", "refused")
        assert len(refused) == 4
    finally:
        for _, b in outsiders:
            await b.close()
        await nobody.close()


async def test_the_compose_form_keeps_a_photo_while_the_draft_is_corrected(
    dw: DeskWorld, jan: Browser
) -> None:
    # No BIN chosen: the form comes back with the error, and the photo is kept.
    page = await upload(
        jan, "/desk/compose", draft(dw), ("m.jpg", phone_photo(400, 300), "image/jpeg")
    )
    assert jan.status == 400
    kept = hidden(page, "photo")
    assert IMG.search(page) and "Send without this photo" in page
    page = await upload(jan, "/desk/compose", [*draft(dw, "noord"), ("photo", kept)], None)
    assert jan.status == 200 and "With the photo above (300×400 pixels" in page
    # Ticking "Send without this photo" drops it.
    fields: list[Any] = [*draft(dw, "noord"), ("photo", kept), ("no_photo", "1")]
    page = await upload(jan, "/desk/compose", fields, None)
    assert jan.status == 200 and "With the photo above" not in page and "<img" not in page


async def test_nothing_is_kept_for_someone_who_may_not_send(dw: DeskWorld, jan: Browser) -> None:
    an = await login(dw, "an")  # a coordinator: no official messages
    piet = await login(dw, "piet")  # police, but of Hasselt
    try:
        photo = ("m.jpg", phone_photo(400, 300), "image/jpeg")
        await upload(an, "/desk/compose", draft(dw, "noord"), photo)
        assert an.status == 404 and "<img" not in an.text
        await upload(piet, "/desk/compose", draft(dw, "noord"), photo)  # as Beringen police
        assert piet.status == 400 and "<img" not in piet.text
        assert await photo_rows(dw) == [] and files(dw) == []
        ref, _ = await send_with_photo(dw, jan, "noord")
        fields = [("kind", "update"), ("text", "Another photo.")]
        await upload(piet, f"/desk/messages/{ref}/followup", fields, photo)
        assert piet.status == 404
        assert len(await photo_rows(dw)) == 1 and len(files(dw)) == 1  # Jan's alone
        async with dw.h.db.session() as s:
            assert (await s.execute(select(FollowUp))).first() is None
    finally:
        await an.close()
        await piet.close()
