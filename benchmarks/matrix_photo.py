"""`python benchmarks/matrix_fanout.py --photo`: one missing-person message with a photo of
about 2 MB (a phone photo with GPS and all, made with Pillow) to `--rooms` Matrix rooms.

The officer composes it with `!alert` in a direct chat and sends the photo from his own client
as an `m.image` (uploaded to the media repository; the bot downloads it, cleans it and keeps
it). The preview in his chat uploads the cleaned photo and its thumbnail; every room then gets
an `m.image` pointing at that same upload. Uploads are counted twice: by the adapter
(`MatrixPlatform.uploads.count`) and on the homeserver (the admin API's list of the bot's
media). Every room is read back: `lost` counts rooms without the message, `duplicates` the
extra copies. Target: the photo uploaded once (two media: it and its thumbnail), none lost, no
duplicates. The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

from sqlalchemy import select

from benchmarks.matrix_fanout import bounded, copies, link, make_rooms, settled
from storage.tables import Alert
from tests.matrix.harness import MatrixUser
from tests.matrix.synapse import SynapseServer, start_synapse
from tests.photos import phone_photo
from tests.scenarios.matrix_stack import MatrixStack, direct_room, says, sees

MEDIA_PER_PHOTO = 2  # the photo and its thumbnail


async def bot_media(server: SynapseServer, user_id: str) -> list[dict[str, Any]]:
    """What the homeserver's media repository holds that `user_id` uploaded."""
    path = f"/_synapse/admin/v1/users/{urllib.parse.quote(user_id)}/media?limit=100"
    answer = await server.arequest("GET", path, token=server.admin.access_token)
    return list(answer["media"])


async def image_urls(reader: MatrixUser, rooms: list[str], sender: str) -> set[str]:
    """The distinct media every room's images of `sender` point at (one upload: one URI)."""

    async def one(room: str) -> set[str]:
        return {
            str(e["content"].get("url"))
            for e in await reader.messages(room, limit=20)
            if e.get("sender") == sender and e["content"].get("msgtype") == "m.image"
        }

    found = await bounded(rooms, one, 8)
    return set().union(*found)


async def run_photo(args: argparse.Namespace) -> dict[str, Any]:
    """Set up Synapse, the rooms and the bot; send the message with its photo; count."""
    workdir = Path(tempfile.mkdtemp(prefix="binbot-photo-fanout-"))
    server = await asyncio.to_thread(start_synapse, workdir / "synapse")
    photo = phone_photo(1950, 1300)
    people: list[MatrixUser] = []
    stack: MatrixStack | None = None
    try:
        t = time.monotonic()
        bot = await server.create_user("binbot", displayname="binbot")
        await server.aset_ratelimit(bot.user_id, 0, 0)
        an = MatrixUser(server, await server.create_user("an", displayname="An"))
        people.append(an)
        rooms = await make_rooms(server, an, bot, args.rooms)
        print(f"setup: {len(rooms)} rooms in {time.monotonic() - t:.1f}s", flush=True)
        stack = await MatrixStack.start(
            server,
            workdir / "bot",
            account=bot,
            matrix={"concurrency": args.matrix_concurrency},
            delivery={"concurrency": args.delivery_concurrency},
        )
        await link(stack, rooms, [])
        jan = MatrixUser(server, await server.create_user("jan", displayname="Jan"))
        people.append(jan)
        dm = await direct_room(jan, stack)
        code = await stack.invite_code("invite police --zone Beringen")
        await says(jan, dm, stack, f"!redeem {code}", "Gelukt")
        await says(jan, dm, stack, "!alert", "nummers")
        await says(jan, dm, stack, "1", "Stap 2 van 4")
        await says(jan, dm, stack, "5", "Stap 3 van 4")  # missing person: asks for a photo
        text = "Vermist sinds 14 uur: man van 82, grijze jas, wandelstok. Bel 101."
        await says(jan, dm, stack, text, "foto")
        mark = await jan.send_image(dm, photo)
        await sees(jan, dm, stack, "Versturen?", after=mark, within=60)

        t = time.monotonic()
        await jan.say(dm, "ja")
        alert = None
        while alert is None:
            async with stack.core.db.session() as session:
                alert = (await session.execute(select(Alert))).scalar_one_or_none()
            await asyncio.sleep(0.01)
        rows = await settled(stack, alert.id, within=300)
        seconds = time.monotonic() - t
        seen = await copies(an, rooms, bot.user_id, f"Ref. {alert.ref}")
        images = await image_urls(an, rooms, bot.user_id)
        adapter_uploads = stack.platform.uploads.count
        media = await bot_media(server, bot.user_id)
    finally:
        if stack is not None:
            await stack.stop()
        for person in people:
            await person.close()
        await asyncio.to_thread(server.stop)

    lost = sum(1 for room in seen if not room)
    duplicates = sum(max(0, len(room) - 1) for room in seen)
    return {
        "rooms": len(rooms),
        "photo_bytes": len(photo),
        "delivered": len(rooms) - lost,
        "lost": lost,
        "duplicates": duplicates,
        "sent_rows": sum(r.status == "sent" for r in rows),
        "failed_rows": sum(r.status != "sent" for r in rows),
        "seconds": round(seconds, 2),
        "rooms_per_s": round((len(rooms) - lost) / seconds, 1) if seconds else None,
        "adapter_uploads": adapter_uploads,
        "homeserver_media": len(media),
        "homeserver_media_bytes": sorted(int(m.get("media_length", 0)) for m in media),
        "photo_uploads": adapter_uploads // MEDIA_PER_PHOTO,
        "distinct_image_urls": len(images),
        "matrix_concurrency": args.matrix_concurrency,
        "delivery_concurrency": args.delivery_concurrency,
        "cpus": os.cpu_count(),
    }


def photo_main(args: argparse.Namespace) -> int:
    """Run, print the figures (the JSON object last); 0 when the target was met."""
    figures = asyncio.run(run_photo(args))
    print(
        f"one official message with a {figures['photo_bytes'] / 1e6:.1f} MB photo to "
        f"{figures['rooms']} rooms: {figures['delivered']} delivered in {figures['seconds']}s "
        f"({figures['rooms_per_s']} rooms/s), lost {figures['lost']}, "
        f"duplicates {figures['duplicates']}"
    )
    print(
        f"uploads: {figures['adapter_uploads']} by the adapter, {figures['homeserver_media']} "
        f"media of the bot on the homeserver (the photo and its thumbnail: "
        f"{figures['homeserver_media_bytes']} bytes)"
    )
    met = (
        figures["adapter_uploads"] == MEDIA_PER_PHOTO
        and figures["homeserver_media"] == MEDIA_PER_PHOTO
        and not figures["lost"]
        and not figures["duplicates"]
        and not figures["failed_rows"]
        and figures["distinct_image_urls"] == 1
    )
    figures["target_met"] = met
    print("target (uploaded once, none lost, no duplicates): " + ("met" if met else "MISSED"))
    print(json.dumps(figures))
    return 0 if met else 1
