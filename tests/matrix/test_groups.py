"""Approval-only groups on a real Synapse: knocks, approvals, removals, rights, direct rooms."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.matrix import rights
from bot.events import BotAddedToChat, JoinRequested, MemberLeft
from bot.model import ChatRef, MessageRef, Outgoing, Platform, Rich
from bot.ports import MissingRights

from .conftest import BotFactory, UserFactory
from .harness import eventually
from .synapse import SynapseServer


def chat(room_id: str) -> ChatRef:
    """A group chat reference."""
    return ChatRef(Platform.MATRIX, room_id)


async def test_knock_approve_decline_and_remove(
    make_bot: BotFactory, make_user: UserFactory
) -> None:
    bot, inbox = await make_bot()
    jan, piet, kees = await make_user("jan"), await make_user("piet"), await make_user("kees")
    room = await jan.create_room(invite=(bot.user_id,), join_rule="knock", power={bot.user_id: 50})
    await inbox.wait_for(BotAddedToChat)

    await piet.knock(room)
    request = await inbox.wait_for(JoinRequested)
    assert request.chat.chat_id == room
    assert (request.user.user_id, request.user.display_name) == (piet.user_id, "Piet")
    await bot.approve_join(chat(room), piet.user_id)
    assert await jan.membership(room, piet.user_id) == "invite"
    await bot.approve_join(chat(room), piet.user_id)  # a second tap changes nothing

    await kees.knock(room)
    await inbox.wait_for(JoinRequested, lambda e: e.user.user_id == kees.user_id)
    await bot.decline_join(chat(room), kees.user_id)
    assert await jan.membership(room, kees.user_id) == "leave"
    await bot.decline_join(chat(room), kees.user_id)  # already declined: nothing to do

    await piet.join(room)
    await bot.remove_member(chat(room), piet.user_id)
    assert await jan.membership(room, piet.user_id) == "leave"
    left = await inbox.wait_for(MemberLeft)
    assert left.user.user_id == piet.user_id
    # Removed, not banned: Piet may ask again.
    await piet.knock(room)
    await inbox.wait_for(
        JoinRequested,
        lambda e: e.user.user_id == piet.user_id and len(inbox.of(JoinRequested)) > 2,
    )


async def test_secure_group_sets_knock_when_the_bot_has_power(
    make_bot: BotFactory, make_user: UserFactory
) -> None:
    bot, inbox = await make_bot()
    jan = await make_user("jan")
    room = await jan.create_room(invite=(bot.user_id,), power={bot.user_id: 50})
    await inbox.wait_for(BotAddedToChat)
    assert (await jan.state(room, "m.room.join_rules") or {}).get("join_rule") == "invite"

    setup = await bot.secure_group(chat(room))
    assert setup.rights.ok
    assert await jan.state(room, "m.room.join_rules") == {"join_rule": "knock"}
    assert setup.invite_link and room in setup.invite_link
    assert (await bot.check_rights(chat(room))).ok


async def test_secure_group_names_what_is_missing_without_power(
    make_bot: BotFactory, make_user: UserFactory
) -> None:
    bot, inbox = await make_bot()
    jan = await make_user("jan")
    room = await jan.create_room(invite=(bot.user_id,))
    await inbox.wait_for(BotAddedToChat)

    setup = await bot.secure_group(chat(room))
    assert setup.rights.missing == (
        rights.CHANGE_JOIN_RULES,
        rights.PIN,
        rights.REMOVE_MEMBERS,
        rights.DELETE_MESSAGES,
    )
    assert (await jan.state(room, "m.room.join_rules") or {}).get("join_rule") == "invite"
    assert (await bot.check_rights(chat(room))).missing == setup.rights.missing

    sent = await bot.send(chat(room), Outgoing(Rich.of("Groepsregels")))
    with pytest.raises(MissingRights) as raised:
        await bot.pin(sent)
    assert raised.value.rights == (rights.PIN,)
    with pytest.raises(MissingRights):
        await bot.remove_member(chat(room), jan.user_id)


async def test_send_direct_creates_one_room_and_reuses_it(
    make_bot: BotFactory, make_user: UserFactory
) -> None:
    bot, _ = await make_bot(encryption=False)
    jan = await make_user("jan")
    first = await bot.send_direct(jan.user_id, Outgoing(Rich.of("Nieuwe aanvraag voor BIN Noord")))
    second = await bot.send_direct(jan.user_id, Outgoing(Rich.of("Nog een aanvraag")))
    room = first.chat.chat_id
    assert second.chat.chat_id == room and first.chat.is_private

    await jan.join(room)
    bodies = [m["content"]["body"] for m in await jan.messages(room)]
    assert bodies == ["Nieuwe aanvraag voor BIN Noord", "Nog een aanvraag"]
    direct = await bot.client.list_direct_rooms()
    assert direct.rooms == {jan.user_id: [room]}  # type: ignore[union-attr]
    third = await bot.send_direct(jan.user_id, Outgoing(Rich.of("Derde")))
    assert third.chat.chat_id == room


async def test_send_direct_after_the_person_left_opens_a_new_room(
    make_bot: BotFactory, make_user: UserFactory
) -> None:
    bot, _ = await make_bot(encryption=False)
    jan = await make_user("jan")
    first = await bot.send_direct(jan.user_id, Outgoing(Rich.of("Welkom")))
    await jan.join(first.chat.chat_id)
    await jan.leave(first.chat.chat_id)

    async def gone() -> bool:
        room = bot.client.rooms.get(first.chat.chat_id)
        return room is not None and jan.user_id not in room.users

    await eventually(gone)
    second = await bot.send_direct(jan.user_id, Outgoing(Rich.of("Opnieuw welkom")))
    assert second.chat.chat_id != first.chat.chat_id
    assert isinstance(second, MessageRef)
    await jan.join(second.chat.chat_id)
    assert await jan.membership(second.chat.chat_id, bot.user_id) == "join"
    # The bot does not stay alone in the room Jan left.
    old = await bot.client.room_get_state_event(first.chat.chat_id, "m.room.member", bot.user_id)
    assert getattr(old, "content", {}).get("membership") == "leave"


async def test_two_processes_of_one_account_share_the_direct_room(
    synapse: SynapseServer, make_bot: BotFactory, make_user: UserFactory, tmp_path: Path
) -> None:
    account = await synapse.create_user("bot")
    syncing, _ = await make_bot(account=account, data_dir=tmp_path / "a", encryption=False)
    sender, _ = await make_bot(account=account, data_dir=tmp_path / "b", encryption=False)
    assert syncing.device_id != sender.device_id
    jan = await make_user("jan")
    first = await sender.send_direct(jan.user_id, Outgoing(Rich.of("Aanvraag 1")))
    await jan.join(first.chat.chat_id)

    async def synced() -> bool:
        room = syncing.client.rooms.get(first.chat.chat_id)
        return room is not None and jan.user_id in room.users

    await eventually(synced)
    second = await syncing.send_direct(jan.user_id, Outgoing(Rich.of("Aanvraag 2")))
    assert second.chat.chat_id == first.chat.chat_id
    direct = await syncing.client.list_direct_rooms()
    assert direct.rooms == {jan.user_id: [first.chat.chat_id]}  # type: ignore[union-attr]
