"""Scenarios through the real stack, read the way residents read them.

A person's own matrix-nio client -> Synapse (the session's, on loopback) -> the bot's
matrix-nio -> MatrixPlatform -> Core on a SQLite file, with the DeliveryWorker running
(tests/scenarios/matrix_stack.py wires it as bot/app.py does). Everything asserted is read
back from the homeserver by the people's clients: room state, `/messages`, redactions.

The outage scenario stops its homeserver, so it runs on a Synapse of its own (three seconds
to start) and leaves the session's homeserver, which the other tests share, alone.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import select, update

from storage.tables import Delivery, Group
from tests.matrix.conftest import UserFactory
from tests.matrix.harness import MatrixUser, eventually
from tests.matrix.synapse import SynapseServer, start_synapse, synapse_missing

from .matrix_stack import (
    MatrixStack,
    accept_invite,
    body,
    direct_room,
    from_bot,
    group_room,
    latest,
    running,
    says,
    sees,
    wait_until,
)

REF = re.compile(r"\b[A-Z]-[0-9A-Z]{4}\b")
OFFICIAL = "OFFICIEEL BIN-BERICHT"
T = TypeVar("T")


# -- the world, set up the way people set it up ----------------------------------------------


async def zone_with_bins(stack: MatrixStack, *codes: str) -> None:
    """Zone Beringen (Dutch, no quiet hours, so notices go out at once) and its BINs."""
    await stack.admin('zone add Beringen --non-urgent "011 27 95 79" --quiet 00:00-00:00')
    for code in codes:
        await stack.admin(f"bin add {code.capitalize()} --zone Beringen --code {code}")


async def redeemed(
    stack: MatrixStack, make_user: UserFactory, name: str, invite: str, *, encrypted: bool = False
) -> tuple[MatrixUser, str]:
    """`name` opens a direct chat with the bot and redeems an invite there: (person, chat)."""
    code = await stack.invite_code(f"invite {invite}")
    person = await make_user(name, encryption=encrypted)
    if encrypted:
        await person.start_sync()
    dm = await direct_room(person, stack, encrypted=encrypted)
    assert "Gelukt: je bent nu" in await says(person, dm, stack, f"!redeem {code}", "Gelukt")
    return person, dm


async def linked_room(
    stack: MatrixStack,
    coordinator: MatrixUser,
    dm: str,
    title: str,
    code: str,
    *,
    encrypted: bool = False,
) -> str:
    """The coordinator invites the bot into a new room and links it with `!link CODE`."""
    room = await group_room(coordinator, stack, title, encrypted=encrypted)
    await coordinator.say(room, f"!link {code}")
    await sees(coordinator, dm, stack, f"De groep {title} hoort nu bij BIN")
    return room


async def linked_rooms(
    stack: MatrixStack, coordinator: MatrixUser, dm: str, titles: list[str], code: str
) -> list[str]:
    """Several rooms linked at once, as a coordinator with many streets would."""
    return list(
        await asyncio.gather(*(linked_room(stack, coordinator, dm, t, code) for t in titles))
    )


async def compose(
    officer: MatrixUser, dm: str, stack: MatrixStack, targets: str, text: str
) -> str:
    """Walk `!alert` typing every choice (Matrix has no buttons); returns the reference."""
    assert "Antwoord met hun nummers" in await says(officer, dm, stack, "!alert", "nummers")
    assert "Stap 2 van 4" in await says(officer, dm, stack, targets, "Stap 2 van 4")
    assert "Stap 3 van 4" in await says(officer, dm, stack, "2", "Stap 3 van 4")
    confirm = await says(officer, dm, stack, text, "Versturen?")
    assert "Antwoord ja om te versturen" in confirm
    receipt = await says(officer, dm, stack, "ja", "Ontvangstbewijs")
    found = REF.search(receipt)
    assert found, receipt
    return found.group(0)


async def officials_in(
    person: MatrixUser, room: str, stack: MatrixStack, ref: str
) -> list[dict[str, object]]:
    """The official messages with `ref` the person can read in a room."""
    return [
        e
        for e in await from_bot(person, room, stack)
        if OFFICIAL in body(e) and f"Ref. {ref}" in body(e)
    ]


async def rows(stack: MatrixStack, table: type[T]) -> list[T]:
    """Every row of a table, as the bot stored it."""
    async with stack.core.db.session() as session:
        q = select(table).order_by(table.id)  # type: ignore[attr-defined]
        return list((await session.execute(q)).scalars())


async def contains(text: Awaitable[str], needle: str) -> bool:
    """Whether the awaited text contains `needle` (a probe for `wait_until`)."""
    return needle in await text


async def at_least(count: Awaitable[int], n: int) -> bool:
    """Whether the awaited count has reached `n` (a probe)."""
    return await count >= n


# -- scenarios -------------------------------------------------------------------------------


async def test_link_a_room_then_a_knock_is_approved_and_welcomed(
    stack: MatrixStack, make_user: UserFactory
) -> None:
    await zone_with_bins(stack, "noord")
    an, an_dm = await redeemed(stack, make_user, "an", "coordinator --bin noord")

    room = await group_room(an, stack, "Kerkstraat")
    greeting = await sees(an, room, stack, "!link")
    assert greeting["content"]["msgtype"] == "m.text"
    assert await an.state(room, "m.room.join_rules") == {"join_rule": "invite"}
    await an.say(room, "!link noord")
    told = await sees(an, an_dm, stack, "De groep Kerkstraat hoort nu bij BIN Noord")
    assert "Ik mis nog rechten" not in body(told), "at power 50 the bot has every right"
    assert await an.state(room, "m.room.join_rules") == {"join_rule": "knock"}
    [rules_id] = (await an.state(room, "m.room.pinned_events") or {})["pinned"]
    [rules] = [e for e in await from_bot(an, room, stack) if e["event_id"] == rules_id]
    assert "101" in body(rules) and "112" in body(rules)

    jan = await make_user("jan")
    await jan.knock(room)
    jan_dm = await accept_invite(jan)  # the bot opens a direct chat to ask its question
    question = await sees(jan, jan_dm, stack, "In welke straat woon je?")
    assert "BIN Noord" in body(question)
    await says(jan, jan_dm, stack, "Kerkstraat 12", "ligt nu bij de coördinatoren")

    request = body(await sees(an, an_dm, stack, "Nieuwe aanvraag #1 voor BIN Noord"))
    assert "Jan wil lid worden" in request and "Kerkstraat 12" in request
    assert "!approve 1" in request and "[Goedkeuren]" not in request
    assert await an.membership(room, jan.user_id) == "knock"
    assert "goedgekeurd" in await says(an, an_dm, stack, "!approve 1", "aanvraag #1")

    assert await an.membership(room, jan.user_id) == "invite"
    await jan.join(room)
    welcome = body(await sees(jan, jan_dm, stack, "Welkom in BIN Noord!"))
    assert "101" in welcome and "!leave" in welcome
    assert await an.membership(room, jan.user_id) == "join"


async def test_official_message_to_ten_rooms_once_then_update_and_withdraw(
    stack: MatrixStack, make_user: UserFactory
) -> None:
    await zone_with_bins(stack, "noord", "zuid")
    an, an_dm = await redeemed(stack, make_user, "an", "coordinator --bin noord")
    bert, bert_dm = await redeemed(stack, make_user, "bert", "coordinator --bin zuid")
    eva, eva_dm = await redeemed(stack, make_user, "eva", "prevention --zone Beringen")
    noord, zuid = await asyncio.gather(
        linked_rooms(stack, an, an_dm, [f"Noord {n}" for n in range(6)], "noord"),
        linked_rooms(stack, bert, bert_dm, [f"Zuid {n}" for n in range(4)], "zuid"),
    )
    rooms = {**dict.fromkeys(noord, an), **dict.fromkeys(zuid, bert)}

    text = "Infoavond over inbraakpreventie: dinsdag 20u in het gemeentehuis."
    ref = await compose(eva, eva_dm, stack, "alle", text)

    originals: dict[str, str] = {}
    for room, reader in rooms.items():
        await wait_until(lambda r=room, p=reader: officials_in(p, r, stack, ref))
    for room, reader in rooms.items():
        [official] = await officials_in(reader, room, stack, ref)  # once, in every room
        content = official["content"]
        assert isinstance(content, dict)
        assert content["msgtype"] == "m.notice", "a non-urgent notice does not ring"
        assert "niet dringend" in content["body"] and text in content["body"]
        assert f"!seen {ref}" in content["body"]
        assert "<strong>" in content["formatted_body"]
        originals[room] = str(official["event_id"])

    receipt_id = str((await sees(eva, eva_dm, stack, "Ontvangstbewijs"))["event_id"])
    await wait_until(lambda: contains(latest(eva, eva_dm, receipt_id), "Bezorgd: 10 van 10"))

    some_room = next(iter(rooms))
    await rooms[some_room].react(some_room, originals[some_room], "👀")
    await wait_until(
        lambda: contains(says(eva, eva_dm, stack, f"!status {ref}", "Gezien"), "Gezien: 1")
    )

    await says(eva, eva_dm, stack, f"!update {ref} De zaal is gewijzigd: zaal 2.", "Update van")
    for room, reader in rooms.items():
        update_event = await sees(reader, room, stack, "De zaal is gewijzigd")
        relates = update_event["content"]["m.relates_to"]
        assert relates == {"m.in_reply_to": {"event_id": originals[room]}}
        assert body(update_event).startswith(f"🔄 UPDATE · {ref}")

    await says(eva, eva_dm, stack, f"!withdraw {ref}", "is ingetrokken")
    for room, reader in rooms.items():
        notice = await sees(reader, room, stack, f"INGETROKKEN · {ref}")
        assert notice["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == originals[room]

        async def redacted(r: str = room, p: MatrixUser = reader) -> bool:
            event = [e for e in await p.timeline(r) if e["event_id"] == originals[r]]
            return bool(event) and not event[0]["content"]

        await wait_until(redacted)
        assert await officials_in(reader, room, stack, ref) == []
    assert {d.status for d in await rows(stack, Delivery)} == {"sent"}
    assert len(await rows(stack, Delivery)) == 30  # message, update, withdrawal x 10 rooms


async def test_nudge_then_the_room_learns_101_was_called(
    stack: MatrixStack, make_user: UserFactory
) -> None:
    await zone_with_bins(stack, "noord")
    an, an_dm = await redeemed(stack, make_user, "an", "coordinator --bin noord")
    room = await linked_room(stack, an, an_dm, "Kerkstraat", "noord")
    jan = await make_user("jan")
    await an.invite(room, jan.user_id)
    await jan.join(room)

    report = await jan.say(room, "Er staat een verdachte wagen in de straat")
    nudge = await sees(jan, room, stack, "Heb je eerst de politie gebeld?")
    assert nudge["content"]["m.relates_to"] == {"m.in_reply_to": {"event_id": report}}
    assert "!called" in body(nudge) and "101" in body(nudge)

    called = await says(jan, room, stack, "!called", "heeft de politie gebeld")
    assert called.startswith("✅ Jan heeft de politie gebeld (101).")
    await jan.say(room, "Nog een verdachte wagen gezien!")
    await says(jan, room, stack, "!numbers", "101")  # the bot has read everything before
    said = [e for e in await jan.messages(room) if e["sender"] == stack.bot_id]
    assert sum("Heb je eerst de politie gebeld?" in body(e) for e in said) == 1, "cooldown"
    edits = [e for e in said if "m.new_content" in e["content"]]
    assert edits == [], "no buttons to take away, so the nudge is not edited"


async def test_kicked_bot_makes_the_link_inactive_and_tells_the_coordinator(
    stack: MatrixStack, make_user: UserFactory
) -> None:
    await zone_with_bins(stack, "noord")
    an, an_dm = await redeemed(stack, make_user, "an", "coordinator --bin noord")
    kept = await linked_room(stack, an, an_dm, "Kerkstraat", "noord")
    dropped = await linked_room(stack, an, an_dm, "Dorpsplein", "noord")

    await an.kick(dropped, stack.bot_id)
    told = body(await sees(an, an_dm, stack, "Ik ben verwijderd uit de groep Dorpsplein"))
    assert "BIN Noord" in told and "!link" in told
    groups = {g.chat_id: g for g in await rows(stack, Group)}
    assert (groups[dropped].active, groups[dropped].inactive_reason) == (False, "bot_removed")
    assert groups[kept].active


async def test_a_room_nobody_links_is_left_again(
    synapse: SynapseServer, make_user: UserFactory, tmp_path: Path
) -> None:
    options = {"matrix": {"leave_unlinked_after": 1.0}}
    async with running(synapse, tmp_path / "bot", **options) as stack:
        await zone_with_bins(stack, "noord")
        an, an_dm = await redeemed(stack, make_user, "an", "coordinator --bin noord")
        kept = await linked_room(stack, an, an_dm, "Kerkstraat", "noord")
        forgotten = await group_room(an, stack, "Verjaardag")

        async def left() -> bool:
            return await an.membership(forgotten, stack.bot_id) == "leave"

        await wait_until(left, within=10)
        assert await an.membership(kept, stack.bot_id) == "join"
        assert await an.membership(an_dm, stack.bot_id) == "join", "direct chats stay"


async def test_official_message_in_an_encrypted_room_is_readable_by_a_member(
    synapse: SynapseServer, make_user: UserFactory, tmp_path: Path
) -> None:
    async with running(synapse, tmp_path / "bot", encryption=True, seed=11) as stack:
        await zone_with_bins(stack, "noord")
        an, an_dm = await redeemed(
            stack, make_user, "an", "coordinator --bin noord", encrypted=True
        )
        jan, jan_dm = await redeemed(
            stack, make_user, "jan", "police --zone Beringen", encrypted=True
        )
        room = await linked_room(stack, an, an_dm, "Kerkstraat", "noord", encrypted=True)
        lies = await make_user("lies", encryption=True)
        await lies.start_sync()
        await an.invite(room, lies.user_id)
        await lies.join(room)

        text = "Grijze bestelwagen rijdt traag door de Kerkstraat; nummerplaat begint met 1-ABC."
        ref = await compose(jan, jan_dm, stack, "1", text)
        official = await sees(lies, room, stack, f"Ref. {ref}", within=30)
        assert official.get("decrypted"), "Lies's client decrypted it"
        assert official["content"]["msgtype"] == "m.text", "an urgent message rings"
        assert "DRINGEND" in body(official) and text in body(official)
        raw = await synapse.arequest(
            "GET",
            f"/_matrix/client/v3/rooms/{room}/event/{official['event_id']}",
            token=lies.account.access_token,
        )
        assert raw["type"] == "m.room.encrypted", "the homeserver never saw the text"


async def test_homeserver_stopped_mid_fan_out_delivers_everything_once(tmp_path: Path) -> None:
    reason = synapse_missing()
    if reason:
        pytest.skip(reason)
    # A homeserver of its own: stopping the session's one would disturb the other tests.
    server = await asyncio.to_thread(start_synapse, tmp_path / "synapse")
    people: list[MatrixUser] = []

    async def person(name: str) -> MatrixUser:
        made = MatrixUser(server, await server.create_user(name, displayname=name.capitalize()))
        people.append(made)
        return made

    # One request at a time, so that the fan-out is still under way when the server goes.
    options = {"matrix": {"concurrency": 1}, "delivery": {"concurrency": 4}}
    try:
        async with running(server, tmp_path / "bot", seed=3, **options) as stack:
            await _fan_out_through_an_outage(stack, person)
    finally:
        for made in people:
            await made.close()
        await server.astop()


async def _fan_out_through_an_outage(
    stack: MatrixStack, person: Callable[[str], Awaitable[MatrixUser]]
) -> None:
    await zone_with_bins(stack, "noord")
    an, jan = await person("an"), await person("jan")
    an_dm, jan_dm = await direct_room(an, stack), await direct_room(jan, stack)
    code = await stack.invite_code("invite coordinator --bin noord")
    await says(an, an_dm, stack, f"!redeem {code}", "Gelukt")
    code = await stack.invite_code("invite police --zone Beringen")
    await says(jan, jan_dm, stack, f"!redeem {code}", "Gelukt")
    rooms = await linked_rooms(stack, an, an_dm, [f"Straat {n}" for n in range(12)], "noord")

    await says(jan, jan_dm, stack, "!alert", "nummers")
    await says(jan, jan_dm, stack, "1", "Stap 2 van 4")
    await says(jan, jan_dm, stack, "3", "Stap 3 van 4")
    await says(jan, jan_dm, stack, "Inbraak in de Kerkstraat, daders te voet.", "Versturen?")

    async def sent() -> int:
        return sum(d.status == "sent" for d in await rows(stack, Delivery))

    await jan.say(jan_dm, "ja")
    await eventually(lambda: at_least(sent(), 3), within=20, interval=0.02)
    await stack.server.astop()  # mid fan-out
    during = await sent()
    await asyncio.sleep(1.5)
    await stack.server.astart_again()

    async def all_sent() -> bool:
        return await sent() == len(rooms)

    await wait_until(all_sent, within=45)
    assert during < len(rooms), "the homeserver went away while rooms were left"
    deliveries = await rows(stack, Delivery)
    assert any(d.attempts > 1 for d in deliveries), "some sends were retried"
    receipt = await sees(jan, jan_dm, stack, "Ontvangstbewijs")
    ref = REF.search(body(receipt))
    assert ref
    for room in rooms:
        assert len(await officials_in(an, room, stack, ref.group(0))) == 1, room
    receipt_id = str(receipt["event_id"])
    await wait_until(lambda: contains(latest(jan, jan_dm, receipt_id), "Bezorgd: 12 van 12"))

    # The crash window: the bot sent, then died before it recorded `sent`. Once the claim's
    # lease has run out the rows are sent again, with the same transaction ids.
    ids = [d.id for d in deliveries[:3]]
    async with stack.core.db.session() as session:
        await session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids))
            .values(
                status="sending",
                claimed_by="crashed",
                claimed_at=datetime.now(UTC) - timedelta(hours=1),
            )
        )
    stack.worker.wake()

    async def resent() -> bool:
        again = [d for d in await rows(stack, Delivery) if d.id in ids]
        return all(d.status == "sent" and d.claimed_by != "crashed" for d in again)

    await wait_until(resent)
    after = {d.id: d.platform_message_id for d in await rows(stack, Delivery)}
    assert all(after[d.id] == d.platform_message_id for d in deliveries), "the same events"
    for room in rooms:
        assert len(await officials_in(an, room, stack, ref.group(0))) == 1, room
