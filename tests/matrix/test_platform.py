"""The real MatrixPlatform against a real Synapse: session, inbound events, and messages."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from adapters.matrix.platform import MatrixPlatform
from bot.events import (
    BotAddedToChat,
    BotRemovedFromChat,
    CommandIssued,
    MessagePosted,
    ReactionAdded,
)
from bot.model import Button, ChatRef, Outgoing, Platform, Rich, Span
from bot.ports import BotRemoved, PermanentError, RetryLater, TransientError
from config.settings import MatrixSettings

from .conftest import BotFactory, UserFactory, bot_settings
from .harness import Inbox, MatrixUser, MemoryStore, eventually
from .synapse import SynapseServer, free_port


def chat(room_id: str) -> ChatRef:
    """A group chat reference."""
    return ChatRef(Platform.MATRIX, room_id)


async def group_with_bot(jan: MatrixUser, bot: MatrixPlatform, inbox: Inbox, **kw: object) -> str:
    """Jan creates a room and invites the bot; returns once the bot has joined."""
    room = await jan.create_room(invite=(bot.user_id,), **kw)  # type: ignore[arg-type]
    await inbox.wait_for(BotAddedToChat, lambda e: e.chat.chat_id == room)
    return room


async def test_invite_is_accepted_and_commands_and_messages_arrive(
    make_bot: BotFactory, make_user: UserFactory
) -> None:
    bot, inbox = await make_bot()
    jan = await make_user("jan")
    room = await jan.create_room(invite=(bot.user_id,))
    added = await inbox.wait_for(BotAddedToChat)
    assert added.chat.chat_id == room and not added.chat.is_private
    assert added.chat.title == "BIN Noord"
    assert added.by is not None and added.by.user_id == jan.user_id
    assert await jan.membership(room, bot.user_id) == "join"

    await jan.say(room, "!help")
    await jan.say(room, "!Join noord")
    first = await jan.say(room, "Verdachte wagen in de Kerkstraat")
    await jan.say(room, "ik heb 101 gebeld", reply_to=first)
    await jan.react(room, first, "👀")

    help_ = await inbox.wait_for(CommandIssued, lambda e: e.name == "help")
    assert help_.sender.user_id == jan.user_id and help_.sender.display_name == "Jan"
    join = await inbox.wait_for(CommandIssued, lambda e: e.name == "join")
    assert join.args == "noord"
    posted = await inbox.wait_for(MessagePosted, lambda e: e.reply_to == first)
    assert posted.text == "ik heb 101 gebeld"
    reaction = await inbox.wait_for(ReactionAdded)
    assert (reaction.message_id, reaction.key) == (first, "👀")


async def test_login_once_then_restore_token_and_device_without_replaying(
    synapse: SynapseServer, make_bot: BotFactory, make_user: UserFactory, tmp_path: Path
) -> None:
    account = await synapse.create_user("bot")
    store = MemoryStore()
    bot, inbox = await make_bot(account=account, store=store, data_dir=tmp_path / "data")
    device = bot.device_id
    assert store.data[f"matrix:{account.user_id}:device_id"] == device
    assert f"matrix:{account.user_id}:access_token" in store.data
    token = store.data[f"matrix:{account.user_id}:access_token"]

    async def devices() -> list[str]:
        found = await synapse.arequest("GET", "/_matrix/client/v3/devices", token=token)
        return sorted(d["device_id"] for d in found["devices"])

    before = await devices()
    assert device in before
    jan = await make_user("jan")
    room = await group_with_bot(jan, bot, inbox)
    await jan.say(room, "!before")
    await inbox.wait_for(CommandIssued, lambda e: e.name == "before")
    await bot.stop()

    await jan.say(room, "!missed")
    # A wrong password proves the restart does not log in again.
    restarted = MatrixPlatform(
        bot_settings(synapse, account.user_id, "wrong password"),
        store,
        tmp_path / "data",
        sync_timeout_ms=5000,
    )
    inbox2 = Inbox()
    await restarted.start(inbox2)
    try:
        assert restarted.device_id == device
        missed = await inbox2.wait_for(CommandIssued)
        assert missed.name == "missed"
        await jan.say(room, "!after")
        await inbox2.wait_for(CommandIssued, lambda e: e.name == "after")
        names = [e.name for e in inbox2.of(CommandIssued)]
        assert names == ["missed", "after"], "nothing replayed, nothing missed"
        assert not inbox2.of(BotAddedToChat)
        assert await devices() == before, "no new login, no new device"
    finally:
        await restarted.stop()


async def test_first_start_hands_over_invites_but_not_history(
    synapse: SynapseServer, make_bot: BotFactory, make_user: UserFactory
) -> None:
    account = await synapse.create_user("bot")
    jan = await make_user("jan")
    old = await jan.create_room("Oud", invite=(account.user_id,))
    as_bot = MatrixUser(synapse, account)
    await as_bot.join(old)
    await as_bot.close()
    await jan.say(old, "!old")
    pending = await jan.create_room("Nieuw", invite=(account.user_id,))

    _bot, inbox = await make_bot(account=account)
    added = await inbox.wait_for(BotAddedToChat)
    assert added.chat.chat_id == pending
    await jan.say(old, "!new")
    await inbox.wait_for(CommandIssued, lambda e: e.name == "new")
    assert [e.name for e in inbox.of(CommandIssued)] == ["new"]


async def test_send_escapes_html_and_follows_silent(
    make_bot: BotFactory, make_user: UserFactory
) -> None:
    bot, inbox = await make_bot()
    jan = await make_user("jan")
    room = await group_with_bot(jan, bot, inbox)
    body = Rich((Span("OFFICIEEL ", bold=True), Span("Politie: <b>x</b> & 101")))
    loud = await bot.send(chat(room), Outgoing(body))
    buttons = ((Button("Seen", "seen"), Button("I called 101", "called")),)
    quiet = await bot.send(chat(room), Outgoing(Rich.of("Herinnering"), buttons, silent=True))

    seen = {m["event_id"]: m["content"] for m in await jan.messages(room)}
    assert seen[loud.message_id] == {
        "msgtype": "m.text",
        "body": "OFFICIEEL Politie: <b>x</b> & 101",
        "format": "org.matrix.custom.html",
        "formatted_body": "<strong>OFFICIEEL </strong>Politie: &lt;b&gt;x&lt;/b&gt; &amp; 101",
    }
    assert seen[quiet.message_id]["msgtype"] == "m.notice"
    assert seen[quiet.message_id]["body"] == "Herinnering\n\n[Seen] · [I called 101]"


async def test_reply_edit_pin_and_redact(make_bot: BotFactory, make_user: UserFactory) -> None:
    bot, inbox = await make_bot()
    jan = await make_user("jan")
    room = await group_with_bot(jan, bot, inbox, power={})
    await jan.set_power(room, bot.user_id, 50)
    alert = await bot.send(chat(room), Outgoing(Rich.of("Inbraak in de Kerkstraat")))
    update = await bot.send(chat(room), Outgoing(Rich.of("Update"), reply_to=alert.message_id))
    await bot.edit(alert, Outgoing(Rich.of("Inbraak in de Kerkstraat (opgelost)")))
    await bot.pin(alert)
    await bot.pin(alert)
    await bot.delete(update)

    assert await jan.state(room, "m.room.pinned_events") == {"pinned": [alert.message_id]}
    events = {m["event_id"]: m for m in await jan.messages(room)}
    assert events[alert.message_id]["content"]["body"] == "Inbraak in de Kerkstraat"
    edits = [m for m in events.values() if "m.new_content" in m["content"]]
    assert len(edits) == 1
    assert edits[0]["content"]["m.relates_to"] == {
        "rel_type": "m.replace",
        "event_id": alert.message_id,
    }
    assert edits[0]["content"]["m.new_content"]["body"] == "Inbraak in de Kerkstraat (opgelost)"
    assert update.message_id not in events or not events[update.message_id]["content"]
    redacted = [e for e in await jan.timeline(room) if e["event_id"] == update.message_id]
    assert redacted and redacted[0]["content"] == {}


async def test_same_txn_id_posts_once(make_bot: BotFactory, make_user: UserFactory) -> None:
    bot, inbox = await make_bot()
    jan = await make_user("jan")
    room = await group_with_bot(jan, bot, inbox)
    message = Outgoing(Rich.of("Officieel bericht A-7K2Q"))
    first = await bot.send(chat(room), message, txn_id="delivery-17")
    again = await bot.send(chat(room), message, txn_id="delivery-17")
    assert first.message_id == again.message_id
    bodies = [m["content"]["body"] for m in await jan.messages(room)]
    assert bodies.count("Officieel bericht A-7K2Q") == 1


async def test_rate_limit_is_retry_later(
    synapse: SynapseServer, make_bot: BotFactory, make_user: UserFactory
) -> None:
    account = await synapse.create_user("slowbot")
    await synapse.aset_ratelimit(account.user_id, 1, 2)
    bot, inbox = await make_bot(account=account)
    jan = await make_user("jan")
    room = await group_with_bot(jan, bot, inbox)
    with pytest.raises(RetryLater) as raised:
        for n in range(10):
            await bot.send(chat(room), Outgoing(Rich.of(f"bericht {n}")))
    assert 0 < raised.value.retry_after <= 10


async def test_kicked_bot_is_removed(make_bot: BotFactory, make_user: UserFactory) -> None:
    bot, inbox = await make_bot()
    jan = await make_user("jan")
    room = await group_with_bot(jan, bot, inbox)
    await jan.kick(room, bot.user_id)
    removed = await inbox.wait_for(BotRemovedFromChat)
    assert removed.chat.chat_id == room
    with pytest.raises(BotRemoved):
        await bot.send(chat(room), Outgoing(Rich.of("nog iemand?")))


async def test_too_long_is_refused_before_sending(
    make_bot: BotFactory, make_user: UserFactory
) -> None:
    bot, inbox = await make_bot()
    jan = await make_user("jan")
    room = await group_with_bot(jan, bot, inbox)
    with pytest.raises(PermanentError) as raised:
        await bot.send(chat(room), Outgoing(Rich.of("é" * 40_000)))
    assert raised.value.reason == "message_too_long"
    caps = bot.capabilities  # the longest accented text the core may send
    size = max(n for n in range(2000, 8000, 10) if caps.fits(Outgoing(Rich.of("é" * n))))
    longest = "é" * size
    await bot.send(chat(room), Outgoing(Rich.of(longest)))


async def test_homeserver_away_is_transient_and_sync_recovers(
    make_bot: BotFactory, make_user: UserFactory
) -> None:
    bot, inbox = await make_bot()
    jan = await make_user("jan")
    room = await group_with_bot(jan, bot, inbox)
    real = bot.client.homeserver
    bot.client.homeserver = f"http://127.0.0.1:{free_port()}"
    try:
        with pytest.raises(TransientError):
            await bot.send(chat(room), Outgoing(Rich.of("hallo")))
        await asyncio.sleep(0.5)
    finally:
        bot.client.homeserver = real
    await jan.say(room, "!back")
    await inbox.wait_for(CommandIssued, lambda e: e.name == "back", within=20)


async def test_unreachable_homeserver_fails_start(tmp_path: Path) -> None:
    settings = MatrixSettings(
        homeserver=f"http://127.0.0.1:{free_port()}",
        user_id="@bot:localhost",
        password="x",
        max_retries=0,
    )
    platform = MatrixPlatform(settings, MemoryStore(), tmp_path)
    with pytest.raises(TransientError):
        await platform.start(Inbox())


async def test_unlinked_group_is_left(make_bot: BotFactory, make_user: UserFactory) -> None:
    linked: set[str] = set()

    async def is_linked(room_id: str) -> bool:
        return room_id in linked

    bot, inbox = await make_bot(is_linked=is_linked, leave_unlinked_after=0.5)
    jan = await make_user("jan")
    kept = await jan.create_room("Gekoppeld", invite=(bot.user_id,))
    linked.add(kept)
    await inbox.wait_for(BotAddedToChat, lambda e: e.chat.chat_id == kept)
    dropped = await group_with_bot(jan, bot, inbox)

    async def left() -> bool:
        return await jan.membership(dropped, bot.user_id) == "leave"

    await eventually(left)
    assert await jan.membership(kept, bot.user_id) == "join"


async def test_set_commands_is_a_no_op(make_bot: BotFactory) -> None:
    bot, _ = await make_bot()
    assert await bot.set_commands({"nl": [("help", "hulp")]}) is None


async def test_refused_stored_token_logs_in_again(
    synapse: SynapseServer, make_bot: BotFactory
) -> None:
    account = await synapse.create_user("bot")
    store = MemoryStore()
    store.data[f"matrix:{account.user_id}:access_token"] = "syt_revoked"
    bot, _ = await make_bot(account=account, store=store)
    assert store.data[f"matrix:{account.user_id}:access_token"] != "syt_revoked"
    assert bot.device_id


async def test_configured_access_token_needs_no_password(
    synapse: SynapseServer, tmp_path: Path, make_user: UserFactory
) -> None:
    account = await synapse.create_user("bot")
    settings = MatrixSettings(
        homeserver=synapse.base_url, user_id=account.user_id, access_token=account.access_token
    )
    bot = MatrixPlatform(settings, MemoryStore(), tmp_path, sync_timeout_ms=5000)
    inbox = Inbox()
    await bot.start(inbox)
    try:
        assert bot.device_id == account.device_id
        jan = await make_user("jan")
        await group_with_bot(jan, bot, inbox)
    finally:
        await bot.stop()
