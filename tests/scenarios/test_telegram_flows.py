"""Whole flows on Telegram: the fake Bot API <- real python-telegram-bot <- TelegramPlatform
<- Core (SQLite file) and the delivery worker, long polling. Each scenario asserts what the
people would see in their Telegram chats."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from storage.alerts import SENT
from storage.tables import Delivery, Group
from tests.scenarios.telegram_stack import TelegramStack
from tests.telegram.botapi_flood import FloodLimits
from tests.telegram.botapi_state import MEMBER, FakeChat, FakeMessage, FakeUser

REF = re.compile(r"\b[A-Z]-[0-9A-Z]{4}\b")
OFFICIAL = "🚨 OFFICIEEL BIN-BERICHT · DRINGEND"
RECEIPT = "🧾 Ontvangstbewijs van je officieel bericht"


# The worker's share of Telegram's 30 messages a second: the people's own chats (the officer's
# receipt, a /status or /check right after a message went out) need the rest. Interactive
# answers are not paced, so one that meets a full second gets a 429 and is lost.
WORKER_RATE = {"rate_overall": 25}


@pytest.fixture
async def s(tmp_path: Path) -> AsyncIterator[TelegramStack]:
    """The whole bot on the fake Bot API at Telegram's flood limits, except that a private
    chat takes a burst of 20: people here answer at machine speed, not after a pause."""
    flood = FloodLimits(per_chat_burst=20)
    async with TelegramStack.running(tmp_path, flood=flood, telegram=WORKER_RATE) as stack:
        yield stack


class People:
    """Zone Beringen with BINs Noord and Zuid, their coordinators An and Bert, officer Jan."""

    def __init__(self, s: TelegramStack) -> None:
        self.s = s
        self.an = s.api.add_user("An", "Claes")
        self.bert = s.api.add_user("Bert", "Wouters")
        self.jan = s.api.add_user("Jan", "Peeters")

    async def setup(self) -> People:
        s = self.s
        await s.admin('zone add Beringen --non-urgent "011 27 95 79" --language nl')
        await s.admin("bin add Noord --zone Beringen --code noord")
        await s.admin("bin add Zuid --zone Beringen --code zuid")
        with s.flood_off():
            for person, invite in (
                (self.an, "coordinator --bin noord"),
                (self.bert, "coordinator --bin zuid"),
                (self.jan, "police --zone Beringen"),
            ):
                await s.say(person, "/start " + await s.invite(invite))
                s.new(person)
        return self

    async def group(self, title: str, code: str = "noord", *, supergroup: bool = True) -> FakeChat:
        """A group whose owner, the BIN's coordinator, adds the bot as admin and links it."""
        [chat] = await self.groups([title], code, supergroup=supergroup)
        return chat

    async def groups(
        self, titles: list[str], code: str = "noord", *, supergroup: bool = True
    ) -> list[FakeChat]:
        """Groups set up at machine speed, which no person could flood Telegram with."""
        s = self.s
        owner = self.an if code == "noord" else self.bert
        chats = []
        with s.flood_off():
            for title in titles:
                chat = s.api.add_group(
                    title, owner=owner, supergroup=supergroup, bot_status="left"
                )
                s.api.add_bot(chat, owner, admin=True)
                await s.settle()
                await s.say(owner, f"/link {code}", chat)
                s.new(chat)
                chats.append(chat)
            s.new(owner)
        return chats

    async def compose(self, text: str, targets: tuple[str, ...] = ("Noord",)) -> str:
        """Jan walks /alert with its buttons up to the confirmation; returns the preview."""
        s, jan = self.s, self.jan
        await s.say(jan, "/alert")
        for target in targets:
            await s.press(jan, target)
        await s.press(jan, "Klaar")
        await s.press(jan, "Verdacht voertuig")
        s.new(jan)
        await s.say(jan, text)
        [step4] = s.new(jan)  # one message: the step, the preview, and Confirm / Cancel on it
        head, _, preview = step4.partition("\n\n")
        assert head.startswith("Stap 4 van 4")
        return preview

    async def confirm(self, preview: str) -> str:
        """Jan taps Confirm; returns the message's reference (the one the preview showed)."""
        await self.s.press(self.jan, "Bevestigen")
        found = REF.search(preview)
        assert found, preview
        return found.group(0)

    async def alert(self, text: str, targets: tuple[str, ...] = ("Noord",)) -> str:
        """Jan writes an urgent message and sends it; returns its reference."""
        return await self.confirm(await self.compose(text, targets))


