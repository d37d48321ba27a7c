"""Encrypted events the bot cannot read yet: keys are asked for once, the event comes later.

A homeserver cannot be made to withhold a key on demand, so this one test drives `Inbound` with
a stand-in for nio's client; everything else about inbound events runs against Synapse.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from nio import Event as NioEvent
from nio import MatrixRoom, MegolmEvent
from nio.exceptions import EncryptionError

from adapters.matrix.direct import DirectRooms
from adapters.matrix.inbound import Inbound
from bot.events import CommandIssued
from bot.model import ChatRef

from .harness import Inbox

BOT = "@binbot:localhost"
JAN = "@jan:localhost"
ROOM = "!room:localhost"


class KeylessClient:
    """What Inbound uses of nio's client, with a megolm key that arrives when a test says so."""

    user_id = BOT
    device_id = "BOTDEVICE"
    olm = object()

    def __init__(self, room: MatrixRoom) -> None:
        self.rooms = {room.room_id: room}
        self.invited_rooms: dict[str, MatrixRoom] = {}
        self.own_requests: list[str] = []
        self.to_device_messages: list[Any] = []
        self.key_arrived: NioEvent | None = None

    async def request_room_key(self, event: MegolmEvent) -> None:
        self.own_requests.append(event.session_id)

    async def to_device(self, message: Any) -> None:
        self.to_device_messages.append(message)

    def decrypt_event(self, event: MegolmEvent) -> NioEvent:
        if self.key_arrived is None:
            raise EncryptionError("no session")
        return self.key_arrived


def encrypted(event_id: str) -> MegolmEvent:
    """An encrypted message from Jan in session S1."""
    event = NioEvent.parse_event(
        {
            "type": "m.room.encrypted",
            "event_id": event_id,
            "sender": JAN,
            "origin_server_ts": 1,
            "room_id": ROOM,
            "content": {
                "algorithm": "m.megolm.v1.aes-sha2",
                "ciphertext": "AwgAEn...",
                "device_id": "JANDEVICE",
                "sender_key": "senderkey",
                "session_id": "S1",
            },
        }
    )
    assert isinstance(event, MegolmEvent)
    return event


def sync_with(*events: NioEvent) -> Any:
    """A sync response carrying `events` in the room's timeline."""
    timeline = SimpleNamespace(events=list(events), limited=False)
    rooms = SimpleNamespace(invite={}, join={ROOM: SimpleNamespace(timeline=timeline)}, leave={})
    return SimpleNamespace(rooms=rooms, next_batch="s1")


async def test_undecryptable_events_ask_for_keys_once_and_arrive_later() -> None:
    room = MatrixRoom(ROOM, BOT)
    room.name = "BIN Noord"
    room.add_member(JAN, "Jan", None)
    client = KeylessClient(room)
    inbox = Inbox()

    async def leave(chat: ChatRef) -> None:
        raise AssertionError("nothing to leave")

    inbound = Inbound(client, inbox, DirectRooms(client), leave=leave)  # type: ignore[arg-type]

    await inbound.handle(sync_with(encrypted("$a"), encrypted("$b")), False)
    assert inbox.events == []
    assert client.own_requests == ["S1"], "one request per session"
    [to_jan] = client.to_device_messages
    assert to_jan.recipient == JAN and to_jan.content["body"]["session_id"] == "S1"

    client.key_arrived = NioEvent.parse_event(
        {
            "type": "m.room.message",
            "event_id": "$a",
            "sender": JAN,
            "origin_server_ts": 1,
            "content": {"msgtype": "m.text", "body": "!check A-7K2Q"},
        }
    )
    await inbound.handle(sync_with(), False)
    commands = inbox.of(CommandIssued)
    assert [(c.name, c.args) for c in commands] == [("check", "A-7K2Q"), ("check", "A-7K2Q")]
    await inbound.handle(sync_with(), False)
    assert len(inbox.of(CommandIssued)) == 2, "handed over once"
