"""Encrypted rooms on a real Synapse: a resident's own client (matrix-nio with its own keys)
reads what the bot posts, and the bot reads the resident's commands, also after a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adapters.matrix.platform import MatrixPlatform
from bot.events import BotAddedToChat, CommandIssued
from bot.model import ChatRef, Outgoing, Platform, Rich, Span

from .conftest import BotFactory, UserFactory, bot_settings
from .harness import Inbox, MatrixUser, MemoryStore, eventually
from .synapse import SynapseServer


async def readable(user: MatrixUser, room_id: str, event_id: str) -> dict[str, Any] | None:
    """The decrypted content of one event as the user's client sees it, once it can."""
    await user.sync_once()
    for event in await user.timeline(room_id):
        if event.get("event_id") == event_id and event.get("type") == "m.room.message":
            return dict(event["content"])
    return None


async def test_encrypted_room_both_ways_and_after_restart(
    synapse: SynapseServer, make_bot: BotFactory, make_user: UserFactory, tmp_path: Path
) -> None:
    account = await synapse.create_user("bot")
    store = MemoryStore()
    bot, inbox = await make_bot(account=account, store=store, data_dir=tmp_path / "data")
    identity = bot.client.olm.account.identity_keys if bot.client.olm else None
    assert identity, "the bot runs with encryption"
    jan = await make_user("jan", encryption=True)
    await jan.start_sync()
    room = await jan.create_room(invite=(bot.user_id,), encrypted=True)
    await inbox.wait_for(BotAddedToChat)

    official = Rich((Span("DRINGEND · Politie", bold=True), Span("\nInbraak <Kerkstraat>")))
    sent = await bot.send(ChatRef(Platform.MATRIX, room), Outgoing(official))
    content = await eventually(lambda: readable(jan, room, sent.message_id))
    assert content["body"] == "DRINGEND · Politie\nInbraak <Kerkstraat>"
    assert "&lt;Kerkstraat&gt;" in content["formatted_body"]
    raw = await synapse.arequest(
        "GET",
        f"/_matrix/client/v3/rooms/{room}/event/{sent.message_id}",
        token=jan.account.access_token,
    )
    assert raw["type"] == "m.room.encrypted", "the homeserver never sees the text"

    await jan.say(room, "!check A-7K2Q")
    command = await inbox.wait_for(CommandIssued)
    assert (command.name, command.args) == ("check", "A-7K2Q")
    await bot.stop()

    restarted = MatrixPlatform(
        bot_settings(synapse, account.user_id, account.password), store, tmp_path / "data"
    )
    inbox2 = Inbox()
    await restarted.start(inbox2)
    try:
        assert restarted.client.olm is not None
        assert restarted.client.olm.account.identity_keys == identity, "keys kept"
        await jan.say(room, "!status A-7K2Q")
        again = await inbox2.wait_for(CommandIssued)
        assert again.name == "status"
        # The longest message the core may send fits, encrypted, under Synapse's event cap.
        caps = restarted.capabilities  # the longest accented text the core may send
        size = max(n for n in range(2000, 8000, 10) if caps.fits(Outgoing(Rich.of("é" * n))))
        longest = "é" * size
        reply = await restarted.send(ChatRef(Platform.MATRIX, room), Outgoing(Rich.of(longest)))
        content = await eventually(lambda: readable(jan, room, reply.message_id))
        assert content["body"] == longest
    finally:
        await restarted.stop()


async def test_encrypted_direct_room_is_readable_by_the_invited_person(
    make_bot: BotFactory, make_user: UserFactory
) -> None:
    bot, _ = await make_bot()
    jan = await make_user("jan", encryption=True)
    await jan.start_sync()
    sent = await bot.send_direct(jan.user_id, Outgoing(Rich.of("Uw code werd aanvaard")))
    room = sent.chat.chat_id
    await jan.join(room)
    content = await eventually(lambda: readable(jan, room, sent.message_id))
    assert content["body"] == "Uw code werd aanvaard"
