"""Record the Matrix events test_translate.py reads, from a real Synapse.

    python -m tests.matrix.record_fixtures

Plays a short story in a room (invite, join, commands, a reply, an edit, a reaction, images, a
knock, a leave, a ban, the bot kicked), then writes each event as Synapse served it to
`fixtures/<name>.json`, with the random account names replaced by stable ones. The encrypted
image is an encrypted attachment posted in the plain room: its event reads exactly as nio hands
over one decrypted in an encrypted room; its ciphertext goes to `image_encrypted.bin`.
"""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
from pathlib import Path
from typing import Any

from tests.photos import phone_photo

from .harness import MatrixUser
from .synapse import SynapseServer, start_synapse

FIXTURES = Path(__file__).parent / "fixtures"


async def _story(server: SynapseServer) -> dict[str, Any]:
    accounts = {
        name: await server.create_user(name, displayname=display)
        for name, display in (
            ("jan", "Jan Peeters"),
            ("piet", "Piet Janssens"),
            ("kees", "Kees"),
            ("binbot", "binbot"),
        )
    }
    jan, piet, kees, bot = (MatrixUser(server, accounts[n]) for n in accounts)
    out: dict[str, Any] = {"_accounts": {n: a.user_id for n, a in accounts.items()}}
    try:
        room = await jan.create_room("BIN Noord", join_rule="knock", power={bot.user_id: 50})
        await jan.invite(room, bot.user_id)
        sync = await server.arequest(
            "GET", "/_matrix/client/v3/sync", token=bot.account.access_token
        )
        out["invite_state_member"] = next(
            e
            for e in sync["rooms"]["invite"][room]["invite_state"]["events"]
            if e["type"] == "m.room.member" and e["state_key"] == bot.user_id
        )
        await bot.join(room)
        await jan.say(room, "!help")
        await jan.say(room, "Verdachte wagen in de Kerkstraat")
        first = await jan.say(room, "/numbers")
        resp = await bot.client.room_send(
            room, "m.room.message", {"msgtype": "m.notice", "body": "101 / 112"}
        )
        bot_event = str(getattr(resp, "event_id", ""))
        await piet.knock(room)
        await jan.invite(room, piet.user_id)
        await piet.join(room)
        content = {
            "msgtype": "m.text",
            "body": "> <@jan:localhost> /numbers\n\n!check A-7K2Q",
            "m.relates_to": {"m.in_reply_to": {"event_id": bot_event}},
        }
        await piet.client.room_send(room, "m.room.message", content)
        await piet.react(room, bot_event, "👍")
        photo = phone_photo(64, 48)
        await jan.send_image(room, photo, encrypted=False)
        await jan.send_image(room, photo, caption="!update A-7K2Q foto erbij", encrypted=False)
        await jan.send_image(room, photo, name="IMG_0413.jpg", encrypted=True)
        edit = {
            "msgtype": "m.text",
            "body": "* !numbers",
            "m.new_content": {"msgtype": "m.text", "body": "!numbers"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": first},
        }
        await jan.client.room_send(room, "m.room.message", edit)
        await piet.client.set_displayname("Piet J.")
        await kees.knock(room)
        await jan.kick(room, kees.user_id)
        await piet.leave(room)
        await jan.client.room_ban(room, piet.user_id)
        await jan.kick(room, bot.user_id)
        events = await jan.timeline(room, limit=100)
    finally:
        for user in (jan, piet, kees, bot):
            await user.close()

    def find(kind: str, **match: Any) -> dict[str, Any]:
        for event in events:
            if event.get("type") != kind:
                continue
            if all(_get(event, key) == value for key, value in match.items()):
                return event
        raise LookupError(f"{kind} {match}")

    b, p, k = bot.user_id, piet.user_id, kees.user_id
    out.update(
        bot_invite=find("m.room.member", state_key=b, **{"content.membership": "invite"}),
        bot_join=find("m.room.member", state_key=b, **{"content.membership": "join"}),
        command=find("m.room.message", **{"content.body": "!help"}),
        message=find("m.room.message", **{"content.body": "Verdachte wagen in de Kerkstraat"}),
        slash_command=find("m.room.message", **{"content.body": "/numbers"}),
        bot_message=find("m.room.message", sender=b),
        reply=find("m.room.message", sender=p),
        edit=find("m.room.message", **{"content.body": "* !numbers"}),
        reaction=find("m.reaction"),
        image=find("m.room.message", **{"content.body": "IMG_0412.jpg"}),
        image_caption=find(
            "m.room.message",
            **{"content.filename": "IMG_0412.jpg", "content.body": "!update A-7K2Q foto erbij"},
        ),
        image_encrypted=find("m.room.message", **{"content.body": "IMG_0413.jpg"}),
        knock=find("m.room.member", state_key=p, **{"content.membership": "knock"}),
        member_join=find(
            "m.room.member",
            state_key=p,
            **{"content.membership": "join", "unsigned.prev_content.membership": "invite"},
        ),
        rename=find(
            "m.room.member",
            state_key=p,
            **{"content.membership": "join", "content.displayname": "Piet J."},
        ),
        knock_declined=find("m.room.member", state_key=k, **{"content.membership": "leave"}),
        member_leave=find("m.room.member", state_key=p, **{"content.membership": "leave"}),
        member_ban=find("m.room.member", state_key=p, **{"content.membership": "ban"}),
        bot_kicked=find("m.room.member", state_key=b, **{"content.membership": "leave"}),
    )
    out["_ciphertext"] = await _download(jan, out["image_encrypted"]["content"]["file"]["url"])
    return out


async def _download(user: MatrixUser, mxc: str) -> bytes:
    user = MatrixUser(user.server, user.account)
    try:
        resp = await user.client.download(mxc=mxc)
        return bytes(resp.body)  # type: ignore[union-attr]
    finally:
        await user.close()


def _get(event: dict[str, Any], dotted: str) -> Any:
    value: Any = event
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _stable(text: str, accounts: dict[str, str]) -> str:
    for name, user_id in accounts.items():
        text = text.replace(user_id, f"@{name}:localhost")
    return re.sub(r'"age": \d+', '"age": 1000', text)


def main() -> None:
    """Start Synapse, record the story, write the fixtures."""
    with tempfile.TemporaryDirectory(prefix="binbot-record-") as tmp:
        server = start_synapse(Path(tmp))
        try:
            recorded = asyncio.run(_story(server))
        finally:
            server.stop()
    accounts = recorded.pop("_accounts")
    (FIXTURES / "image_encrypted.bin").write_bytes(recorded.pop("_ciphertext"))
    FIXTURES.mkdir(exist_ok=True)
    for name, event in recorded.items():
        text = _stable(json.dumps(event, indent=2, ensure_ascii=False, sort_keys=True), accounts)
        (FIXTURES / f"{name}.json").write_text(text + "\n", encoding="utf8")
        print("wrote", name)


if __name__ == "__main__":
    main()
