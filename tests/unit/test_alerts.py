"""Composing official messages: every step of /alert, who may send what, how it reads."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from bot.events import ButtonPressed
from bot.model import Capabilities, Platform
from storage.tables import Alert, AuditEntry
from tests.fakes import Harness, RecordingPlatform
from tests.unit.test_alerts_world import REF, compose, make_world, official, posted


async def audit(h: Harness, action: str) -> list[AuditEntry]:
    async with h.db.session() as session:
        rows = await session.execute(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        )
        return list(rows.scalars().all())


async def test_an_officer_sends_an_urgent_message_to_two_bins_with_three_groups(
    h: Harness,
) -> None:
    await make_world(h)
    await official(h, "jan")

    await h.say("jan", "/alert")
    [targets] = h.new("jan")  # one message a step: the intro opens the first question
    assert targets.startswith("New official message (urgent) as police")
    assert "Step 1 of 4" in targets
    assert "1. Noord (linked groups: 2)\n2. Oost (linked groups: 0)\n3. Zuid" in targets

    await h.press("jan", "Noord")
    assert h.new("jan") == []  # the same prompt, edited in place
    assert "Chosen: Noord" in h.last("jan") and "New official message" in h.last("jan")
    await h.press("jan", "Zuid")
    await h.press("jan", "Done")
    assert "Step 2 of 4" in h.last("jan") and "2. Suspicious vehicle" in h.last("jan")

    await h.press("jan", "Suspicious vehicle")
    assert "Step 3 of 4" in h.last("jan")

    h.new("jan")
    await h.say("jan", "Grey van, Belgian plate, driving slowly past the houses.")
    [step4] = h.new("jan")  # where it goes, the preview and the buttons: one message
    head, _, preview = step4.partition("\n\n")
    assert "Step 4 of 4" in head and "groups: 3; BINs: Noord, Zuid" in head
    assert [label for label, _ in h.platform.in_chat("jan")[-1].buttons] == ["Confirm", "Cancel"]
    assert h.new("noord-1") == []  # nothing goes out before the confirmation

    await h.press("jan", "Confirm")
    ref = REF.search(h.last("jan")).group(0)  # type: ignore[union-attr]
    for chat in ("noord-1", "noord-2", "zuid-1"):
        assert h.new(chat) == [preview], chat  # exactly the preview, exactly once
    receipt = h.last("jan")
    assert f"Receipt for your official message {ref}" in receipt
    assert "Delivered: 3 of 3 groups (Telegram 3)" in receipt and "Pending: 0" in receipt

    assert "🚨 OFFICIAL BIN MESSAGE · URGENT" in preview
    assert "Police zone Beringen · Suspicious vehicle" in preview
    assert f"Ref. {ref} · Mon 5 Jan 13:00 · valid until Tue 6 Jan 13:00" in preview
    assert f"/check {ref}" in preview and "Call 101 first (112 when life is at stake)" in preview
    sent = h.platform.in_chat("zuid-1")[-1]
    assert sent.buttons == [("Seen", sent.buttons[0][1])] and sent.message.silent is False

    composed = await audit(h, "alert.compose")
    assert [(a.outcome, (a.detail or {})["groups"]) for a in composed] == [("ok", 3)]
    assert "Grey van" not in str(composed[0].detail)  # never the text in the audit log
    assert len(await audit(h, "delivery.sent")) == 3


async def test_the_whole_zone_reaches_every_linked_group(h: Harness) -> None:
    await make_world(h)
    await official(h, "jan")
    await compose(h, "jan", targets=("Whole zone",))
    assert [len(posted(h, c, "OFFICIAL")) for c in ("noord-1", "noord-2", "zuid-1")] == [1, 1, 1]


async def test_without_buttons_every_choice_is_typed(tmp_path: Path) -> None:
    matrix = RecordingPlatform(
        Platform.MATRIX, Capabilities(max_text_length=20000, buttons=False, reactions=True)
    )
    h = await Harness.create(tmp_path, platform=matrix)
    try:
        await make_world(h)
        await official(h, "jan")
        await h.say("jan", "/alert")
        assert "Reply with their numbers (e.g. 1 3), or all" in h.last("jan")
        await h.say("jan", "1 zuid")
        assert "Reply with its number." in h.last("jan")
        await h.say("jan", "9")
        assert h.last("jan") == "Reply with a number from 1 to 7."
        await h.say("jan", "3")
        await h.say("jan", "Break-in at number 12 tonight; the thieves fled on foot.")
        assert h.last("jan").endswith("Send it? Reply yes to send, no to stop.")
        await h.say("jan", "maybe")
        assert h.last("jan") == "Reply yes to send it, or no to stop."
        await h.say("jan", "yes")
        message = h.last("zuid-1")
        assert "Burglary" in message and "!check" in message and "!seen" in message
        assert all(not s.buttons for s in matrix.sent)
        assert len(posted(h, "noord-1", "OFFICIAL")) == 1
    finally:
        await h.close()


async def test_targets_toggle_and_need_a_linked_group(h: Harness) -> None:
    await make_world(h)
    await official(h, "jan")
    await h.say("jan", "/alert")
    await h.press("jan", "Noord")
    await h.press("jan", "Noord")  # a second tap drops it again
    await h.press("jan", "Done")
    assert h.last("jan") == "Choose at least one BIN first."
    await h.press("jan", "Oost")
    await h.press("jan", "Done")
    assert "None of these BINs has a linked group yet" in h.last("jan")
    await h.say("jan", "two")
    assert "I did not understand that" in h.last("jan")
    await h.say("jan", "3")
    assert "Step 2 of 4" in h.last("jan")


async def test_a_button_of_an_earlier_step_answers_nothing(h: Harness) -> None:
    await make_world(h)
    await official(h, "jan")
    await h.say("jan", "/alert")
    await h.press("jan", "Noord")
    await h.press("jan", "Done")
    await h.press("jan", "Zuid")  # still on screen, but the question moved on
    assert h.last("jan") == "This button no longer works."
    await h.press("jan", "Burglary")
    assert "Step 3 of 4" in h.last("jan")  # the earlier press changed nothing
    await h.say("jan", "Burglary in the Kerkstraat.")
    await h.press("jan", "Confirm")
    assert [len(posted(h, c, "Kerkstraat")) for c in ("noord-1", "noord-2", "zuid-1")] == [
        1,
        1,
        0,
    ]


async def test_a_stale_confirm_of_a_cancelled_wizard_sends_nothing(h: Harness) -> None:
    await make_world(h)
    await official(h, "jan")
    await h.say("jan", "/alert")
    await h.press("jan", "Whole zone")
    await h.press("jan", "Other")
    await h.say("jan", "The first draft, never to be sent.")
    stale = h.platform.in_chat("jan")[-1]
    [(_, confirm)] = [(label, data) for label, data in stale.buttons if label == "Confirm"]
    await h.say("jan", "/cancel")

    await h.say("jan", "/alert")  # a new wizard, now waiting for its text
    await h.press("jan", "Noord")
    await h.press("jan", "Done")
    await h.press("jan", "Burglary")
    h.new("jan")
    await h.event(ButtonPressed(h.chat(None, "jan"), h.user("jan"), confirm, stale.ref.message_id))
    assert h.new("jan") == ["This button no longer works."]
    assert all(posted(h, c) == [] for c in ("noord-1", "noord-2", "zuid-1"))

    await h.say("jan", "Burglary in the Kerkstraat.")  # the question is still the text
    assert "Burglary in the Kerkstraat." in h.last("jan")
    assert "confirm" not in h.last("jan").lower().split("\n\n")[1]  # the data never the text
    await h.press("jan", "Confirm")
    assert [posted(h, c, "OFFICIAL") for c in ("noord-1", "noord-2", "zuid-1")] == [
        [h.texts("noord-1")[0]],
        [h.texts("noord-2")[0]],
        [],
    ]
    assert all("first draft" not in t for c in ("noord-1", "noord-2") for t in h.texts(c))
    assert all("Burglary in the Kerkstraat." in h.texts(c)[0] for c in ("noord-1", "noord-2"))


async def test_cancel_and_timeout_send_nothing(h: Harness) -> None:
    await make_world(h)
    await official(h, "jan")
    await h.say("jan", "/alert")
    await h.press("jan", "Noord")
    await h.press("jan", "Done")
    await h.say("jan", "/cancel")
    assert h.last("jan") == "Cancelled. Nothing was sent or changed."

    await h.say("jan", "/alert")
    await h.press("jan", "Whole zone")
    await h.press("jan", "Other")
    await h.say("jan", "Some text")
    await h.press("jan", "Cancel")
    assert h.last("jan") == "Cancelled. Nothing was sent or changed."

    await h.say("jan", "/alert")
    await h.press("jan", "Whole zone")
    h.clock.advance(minutes=16)
    h.new("jan")
    await h.press("jan", "Other")
    assert h.new("jan") == [
        "No answer for too long, so I stopped. Nothing was sent or changed.",
        "This button no longer works.",
    ]

    async with h.db.session() as session:
        assert (await session.execute(select(Alert))).scalars().all() == []
    outcomes = [a.outcome for a in await audit(h, "alert.compose")]
    assert outcomes == ["cancelled", "cancelled", "timeout"]
    assert all(posted(h, c) == [] for c in ("noord-1", "noord-2", "zuid-1"))


async def test_residents_coordinators_and_groups_are_refused(h: Harness) -> None:
    await make_world(h)
    await h.say("piet", "/language en")
    await h.say("piet", "/alert")
    assert "/alert is only for" in h.last("piet")
    await h.admin("invite coordinator --bin noord")
    await h.say("cora", "/redeem " + h.code)
    await h.say("cora", "/language en")
    await h.say("cora", "/alert")
    assert "/alert is only for" in h.last("cora")
    await official(h, "jan")
    await h.say("jan", "/alert", chat="noord-1")
    assert "private" in h.last("noord-1").lower()
    refused = [a for a in await audit(h, "command.alert") if a.outcome == "refused"]
    assert len(refused) == 2


async def test_prevention_sends_non_urgent_notices_only(h: Harness) -> None:
    await make_world(h)
    await official(h, "eva", role="prevention")
    await h.say("eva", "/alert urgent")
    assert "The prevention service sends non-urgent notices only" in h.last("eva")
    assert [a.detail for a in await audit(h, "alert.compose")] == [{"reason": "urgency"}]
    h.new("eva")

    await h.say("eva", "/alert")
    assert h.new("eva")[0].startswith("New official message (not urgent) as prevention service")
    await h.press("eva", "Zuid")
    await h.press("eva", "Done")
    await h.press("eva", "Prevention tip")
    await h.say("eva", "Lock your shed: bicycle thefts are up this month.")
    await h.press("eva", "Confirm")
    notice = h.platform.in_chat("zuid-1")[-1]
    assert "ℹ️ OFFICIAL BIN NOTICE · not urgent" in notice.text
    assert "Prevention service (Beringen) · Prevention tip" in notice.text
    assert notice.message.silent is True  # cold messages never ring


async def test_markup_in_the_text_shows_literally(h: Harness) -> None:
    await make_world(h)
    await official(h, "jan")
    text = "<b>Not bold</b> **nor this** [link](https://evil.example) & <script>"
    await compose(h, "jan", text=text)
    sent = h.platform.in_chat("noord-1")[-1]
    spans = [s for s in sent.message.body.spans if text in s.text]
    assert len(spans) == 1 and spans[0].text == text and not spans[0].bold


async def test_a_text_too_long_for_the_tightest_platform_is_refused(tmp_path: Path) -> None:
    # (Small, but /help after redeeming must still fit.)
    small = RecordingPlatform(Platform.TELEGRAM, Capabilities(max_text_length=2000))
    h = await Harness.create(tmp_path, platform=small)
    try:
        await make_world(h)
        await official(h, "jan")
        await h.say("jan", "/alert")
        await h.press("jan", "Noord")
        await h.press("jan", "Done")
        await h.press("jan", "Burglary")
        limit = int(h.last("jan").split("At most about ")[1].split(" ")[0])
        assert 1500 < limit < 2000
        await h.say("jan", "x" * (limit + 1))
        assert h.last("jan") == (
            f"Too long: the platforms of these groups take about {limit} characters here, "
            f"and yours counts as about {limit + 1} (an emoji or a special sign counts as two "
            "or more). Shorten it and send it again."
        )
        h.new("jan")
        await h.say("jan", "y" * limit)
        head, preview = h.new("jan")  # too long for one message with the line before it
        assert head.startswith("Step 4 of 4") and "y" * limit in preview
        await h.press("jan", "Confirm")
        assert len(posted(h, "noord-1", "y" * limit)) == 1  # the longest allowed fits
        refused = [a for a in await audit(h, "alert.compose") if a.outcome == "refused"]
        assert [(a.detail or {}).get("reason") for a in refused] == ["too_long"]
    finally:
        await h.close()


async def test_anyone_can_check_a_reference(h: Harness) -> None:
    await make_world(h)
    await official(h, "jan")
    ref = await compose(h, "jan")
    await h.say("piet", "/language en")
    await h.say("piet", f"/check {ref.lower()}")
    answer = h.last("piet")
    assert f"{ref} is a genuine official message from Police zone Beringen" in answer
    assert "sent Mon 5 Jan 13:00 (Suspicious vehicle). State: active." in answer
    assert "Valid until Tue 6 Jan 13:00." in answer

    await h.say("piet", "/check Z-9Q9Q")
    answer = h.last("piet")
    assert "Z-9Q9Q is not an official message." in answer and "112" in answer
    await h.say("piet", "/check hello")
    assert "hello is not an official message." in h.last("piet")

    h.clock.advance(hours=25)
    await h.say("piet", f"/check {ref}")
    assert "State: expired." in h.last("piet")


async def test_police_of_another_zone_cannot_touch_this_zone(h: Harness) -> None:
    world = await make_world(h)
    await h.admin("zone add Hasselt --language en")
    from tests.unit.test_alerts_world import add_bins

    await add_bins(world, "Hasselt", {"kiewit": ["kiewit-1"]})
    await official(h, "jan")
    await official(h, "hilde", zone="Hasselt")
    ref = await compose(h, "jan")

    await h.say("hilde", "/alert")
    prompt = h.platform.in_chat("hilde")[-1]
    assert [label for label, _ in prompt.buttons] == ["Kiewit", "Whole zone", "Done"]
    token = prompt.buttons[0][1].split(".")[0]
    await h.press_data("hilde", f"{token}.targets.bin:{world.bins['noord']}")  # forged
    assert "I did not understand that" in h.last("hilde")

    for command in (f"/update {ref} All is well", f"/resolve {ref}", f"/withdraw {ref}"):
        await h.say("hilde", command)
        assert h.last("hilde") == f"Only the sender, Police zone Beringen, can follow up on {ref}."
    await h.say("hilde", f"/status {ref}")
    assert "Only the police and the prevention service" in h.last("hilde")
    refused = await audit(h, "alert.update") + await audit(h, "alert.withdraw")
    assert {(a.outcome, (a.detail or {}).get("reason")) for a in refused} == {
        ("refused", "organisation")
    }
    assert len(posted(h, "noord-1")) == 1  # only the message itself


async def test_alerts_lists_the_zone_s_recent_messages(h: Harness) -> None:
    await make_world(h)
    await official(h, "jan")
    await h.say("jan", "/alerts")
    assert h.last("jan") == "No official messages yet — Beringen."
    first = await compose(h, "jan")
    h.clock.advance(minutes=5)
    second = await compose(h, "jan", targets=("Zuid",), category="Missing person")
    await h.say("jan", "/alerts")
    lines = h.last("jan").splitlines()
    assert lines[0] == "Recent official messages — Beringen:"
    assert lines[1].startswith(f"• {second} · Mon 5 Jan 13:05 · urgent · Missing person · active")
    assert lines[1].endswith("delivered 1/1 · seen 0")
    assert lines[2].startswith(f"• {first} ") and "delivered 2/2" in lines[2]


async def test_references_are_unique_and_shaped_for_the_phone(h: Harness) -> None:
    await make_world(h)
    await official(h, "jan")
    refs = {await compose(h, "jan") for _ in range(5)}
    assert len(refs) == 5
    assert all(REF.fullmatch(r) and not set(r) & set("01IO") for r in refs)


async def test_dutch_groups_read_dutch(h: Harness) -> None:
    await make_world(h, language="nl")
    await official(h, "jan")
    await h.say("jan", "/alert")
    await h.press("jan", "Noord")
    await h.press("jan", "Klaar")
    await h.press("jan", "Verdacht voertuig")
    await h.say("jan", "Grijze bestelwagen in de Stationsstraat.")
    await h.press("jan", "Bevestigen")
    message = h.last("noord-1")
    assert message.startswith("🚨 OFFICIEEL BIN-BERICHT · DRINGEND\nPolitiezone Beringen")
    assert "geldig tot di 6 jan 13:00" in message and "Bel eerst 101" in message
    assert h.platform.in_chat("noord-1")[-1].buttons[0][0] == "Gezien"


async def test_serving_two_zones_or_two_roles_asks_which(h: Harness) -> None:
    world = await make_world(h)
    await h.admin("zone add Hasselt --language en")
    from tests.unit.test_alerts_world import add_bins

    await add_bins(world, "Hasselt", {"kiewit": ["kiewit-1"]})
    await official(h, "jan")
    await official(h, "jan", zone="Hasselt")
    await official(h, "jan", role="prevention")
    await h.say("jan", "/alert soon")
    assert h.last("jan").startswith("Use /alert. If you write for both the police")
    await h.say("jan", "/alert")
    assert "For which police zone do you write?" in h.last("jan")
    await h.press("jan", "Hasselt")
    await h.press("jan", "Kiewit")
    await h.press("jan", "Done")
    await h.press("jan", "Missing person")
    await h.say("jan", "Missing since this morning: a man of 82, grey coat.")
    await h.press("jan", "Confirm")
    assert "OFFICIAL BIN MESSAGE · URGENT" in h.last("kiewit-1")

    await h.say("jan", "/alert non-urgent")  # the same person, writing for prevention
    assert "(not urgent) as prevention service" in h.new("jan")[-1]
    await h.press("jan", "Noord")
    await h.press("jan", "Done")
    await h.press("jan", "Prevention tip")
    await h.say("jan", "Info evening on burglary prevention, town hall, Thursday 19:00.")
    await h.press("jan", "Confirm")
    assert "OFFICIAL BIN NOTICE" in h.last("noord-1")
