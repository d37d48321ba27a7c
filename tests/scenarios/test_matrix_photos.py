"""A missing-person message with a photo through the real Matrix stack (Synapse on loopback):
the officer sends the photo from his own client (an encrypted attachment in his encrypted chat,
a plain `m.image` with `!update REF text` as its caption in a plain one); residents get an
`m.image` with its size and a thumbnail in a plain room, an encrypted attachment in an encrypted
room, each uploaded once; the caption is the message, the stored copy is clean."""

from __future__ import annotations

from pathlib import Path

from tests.matrix.conftest import UserFactory
from tests.matrix.synapse import SynapseServer
from tests.photos import has_metadata, phone_photo

from .matrix_stack import body, running, says, sees
from .test_matrix_flows import OFFICIAL, REF, linked_room, redeemed, zone_with_bins


async def test_a_photo_goes_to_a_plain_and_an_encrypted_room_uploaded_once_each(
    synapse: SynapseServer, make_user: UserFactory, tmp_path: Path
) -> None:
    async with running(synapse, tmp_path / "bot", encryption=True, seed=13) as stack:
        await zone_with_bins(stack, "noord")
        an, an_dm = await redeemed(
            stack, make_user, "an", "coordinator --bin noord", encrypted=True
        )
        jan, jan_dm = await redeemed(
            stack, make_user, "jan", "police --zone Beringen", encrypted=True
        )
        secret = await linked_room(stack, an, an_dm, "Kerkstraat", "noord", encrypted=True)
        plain = await linked_room(stack, an, an_dm, "Dorpsplein", "noord")
        lies = await make_user("lies", encryption=True)
        await lies.start_sync()
        await an.invite(secret, lies.user_id)
        await lies.join(secret)

        await says(jan, jan_dm, stack, "!alert", "nummers")
        await says(jan, jan_dm, stack, "1", "Stap 2 van 4")
        await says(jan, jan_dm, stack, "5", "Stap 3 van 4")  # Vermiste persoon
        text = "Vermist sinds 14 uur: man van 82, grijze jas, wandelstok. Bel 101."
        assert "overslaan" in await says(jan, jan_dm, stack, text, "een foto?")
        # From Jan's own client: uploaded encrypted, the bot downloads and decrypts it.
        sent = await jan.send_image(jan_dm, phone_photo(800, 600))
        await sees(jan, jan_dm, stack, "Versturen?", after=sent)
        receipt = await says(jan, jan_dm, stack, "ja", "Ontvangstbewijs")
        ref = REF.search(receipt)
        assert ref is not None

        shown = await sees(an, plain, stack, f"Ref. {ref.group(0)}", within=30)
        content = shown["content"]
        assert content["msgtype"] == "m.image" and OFFICIAL in body(shown)
        assert content["url"].startswith("mxc://")
        info = content["info"]
        assert (info["w"], info["h"], info["mimetype"]) == (600, 800, "image/jpeg")
        assert info["thumbnail_url"].startswith("mxc://") and info["thumbnail_info"]["w"] <= 320
        downloaded = await an.client.download(content["url"])
        assert not has_metadata(downloaded.body)  # type: ignore[union-attr]

        secret_shown = await sees(lies, secret, stack, f"Ref. {ref.group(0)}", within=30)
        assert secret_shown.get("decrypted")
        attachment = secret_shown["content"]["file"]
        assert {"url", "key", "iv", "hashes"} <= set(attachment)
        assert "url" not in secret_shown["content"]  # only the encrypted copy
        # The photo and its thumbnail, uploaded once plain and once encrypted (the officer's
        # preview in his encrypted chat made the encrypted one; the room reused it).
        assert stack.platform.uploads.count == 4

        # Another officer, in a plain chat: a photo captioned `!update REF text` (MSC2530).
        eva, eva_dm = await redeemed(stack, make_user, "eva", "police --zone Beringen")
        mark = await eva.send_image(
            eva_dm,
            phone_photo(640, 480),
            caption=f"!update {ref.group(0)} Gezien aan het station.",
        )
        await sees(eva, eva_dm, stack, "Update van", after=mark)
        update = await sees(an, plain, stack, "Gezien aan het station.", within=30)
        assert update["content"]["msgtype"] == "m.image"
        assert update["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == shown["event_id"]
        assert (update["content"]["info"]["w"], update["content"]["info"]["h"]) == (480, 640)
        downloaded = await an.client.download(update["content"]["url"])
        assert not has_metadata(downloaded.body)  # type: ignore[union-attr]
