"""Follow-ups (update, all-clear, withdrawal), Seen, expiry and the next-day reminder."""

from __future__ import annotations

from pathlib import Path

from bot.events import ButtonPressed, ReactionAdded
from bot.model import Capabilities, Platform
from bot.scheduler import run_all
from bot.services.alerts import remind_followups
from tests.fakes import Harness, RecordingPlatform
from tests.unit.test_alerts_world import compose, make_world, member, official, posted


def original_id(h: Harness, chat: str) -> str:
    """The platform id of the official message in a group."""
    return next(s.ref.message_id for s in h.platform.in_chat(chat) if "OFFICIAL" in s.text)


async def test_follow_ups_reply_in_every_group_the_message_reached(h: Harness) -> None:
    await make_world(h)
    await official(h, "jan")
    ref = await compose(h, "jan", targets=("Noord", "Zuid"))
    h.clock.advance(minutes=20)
    await h.say("jan", f"/update {ref} The van left towards the E313; stay alert.")
    assert h.last("jan") == (
        f"Update of {ref}: goes out as a reply in the groups that got the message (3)."
    )
    h.clock.advance(minutes=40)
    await h.say("jan", f"/resolve {ref}")
    for chat in ("noord-1", "noord-2", "zuid-1"):
        original, update, resolve = h.platform.in_chat(chat)
        assert update.message.reply_to == resolve.message.reply_to == original.ref.message_id
        assert update.text.startswith(f"🔄 UPDATE · {ref}\nPolice zone Beringen · Mon 5 Jan 13:20")
        assert "The van left towards the E313; stay alert." in update.text
        assert update.message.silent is False  # news about an urgent message rings
        assert resolve.text.startswith(f"✅ ALL CLEAR · {ref}")
        assert "The situation is under control." in resolve.text
        assert resolve.message.silent is True

    await h.say("piet", "/language en")
    await h.say("piet", f"/check {ref}")
    assert "State: resolved (all clear)." in h.last("piet")
    await h.say("jan", f"/resolve {ref}")
    assert h.last("jan") == f"{ref} is already resolved. To add something: /update {ref} TEXT."

    await h.say("jan", f"/status {ref}")
    status = h.last("jan")
    assert "state: resolved (all clear)" in status
    assert "• Update (Mon 5 Jan 13:20): 3 of 3 delivered, 0 pending, 0 failed" in status
    assert "• All clear (Mon 5 Jan 14:00): 3 of 3 delivered" in status


async def test_withdrawal_replies_then_removes_the_original(h: Harness) -> None:
    await make_world(h)
    await official(h, "jan")
    ref = await compose(h, "jan", targets=("Noord",))
    originals = {chat: original_id(h, chat) for chat in ("noord-1", "noord-2")}
    await h.say("jan", f"/withdraw {ref} Wrong street")
    assert h.last("jan").startswith(f"{ref} is withdrawn. A notice goes out as a reply")
    for chat, mid in originals.items():
        notice = h.platform.in_chat(chat)[-1]
        assert notice.message.reply_to == mid
        assert notice.text.startswith(f"⛔ WITHDRAWN · {ref}") and "Wrong street" in notice.text
        assert ("delete", chat, mid) in h.platform.actions
        assert posted(h, chat, "OFFICIAL") == []  # gone from the group
    await h.say("jan", f"/update {ref} more")
    assert h.last("jan") == f"{ref} was withdrawn; it takes no more follow-ups."
    await h.say("piet", "/language en")
    await h.say("piet", f"/check {ref}")
    assert "State: withdrawn." in h.last("piet")


async def test_withdrawing_before_delivery_stops_it(h: Harness) -> None:
    world = await make_world(h)
    await official(h, "jan")
    h.core.idle_hooks.remove(world.worker.drain)  # the worker is down for a while
    ref = await compose(h, "jan", targets=("Noord", "Zuid"))
    await h.say("jan", f"/withdraw {ref}")
    assert "will not get it: 3." in h.last("jan")
    await world.worker.drain()
    assert all(posted(h, c) == [] for c in ("noord-1", "noord-2", "zuid-1"))


async def test_only_the_author_s_organisation_follows_up(h: Harness) -> None:
    await make_world(h)
    await official(h, "jan")
    await official(h, "joke")  # a colleague in the same police zone
    await official(h, "eva", role="prevention")
    ref = await compose(h, "jan")
    await h.say("joke", f"/update {ref} Colleague's update")
    assert h.last("joke").startswith(f"Update of {ref}")
    await h.say("eva", f"/update {ref} Not ours")
    assert h.last("eva") == f"Only the sender, Police zone Beringen, can follow up on {ref}."
    await h.say("eva", f"/status {ref}")  # but the zone's prevention service sees the figures
    assert "Delivered: 2 of 2 groups" in h.last("eva")
    await h.say("piet", "/language en")
    await h.say("piet", f"/update {ref} fake")
    assert "/update is only for" in h.last("piet")
    await h.say("jan", "/update Q-QQQQ text")
    assert h.last("jan") == "I know no official message Q-QQQQ."
    await h.say("jan", f"/update {ref}")
    assert h.last("jan").startswith("Send /update REF TEXT")