async def people(s: TelegramStack) -> People:
    return await People(s).setup()


def official(s: TelegramStack, chat: FakeChat) -> list[FakeMessage]:
    """The live official messages the bot posted in a group."""
    return [m for m in s.api.bot_messages(chat) if m.text.startswith(OFFICIAL)]


def receipt(s: TelegramStack, officer: FakeUser) -> FakeMessage:
    """The officer's receipt of their latest official message."""
    found = [m for m in s.api.bot_messages(s.chat(officer)) if m.text.startswith(RECEIPT)]
    assert found, s.texts(officer)
    return found[-1]


async def group_row(s: TelegramStack, title: str) -> Group:
    async with s.core.db.session() as session:
        rows = await session.execute(select(Group).where(Group.title == title))
        return rows.scalars().one()


# -- invites ---------------------------------------------------------------------------------


async def test_invites_are_redeemed_in_private_by_command_and_by_deep_link(
    s: TelegramStack,
) -> None:
    await s.admin('zone add Beringen --non-urgent "011 27 95 79" --language nl')
    await s.admin("bin add Noord --zone Beringen --code noord")
    jan, an, kim = s.api.add_user("Jan"), s.api.add_user("An"), s.api.add_user("Kim")

    police = await s.invite("police --zone Beringen")
    await s.say(jan, f"/redeem {police}")
    done, menu = s.new(jan)
    assert done == "Gelukt: je bent nu politie voor Beringen."
    assert "• /alert — een officieel bericht opstellen" in menu and "Jouw rollen: politie" in menu

    # t.me/binbot_test_bot?start=CODE opens the chat with "/start CODE" already sent.
    coordinator = await s.invite("coordinator --bin noord")
    await s.say(an, f"/start {coordinator}")
    done, menu = s.new(an)
    assert done == "Gelukt: je bent nu coördinator voor Noord."
    assert "• /link [BIN]" in menu and "• /alert" not in menu

    await s.say(kim, f"/start {coordinator}")  # the same link, forwarded: single use
    assert s.new(kim) == ["Deze code is niet geldig. Vraag je beheerder om een nieuwe."]
    await s.say(kim, "/alert")
    assert "Nieuw officieel bericht" not in s.last(kim)

    # The command menu, per language, is what anyone may do; no role's commands in it.
    names = [name for name, _ in s.api.menu("nl")]
    assert "numbers" in names and "check" in names and "alert" not in names
    assert s.api.menu("fr") and s.api.menu("") == s.api.menu("en")


# -- groups ----------------------------------------------------------------------------------


async def test_a_coordinator_adds_the_bot_makes_it_admin_and_links_the_group(
    s: TelegramStack,
) -> None:
    p = await people(s)
    an, kim = p.an, s.api.add_user("Kim")
    group = s.api.add_group("Kerkstraat", owner=an, members=[kim], bot_status="left")

    s.api.add_bot(group, an)  # as a plain member first
    await s.settle()
    [hello] = s.new(group)
    assert hello.startswith("Hallo! Ik ben de bot van het buurtinformatienetwerk (BIN).")
    assert "Bel eerst 101 (112 bij levensgevaar)" in hello

    await s.say(kim, "/link noord", group)  # a member is no coordinator
    assert "coördinator" in s.new(group)[-1]

    await s.say(an, "/link noord", group)  # not an administrator yet: rules, but no pin
    [rules] = s.new(group)
    assert rules.startswith("Groepsregels – BIN Noord (politiezone Beringen)")
    assert s.api.pinned(group) == [] and group.invite_links == []
    [told] = s.new(an)
    assert "hoort nu bij BIN Noord" in told and "Ik mis nog rechten" in told

    s.api.promote_bot(group, an)
    await s.settle()
    await s.say(an, "/link noord", group)  # linking again re-checks and finishes the job
    assert s.new(group) == []  # the rules are not posted twice: the ones there are pinned
    [pinned] = s.api.pinned(group)
    assert pinned.text == rules and pinned.pin_silent
    [link] = group.invite_links
    assert link["creates_join_request"] and link["name"] == "BIN"
    [told] = s.new(an)
    assert f"Deel deze link met nieuwe leden: {link['invite_link']}" in told
    assert "Ik mis nog rechten" not in told
    assert (await group_row(s, "Kerkstraat")).active


