"""A button that does not belong to the current step of the current conversation is refused:
it answers "This button no longer works", changes nothing, and its data never reaches a step
as if it had been typed (the two cases of issue 15, item 3, exactly as they were found)."""

from __future__ import annotations

from sqlalchemy import select

from storage.tables import Alert, JoinRequest, Person
from tests.fakes import Harness
from tests.unit.test_alerts_world import make_world, official, posted

GROUPS = ("noord-1", "noord-2", "zuid-1")


async def test_the_confirm_of_a_cancelled_alert_is_not_taken_as_the_new_text(
    h: Harness,
) -> None:
    await make_world(h)
    await official(h, "sofie")
    await h.say("sofie", "/alert")
    await h.press("sofie", "Noord")
    await h.press("sofie", "Done")
    await h.press("sofie", "Burglary")
    await h.say("sofie", "First text.")
    old_preview = h.platform.in_chat("sofie")[-1]
    [old_confirm] = [data for label, data in old_preview.buttons if label == "Confirm"]
    await h.say("sofie", "/cancel")
    await h.say("sofie", "/alert")
    await h.press("sofie", "Zuid")
    await h.press("sofie", "Done")
    await h.press("sofie", "Other")
    assert "Step 3 of 4" in h.last("sofie")
    h.new("sofie")

    await h.press("sofie", "Confirm")  # the newest Confirm on screen: the cancelled preview's
    assert h.new("sofie") == ["This button no longer works."]
    async with h.db.session() as session:
        assert (await session.execute(select(Alert))).scalars().all() == []
    assert all(posted(h, c) == [] for c in GROUPS)

    await h.say("sofie", "Second text.")  # the step still waits for the text
    [preview] = h.new("sofie")
    body = preview.split("\n\n")[2]  # head, frame, the officer's text, frame
    assert body == "Second text."
    assert old_confirm.split(".", 1)[1] not in preview  # the button's data is no body
    assert all(not posted(h, c) for c in GROUPS)


async def test_the_old_confirm_is_refused_even_at_the_new_confirm_step(h: Harness) -> None:
    await make_world(h)
    await official(h, "sofie")
    await h.say("sofie", "/alert")
    await h.press("sofie", "Noord")
    await h.press("sofie", "Done")
    await h.press("sofie", "Burglary")
    await h.say("sofie", "First text.")
    old_preview = h.platform.in_chat("sofie")[-1]
    await h.say("sofie", "/cancel")
    await h.say("sofie", "/alert")
    await h.press("sofie", "Zuid")
    await h.press("sofie", "Done")
    await h.press("sofie", "Other")
    await h.say("sofie", "Second text.")
    h.new("sofie")

    [confirm] = [data for label, data in old_preview.buttons if label == "Confirm"]
    await h.press_data("sofie", confirm)  # same state name, another conversation's token
    assert h.new("sofie") == ["This button no longer works."]
    assert all(posted(h, c) == [] for c in GROUPS)
    await h.press("sofie", "Confirm")  # the current one still works
    assert [len(posted(h, c, "Second text.")) for c in GROUPS] == [0, 0, 1]
    assert all("First text." not in t for c in GROUPS for t in h.texts(c))


async def test_an_old_erase_button_is_not_the_answer_to_an_intake_question(h: Harness) -> None:
    await make_world(h)
    await h.say("lies", "/language en")
    await h.say("lies", "/forgetme")
    await h.press("lies", "No, keep it")
    assert h.last("lies") == "All right, I erased nothing."
    await h.say("lies", "/join noord")
    assert "Which street do you live in?" in h.last("lies")
    h.new("lies")

    await h.press("lies", "Yes, erase everything")
    assert h.new("lies") == ["This button no longer works."]
    async with h.db.session() as session:
        [request] = (await session.execute(select(JoinRequest))).scalars().all()
        assert request.status == "intake" and not request.answers  # no answer recorded
        assert len((await session.execute(select(Person))).scalars().all()) == 1  # not erased

    await h.say("lies", "Kerkstraat")  # the question is still open, and takes typed text
    async with h.db.session() as session:
        [request] = (await session.execute(select(JoinRequest))).scalars().all()
        assert request.status == "pending"
        assert list((request.answers or {}).values()) == ["Kerkstraat"]