async def test_seen_is_counted_once_per_person_and_never_says_who(h: Harness) -> None:
    await make_world(h)
    await official(h, "jan")
    ref = await compose(h, "jan", targets=("Noord", "Zuid"))
    await h.press("piet", "Seen", chat="noord-1")
    await h.press("piet", "Seen", chat="noord-1")
    await h.press("piet", "Seen", chat="noord-2")
    await h.press("mia", "Seen", chat="zuid-1")
    assert len(posted(h, "noord-1")) == 1  # nothing is said in the group
    async with h.core.uow() as uow:
        alert = await uow.alerts.alert_by_ref(ref)
        assert alert is not None
    await h.press_data("lars", f"seen:{alert.id + 1}", chat="noord-1")  # forged
    await h.press_data("lars", "seen:drop table", chat="noord-1")
    await h.say("jan", f"/status {ref}")
    status = h.last("jan")
    assert "👁 Seen: 2 (who, I never say)" in status
    assert "Piet" not in status and "Mia" not in status


async def test_a_seen_press_gets_a_pop_up_for_the_presser_alone(h: Harness) -> None:
    await make_world(h)
    await official(h, "jan")
    ref = await compose(h, "jan", targets=("Noord",))
    official_message = next(s for s in h.platform.in_chat("noord-1") if "OFFICIAL" in s.text)
    [(_, data)] = official_message.buttons
    notices: list[str] = []

    async def acknowledge(text: str) -> None:
        notices.append(text)

    async def press(who: str, payload: str) -> None:
        where, mid = h.chat("noord-1", who), official_message.ref.message_id
        await h.event(ButtonPressed(where, h.user(who), payload, mid, acknowledge=acknowledge))

    await press("piet", data)
    await press("piet", data)
    await press("lars", "seen:999")  # forged
    assert notices == [
        f"Thanks: noted that you saw {ref}.",
        f"You had already marked {ref} as seen.",
        "This button no longer works.",
    ]
    assert len(posted(h, "noord-1")) == 1  # nothing is said in the group


async def test_without_buttons_a_reaction_or_seen_command_counts(tmp_path: Path) -> None:
    matrix = RecordingPlatform(
        Platform.MATRIX, Capabilities(max_text_length=20000, buttons=False, reactions=True)
    )
    h = await Harness.create(tmp_path, platform=matrix)
    try:
        await make_world(h)
        await official(h, "jan")
        await h.say("jan", "/alert")
        await h.say("jan", "all")
        await h.say("jan", "2")
        await h.say("jan", "Silver estate car, plate starting with 1-ABC.")
        await h.say("jan", "ja")
        ref = h.last("noord-1").split("Ref. ")[1].split(" ")[0]
        mid = original_id(h, "noord-1")
        piet = h.user("piet")
        chat = h.chat("noord-1", "piet")
        await h.event(ReactionAdded(chat, piet, mid, "👀"))
        await h.event(ReactionAdded(chat, piet, mid, "👍"))
        await h.event(ReactionAdded(chat, h.user("mia"), "no-such-message", "👀"))
        await member(h, "mia", "zuid")
        await h.say("mia", "/language en")
        await h.say("mia", f"/seen {ref}")
        assert h.last("mia") == f"Thanks: noted that you saw {ref}."
        await h.say("mia", f"/seen {ref}")
        assert h.last("mia") == f"You had already marked {ref} as seen."
        await h.say("lars", "/language en")
        await h.say("lars", f"/seen {ref}")  # not a member of a BIN it went to
        assert h.last("lars") == f"{ref} is not an official message that reached you."
        await h.say("jan", f"/status {ref}")
        assert "Seen: 2" in h.last("jan")
        # Withdrawn, the message counts no more Seen, and says so rather than "already".
        await h.say("jan", f"/withdraw {ref}")
        await h.say("mia", f"/seen {ref}")
        assert h.last("mia") == f"{ref} is no longer current: Seen is no longer counted."
        await h.say("jan", f"/status {ref}")
        assert "Seen: 2" in h.last("jan")
    finally:
        await h.close()


async def test_expiry_and_the_next_day_reminder(h: Harness) -> None:
    await make_world(h)
    await official(h, "jan")
    assert {"alerts.expire", "alerts.followup_reminder", "delivery.sweep"} <= {
        j.name for j in h.core.registry.jobs
    }
    urgent = await compose(h, "jan")
    answered = await compose(h, "jan", targets=("Zuid",))
    await h.say("jan", f"/update {answered} Suspect arrested.")
    h.new("jan")
    h.clock.advance(hours=23)
    await run_all(h.core)
    assert h.new("jan") == []
    h.clock.advance(hours=2)
    await run_all(h.core)
    await remind_followups(h.core)  # a second run (or a second process) reminds no one again
    reminders = h.new("jan")
    assert reminders == [
        f"Yesterday at 13:00 you sent the urgent message {urgent}. The BIN members are "
        f"waiting to hear how it ended: post an update with /update {urgent} TEXT, or the "
        f"all-clear with /resolve {urgent}. Sent by mistake? /withdraw {urgent}."
    ]
    await h.say("jan", "/alerts")
    assert "expired" in h.last("jan")
    await h.say("jan", f"/update {urgent} Still looking for the van.")
    await h.say("piet", "/language en")
    await h.say("piet", f"/check {urgent}")
    assert "State: updated." in h.last("piet")  # an update makes it current again