async def test_a_join_request_is_approved_with_a_button_and_the_resident_welcomed(
    s: TelegramStack,
) -> None:
    p = await people(s)
    an = p.an
    group = await p.group("Kerkstraat")
    lucia = s.api.add_user("Lucía", "Gómez", started=False)  # never wrote to the bot

    s.api.request_join(lucia, group)  # through the link that needs approval
    await s.settle()
    [question] = s.new(lucia)  # written through the join request's private-chat window
    assert "Vraag 1/1: In welke straat woon je?" in question
    assert s.new(an) == []  # the coordinators hear of it once the answers are in

    await s.say(lucia, "Kerkstraat 12")
    assert "ligt nu bij de coördinatoren van BIN Noord" in s.new(lucia)[-1]
    [request] = s.new(an)
    assert "Nieuwe aanvraag #1 voor BIN Noord: Lucía Gómez wil lid worden." in request
    assert "In welke straat woon je? Kerkstraat 12" in request
    asked, _ = s.button(an, "Goedkeuren")
    [[(approve, approve_data), (decline, decline_data)]] = asked.buttons
    assert (approve, decline) == ("Goedkeuren", "Weigeren")
    assert re.fullmatch(r"jr:approve:1:[0-9a-f]{8}", approve_data)
    assert decline_data == approve_data.replace("approve", "decline")
    assert s.api.member_status(group, lucia) == "left"

    query = await s.press(an, "Goedkeuren")
    assert s.api.answer_of(query) is not None  # the spinner on An's button stopped
    assert s.api.member_status(group, lucia) == MEMBER
    assert lucia.id not in group.join_requests
    [welcome] = s.new(lucia)
    assert welcome.startswith("Welkom in BIN Noord!") and "Groepsregels" in welcome
    assert "Eerst de politie bellen: 101" in welcome
    assert "aanvraag #1 van Lucía Gómez is goedgekeurd" in s.new(an)[-1]
    assert asked.edited and asked.buttons == []  # decided: the buttons are gone
    assert s.new(group) == []  # her answers and the decision stay out of the group


async def test_an_incident_post_is_nudged_towards_101_and_called_is_shared(
    s: TelegramStack,
) -> None:
    p = await people(s)
    group = await p.group("Kerkstraat")
    lies, tom = s.api.add_user("Lies"), s.api.add_user("Tom")
    with s.flood_off():
        s.api.member_joins(group, lies)
        s.api.member_joins(group, tom)
        await s.settle()
    s.new(group)

    posted = await s.say(lies, "Er staat een verdachte wagen in de straat", group)
    [text] = s.new(group)
    nudge = s.api.last_message(group)
    assert nudge.reply_to == posted.message_id  # a reply to Lies, in the group
    assert text.startswith("Dank je om de buurt te verwittigen.")
    assert "Eerst de politie bellen: 101 (112 bij levensgevaar)" in text
    assert [label for label, _ in nudge.buttons[0]] == ["Ik heb 101 gebeld"]

    await s.press(lies, "Ik heb 101 gebeld", group)
    [called] = s.new(group)
    assert called.startswith("✅ Lies heeft de politie gebeld (101).")
    assert nudge.edited and nudge.buttons == []  # nobody else needs to tap it

    await s.say(tom, "Nu ook een inbraak verderop?", group)  # within the cooldown: no nag
    assert s.new(group) == []


# -- official messages -----------------------------------------------------------------------


