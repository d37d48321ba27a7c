"""The /alert wizard is stored: it survives a restart, and failures at Confirm are answered
with a reference and the truth about what was sent."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.delivery import DeliveryWorker, attach
from bot.events import ButtonPressed
from bot.ports import PermanentError
from config.settings import DeliverySettings
from storage.alerts import AlertRepo
from storage.tables import Alert, Delivery
from tests.fakes import Harness
from tests.unit.test_alerts_world import REF, make_world, official, posted

CHATS = ("noord-1", "noord-2", "zuid-1")
TEXT = "Grey van, Belgian plate, driving slowly past the houses."


async def count(h: Harness, table: type[Alert] | type[Delivery]) -> int:
    async with h.db.session() as session:
        return int((await session.execute(select(func.count()).select_from(table))).scalar_one())


def button(h: Harness, chat: str, label: str) -> tuple[str, str]:
    """The data and message id of the newest button labelled `label` in a chat."""
    for sent in reversed(h.platform.in_chat(chat)):
        for lab, data in sent.buttons:
            if lab == label:
                return data, sent.ref.message_id
    raise AssertionError(f"no button {label!r} in {chat}")


async def to_confirm(h: Harness) -> None:
    """jan composes a message to Noord and stops at the preview."""
    await h.say("jan", "/alert")
    await h.press("jan", "Noord")
    await h.press("jan", "Done")
    await h.press("jan", "Suspicious vehicle")
    await h.say("jan", TEXT)
    h.new("jan")


async def test_a_wizard_goes_on_after_a_restart(tmp_path: Path) -> None:
    first = await Harness.create(tmp_path)
    await make_world(first)
    await official(first, "jan")
    await first.say("jan", "/alert")
    await first.press("jan", "Noord")
    await first.press("jan", "Done")
    data, message_id = button(first, "jan", "Suspicious vehicle")
    await first.close()  # the process stops half-way through the wizard

    second = await Harness.create(tmp_path, seed=8)  # a new process on the same database
    try:
        attach(second.core, DeliveryWorker(second.core, DeliverySettings()))
        pressed = ButtonPressed(second.chat(None, "jan"), second.user("jan"), data, message_id)
        await second.event(pressed)  # a button the first process posted
        assert "Step 3 of 4" in second.last("jan")
        await second.say("jan", TEXT)
        await second.press("jan", "Confirm")
        assert "Receipt for your official message" in second.last("jan")
        assert [len(posted(second, c, "OFFICIAL")) for c in CHATS] == [1, 1, 0]
        assert all(posted(first, c) == [] for c in CHATS)
        assert (await count(second, Alert), await count(second, Delivery)) == (1, 2)
    finally:
        await second.close()


async def test_two_processes_take_turns_on_one_wizard(tmp_path: Path) -> None:
    one = await Harness.create(tmp_path)
    two = await Harness.create(tmp_path, seed=8)
    try:
        await make_world(one)
        attach(two.core, DeliveryWorker(two.core, DeliverySettings()))
        await official(one, "jan")
        await one.say("jan", "/alert")
        data, mid = button(one, "jan", "Zuid")
        await two.event(ButtonPressed(two.chat(None, "jan"), two.user("jan"), data, mid))
        data, mid = button(one, "jan", "Done")  # the first process's prompt, still on screen
        await one.event(ButtonPressed(one.chat(None, "jan"), one.user("jan"), data, mid))
        await one.press("jan", "Burglary")
        await two.say("jan", TEXT)
        await one.say("jan", "yes")  # typed, on the other process
        assert [len(posted(one, c, "OFFICIAL")) + len(posted(two, c)) for c in CHATS] == [
            0,
            0,
            1,
        ]
    finally:
        await one.close()
        await two.close()


async def test_a_failing_store_at_confirm_is_answered_and_sends_nothing(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await make_world(h)
    await official(h, "jan")
    await to_confirm(h)

    async def broken(*args: object, **kwargs: object) -> int:
        raise RuntimeError("disk full")

    with monkeypatch.context() as patched:
        patched.setattr(AlertRepo, "queue", broken)
        data, mid = button(h, "jan", "Confirm")
        await h.event(ButtonPressed(h.chat(None, "jan"), h.user("jan"), data, mid), may_fail=True)
    [answer] = h.new("jan")
    assert answer.startswith("Something went wrong on my side (ref E-")
    assert "Nothing was sent or changed" in answer
    assert all(posted(h, c) == [] for c in CHATS)
    assert (await count(h, Alert), await count(h, Delivery)) == (0, 0)

    await h.press("jan", "Confirm")  # the wizard still waits at its last step
    assert [len(posted(h, c, "OFFICIAL")) for c in CHATS] == [1, 1, 0]


async def test_a_failure_after_the_store_says_the_message_is_on_its_way(h: Harness) -> None:
    await make_world(h)
    await official(h, "jan")
    await to_confirm(h)
    h.platform.fail("jan", PermanentError("forbidden"))  # the receipt cannot be posted

    data, mid = button(h, "jan", "Confirm")
    await h.event(ButtonPressed(h.chat(None, "jan"), h.user("jan"), data, mid), may_fail=True)
    answer = h.new("jan")[0]
    found = REF.search(answer.split("\n", 1)[1])
    assert found is not None
    ref = found.group(0)
    assert answer == (
        f"Something went wrong on my side ({answer.split('(')[1].split(')')[0]}).\n"
        f"Your official message {ref} was stored and is being delivered; "
        f"check it with /status {ref}."
    )
    assert answer.split("(ref ")[1].startswith("E-")
    assert [len(posted(h, c, ref)) for c in CHATS] == [1, 1, 0]  # delivered, once
    await h.press("jan", "Confirm")  # the wizard is over: a second press sends nothing
    assert h.last("jan") == "This button no longer works."
    assert [len(posted(h, c, ref)) for c in CHATS] == [1, 1, 0]
