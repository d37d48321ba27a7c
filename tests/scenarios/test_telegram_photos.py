"""A missing-person message with a photo through the real Telegram stack: the photo is taken
in private, stripped, uploaded once, sent by file_id to the other group, with the message as
its caption; a text file sent as a photo is refused."""

from __future__ import annotations

import io

from PIL import Image

from tests.photos import has_metadata, phone_photo
from tests.scenarios.telegram_stack import TelegramStack
from tests.scenarios.test_telegram_flows import OFFICIAL, REF, people, s

__all__ = ["s"]


async def test_a_missing_person_photo_reaches_two_groups_once_uploaded_once_without_exif(
    s: TelegramStack,
) -> None:
    p = await people(s)
    groups = await p.groups(["Kerkstraat", "Dorpsplein"])
    jan = p.jan
    await s.say(jan, "/alert")
    await s.press(jan, "Noord")
    await s.press(jan, "Klaar")
    await s.press(jan, "Vermiste persoon")
    s.new(jan)
    s.api.user_sends_photo(jan, b"just some notes, not an image\n", document=True)
    await s.handled()
    assert "Dat is geen foto die ik aanneem" in s.last(jan)

    await s.say(jan, "Vermist sinds 14 uur: man van 82, grijze jas, wandelstok. Bel 101.")
    assert "een foto?" in s.last(jan)
    s.api.user_sends_photo(jan, phone_photo())
    await s.handled()
    assert "Met de foto hierboven (1200×1600 pixels" in s.last(jan)
    ref = REF.search(s.last(jan))
    assert ref is not None
    await s.press(jan, "Bevestigen")
    await s.outbox_empty()

    for chat in groups:
        [photo] = s.api.photos_in(chat)
        assert photo.text.startswith(OFFICIAL)  # the message is the photo's caption
        assert f"Ref. {ref.group(0)}" in photo.text
        assert photo.buttons[0][0][0] == "Gezien"
        sent = s.api.files[photo.service["photo"][-1]["file_id"]]
        assert not has_metadata(sent)
        assert Image.open(io.BytesIO(sent)).size == (1200, 1600)  # turned upright
    assert s.api.photo_uploads == 1  # the preview uploaded it; every group got its file_id
    await s.say(jan, f"/status {ref.group(0)}")
    assert "📷 Met een foto (1200×1600)" in s.last(jan)


async def test_a_long_message_follows_its_photo_and_a_withdrawal_deletes_both(
    s: TelegramStack,
) -> None:
    p = await people(s)
    [chat] = await p.groups(["Kerkstraat"])
    jan = p.jan
    await s.say(jan, "/alert")
    await s.press(jan, "Noord")
    await s.press(jan, "Klaar")
    await s.press(jan, "Vermiste persoon")
    long_text = "Vermist: man van 82, grijze jas, wandelstok, laatst gezien aan de kerk. " * 16
    await s.say(jan, long_text)  # too long for a caption: the text follows the photo
    s.api.user_sends_photo(jan, phone_photo(800, 600))
    await s.handled()
    await s.press(jan, "Bevestigen")
    await s.outbox_empty()
    [photo] = s.api.photos_in(chat)
    text = s.api.last_message(chat)
    assert photo.text == "" and text.reply_to == photo.message_id
    assert text.text.startswith(OFFICIAL) and "wandelstok" in text.text
    ref = REF.search(text.text)
    assert ref is not None

    s.api.user_sends_photo(
        jan, phone_photo(640, 480), f"/update {ref.group(0)} Gezien aan het station."
    )
    await s.handled()
    assert "gaat als antwoord naar de groepen" in s.last(jan)
    await s.outbox_empty()
    update = s.api.photos_in(chat)[-1]
    assert update.reply_to == photo.message_id  # an update replies to the photo
    assert "Gezien aan het station." in update.text

    await s.say(jan, f"/withdraw {ref.group(0)}")
    await s.outbox_empty()
    assert photo.deleted and text.deleted  # both parts of the original are gone