async def test_an_official_message_reaches_25_groups_in_two_bins_exactly_once(
    s: TelegramStack,
) -> None:
    p = await people(s)
    noord = await p.groups([f"Noord {i:02}" for i in range(15)], "noord")
    zuid = await p.groups([f"Zuid {i:02}" for i in range(10)], "zuid")
    lies, tom = s.api.add_user("Lies"), s.api.add_user("Tom")
    with s.flood_off():
        s.api.member_joins(noord[0], lies)
        s.api.member_joins(zuid[0], tom)
        await s.settle()

    text = "Grijze bestelwagen, Belgische nummerplaat, rijdt traag door de Kerkstraat."
    preview = await p.compose(text, targets=("Noord", "Zuid"))
    assert all(official(s, chat) == [] for chat in noord + zuid)  # nothing before confirming
    ref = await p.confirm(preview)
    await s.outbox_empty()

    for chat in noord + zuid:
        [message] = official(s, chat)
        assert message.text == preview  # exactly what Jan was shown
        assert f"Ref. {ref}" in message.text
        assert "Politiezone Beringen · Verdacht voertuig" in message.text
        assert message.buttons == [[("Gezien", message.buttons[0][0][1])]]
        assert not message.disable_notification  # urgent: it rings
        assert [m.text for m in s.api.bot_messages(chat)].count(message.text) == 1
    final = receipt(s, p.jan)
    assert final.edited  # one message, kept up to date
    assert f"Ontvangstbewijs van je officieel bericht {ref}" in final.text
    assert "Bezorgd: 25 van 25 groepen (Telegram 25)" in final.text
    assert "Nog onderweg: 0" in final.text

    first = await s.press(lies, "Gezien", noord[0])
    again = await s.press(lies, "Gezien", noord[0])  # once per person
    await s.press(tom, "Gezien", zuid[0])
    # Only Lies sees a pop-up: nothing is posted in the group for her press.
    assert s.api.answer_of(first) == {
        "text": f"Bedankt: genoteerd dat je {ref} gezien hebt.",
        "show_alert": False,
    }
    assert s.api.answer_of(again)["text"] == f"Je had {ref} al als gezien gemarkeerd."
    await s.say(p.jan, f"/status {ref}")
    assert "👁 Gezien: 2 (wie, dat zeg ik nooit)" in s.last(p.jan)
    await s.say(tom, f"/check {ref}")
    assert f"{ref} is een echt officieel bericht" in s.last(tom)


async def test_update_and_withdraw_follow_the_original_in_every_group(
    s: TelegramStack,
) -> None:
    p = await people(s)
    groups = await p.groups(["Kerkstraat", "Dorpsplein", "Stationsstraat"])
    ref = await p.alert("Inbraak in een woning in de Kerkstraat; daders op de vlucht.")
    await s.outbox_empty()
    originals = {chat.id: official(s, chat)[0] for chat in groups}

    await s.say(p.jan, f"/update {ref} Twee verdachten gevat, blijf alert.")
    assert "gaat als antwoord naar de groepen die het bericht kregen (3)" in s.last(p.jan)
    await s.outbox_empty()
    for chat in groups:
        update = s.api.last_message(chat)
        assert update.text.startswith(f"🔄 UPDATE · {ref}")
        assert "Twee verdachten gevat, blijf alert." in update.text
        assert update.reply_to == originals[chat.id].message_id

    await s.say(p.jan, f"/withdraw {ref}")
    assert f"{ref} is ingetrokken." in s.last(p.jan)
    await s.outbox_empty()
    for chat in groups:
        notice = s.api.last_message(chat)
        assert notice.text.startswith(f"⛔ INGETROKKEN · {ref}")
        assert notice.reply_to == originals[chat.id].message_id
        assert originals[chat.id].deleted  # the original is gone for the members
        assert official(s, chat) == []
    kim = s.api.add_user("Kim")
    await s.say(kim, f"/check {ref}")
    assert "ingetrokken" in s.last(kim)


async def test_the_bot_removed_from_a_group_is_skipped_afterwards(s: TelegramStack) -> None:
    p = await people(s)
    kerk, dorp, station = await p.groups(["Kerkstraat", "Dorpsplein", "Stationsstraat"])

    s.api.remove_bot(kerk, p.an)  # the update says so
    await s.settle()
    [told] = s.new(p.an)
    assert "Ik ben verwijderd uit de groep Kerkstraat van BIN Noord." in told
    assert not (await group_row(s, "Kerkstraat")).active

    # Removed while the bot heard nothing of it: the first message to it finds out.
    s.api.forbid(dorp)
    await p.alert("Verdachte wagen aan de school.")
    await s.outbox_empty()
    assert [len(official(s, chat)) for chat in (kerk, dorp, station)] == [0, 0, 1]
    final = receipt(s, p.jan)
    assert "Bezorgd: 1 van 2 groepen" in final.text
    assert "Mislukt: 1 (bot uit de groep verwijderd: 1)" in final.text
    assert not (await group_row(s, "Dorpsplein")).active
    assert "Ik ben verwijderd uit de groep Dorpsplein van BIN Noord." in s.new(p.an)[-1]

    await p.alert("Nog een verdachte wagen, nu aan de kerk.")
    await s.outbox_empty()
    assert [len(official(s, chat)) for chat in (kerk, dorp, station)] == [0, 0, 2]
    assert "Bezorgd: 1 van 1 groepen" in receipt(s, p.jan).text


async def test_a_group_migrated_mid_fanout_gets_the_message_once_at_its_new_id(
    s: TelegramStack,
) -> None:
    p = await people(s)
    others = await p.groups([f"Noord {i}" for i in range(4)])
    basic = await p.group("Kerkstraat", supergroup=False)
    await p.compose("Verdachte wagen aan de school.")

    # The send to the basic group is still in flight when it becomes a supergroup, and the
    # bot hears of the migration before Telegram answers that send with the new id.
    def sends_to_basic() -> int:
        return sum(str(c.get("chat_id")) == str(basic.id) for c in s.api.calls_to("sendMessage"))

    before = sends_to_basic()
    s.api.delay_chat(basic, 1.0)
    confirm, data = s.button(p.jan, "Bevestigen")
    s.api.press_button(p.jan, confirm, data)
    await s.until(lambda: sends_to_basic() > before, what="the send to the basic group")
    new = s.api.migrate(basic, by=p.an)
    await s.until(lambda: not s.api.updates.pending, what="the bot to fetch the migration")
    await s.outbox_empty()

    supergroup = s.api.chats[new.id]
    assert official(s, basic) == []
    assert len(official(s, supergroup)) == 1
    assert all(len(official(s, chat)) == 1 for chat in others)
    assert (await group_row(s, "Kerkstraat")).chat_id == str(new.id)
    assert "Bezorgd: 5 van 5 groepen" in receipt(s, p.jan).text


# -- flood limits ----------------------------------------------------------------------------


async def test_a_fanout_at_telegrams_limits_earns_no_429(tmp_path: Path) -> None:
    # The server holds the bot to Telegram's limits strictly: 30/s overall, 1/s in a chat
    # with no burst at all, 20/min in a group.
    async with TelegramStack.running(
        tmp_path, flood=FloodLimits(per_chat_burst=1), telegram=WORKER_RATE
    ) as s:
        p = await people(s)
        groups = await p.groups([f"Noord {i:02}" for i in range(25)], "noord")
        groups += await p.groups([f"Zuid {i:02}" for i in range(20)], "zuid")
        with s.flood_off():  # Jan composes at machine speed
            preview = await p.compose("Verdachte wagen aan de school.", ("Noord", "Zuid"))
        ref = await p.confirm(preview)
        await s.outbox_empty()
        await s.say(p.jan, f"/update {ref} De wagen is weg, richting Paal.")
        await s.outbox_empty()

        assert s.api.flood_429_count == 0, (dict(s.api.flood.refused_per_chat), p.jan.id)
        for chat in groups:  # the original, then the update 1 s or more later, in every group
            original, update = s.api.bot_messages(chat)[-2:]
            assert original.text == preview
            assert update.reply_to == original.message_id
            assert update.text.startswith(f"🔄 UPDATE · {ref}")
        assert "Bezorgd: 45 van 45 groepen" in receipt(s, p.jan).text


async def test_429s_from_a_stricter_server_are_recovered_without_loss_or_duplicates(
    tmp_path: Path,
) -> None:
    # Telegram answers 429 from 10 messages a second on (another process sending with the
    # same token, say), while binbot paces at the documented 30/s.
    async with TelegramStack.running(
        tmp_path, flood=FloodLimits(overall_per_second=10, per_chat_burst=20)
    ) as s:
        p = await people(s)
        groups = await p.groups([f"Noord {i:02}" for i in range(30)], "noord")
        with s.flood_off():
            preview = await p.compose("Verdachte wagen aan de school.")
        await p.confirm(preview)
        await s.outbox_empty()

        assert s.api.flood_429_count > 0
        assert sum(s.api.flood.refused_per_chat[chat.id] for chat in groups) > 0
        for chat in groups:
            assert [m.text for m in s.api.bot_messages(chat)].count(preview) == 1
        async with s.core.db.session() as session:
            rows = (await session.execute(select(Delivery))).scalars().all()
        assert len(rows) == 30 and {row.status for row in rows} == {SENT}
        delivered = {chat.id: str(official(s, chat)[0].message_id) for chat in groups}
        assert {int(r.chat_id): r.platform_message_id for r in rows if r.chat_id} == delivered
