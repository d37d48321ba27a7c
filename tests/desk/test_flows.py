"""What the desk does, through the same services as the chat commands: composing and
sending an official message, following it up, deciding a join request."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from storage.tables import Alert, JoinRequest, Membership
from tests.desk.client import Browser
from tests.desk.world import DeskWorld
from tests.unit.test_alerts_world import official

TEXT = "A grey van <b>drives</b> slowly past the houses & gardens."


@pytest.fixture
async def jan(dw: DeskWorld) -> AsyncIterator[Browser]:
    b = Browser(dw.base)
    await b.get(await dw.link("jan"))
    yield b
    await b.close()


def draft(dw: DeskWorld, *bins: str, text: str = TEXT) -> list[tuple[str, str]]:
    zone_id = 1
    fields = [("as", f"police:{zone_id}"), ("category", "suspicious_vehicle"), ("text", text)]
    return fields + [("bin", str(dw.bins[b])) for b in bins]


def hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, name
    return found.group(1)


def shown(page: str) -> str:
    """The text of the page's chat-message box, as a reader sees it."""
    box = re.search(r'<div class="chat-message">(.*?)</div>', page, re.S)
    assert box
    return html.unescape(re.sub(r"<[^>]+>", "", box.group(1)))


async def send(dw: DeskWorld, b: Browser, *bins: str) -> str:
    page = await b.post("/desk/compose", draft(dw, *bins))
    assert b.status == 200, page
    ref, sig = hidden(page, "ref"), hidden(page, "sig")
    await b.post("/desk/compose/send", [*draft(dw, *bins), ("ref", ref), ("sig", sig)])
    assert b.status == 200 and f"Official message {ref}" in b.text, b.text
    await dw.h.core.idle()
    return ref


async def test_an_officer_sends_an_official_message_from_the_desk(
    dw: DeskWorld, jan: Browser
) -> None:
    page = await jan.post("/desk/compose", draft(dw, "noord", "zuid"))
    assert "It goes to 3 groups of: Noord, Zuid." in page
    assert "&lt;b&gt;drives&lt;/b&gt;" in page and "<b>drives" not in page  # shown literally
    assert dw.h.new("noord-1") == []  # nothing goes out before the confirmation
    ref, sig = hidden(page, "ref"), hidden(page, "sig")
    await jan.post("/desk/compose/send", [*draft(dw, "noord", "zuid"), ("ref", ref), ("sig", sig)])
    await dw.h.core.idle()
    for chat in ("noord-1", "noord-2", "zuid-1"):
        [posted] = dw.h.new(chat)
        assert "OFFICIAL BIN MESSAGE" in posted and TEXT in posted and ref in posted
        assert posted == shown(page)  # the preview was exactly what residents read
    assert dw.h.new("kern-1") == []
    assert f"Receipt for your official message {ref}" in dw.h.last("jan")
    page = await jan.get(f"/desk/messages/{ref}")
    assert page.count(">sent</td>") == 3 and "noord-2" in page
    [composed] = await dw.audit("alert.compose")
    assert composed.outcome == "ok" and (composed.detail or {})["groups"] == 3


async def test_a_preview_with_a_wrong_signature_sends_nothing(dw: DeskWorld, jan: Browser) -> None:
    page = await jan.post("/desk/compose", draft(dw, "noord"))
    ref = hidden(page, "ref")
    await jan.post("/desk/compose/send", [*draft(dw, "noord"), ("ref", ref), ("sig", "0" * 32)])
    assert jan.status == 400 and "This preview is no longer valid" in jan.text
    await dw.h.core.idle()
    assert dw.h.new("noord-1") == []
    assert await dw.count(Alert) == 0


async def test_compose_keeps_the_wizards_rules(dw: DeskWorld, jan: Browser) -> None:
    await jan.post("/desk/compose", draft(dw))
    assert jan.status == 400 and "Choose at least one BIN" in jan.text
    await jan.post("/desk/compose", draft(dw, "oost"))
    assert jan.status == 400 and "None of these BINs has a linked group yet" in jan.text
    await jan.post("/desk/compose", draft(dw, "noord", text="   "))
    assert jan.status == 400 and "The message is empty" in jan.text
    await jan.post("/desk/compose", draft(dw, "noord", text="x" * 5000))
    assert jan.status == 400 and "too long" in jan.text
    assert await dw.count(Alert) == 0


async def test_update_and_withdraw_from_the_desk(dw: DeskWorld, jan: Browser) -> None:
    ref = await send(dw, jan, "noord")
    dw.h.new("noord-1")
    await jan.get(f"/desk/messages/{ref}")
    await jan.post(f"/desk/messages/{ref}/followup", {"kind": "update", "text": "Van left."})
    await dw.h.core.idle()
    assert jan.status == 200 and "Done: it is on its way" in jan.text
    [update] = dw.h.new("noord-1")
    assert "Van left." in update and ref in update
    await jan.post(f"/desk/messages/{ref}/followup", {"kind": "withdraw", "text": ""})
    await dw.h.core.idle()
    notice = dw.h.last("noord-1")
    assert ref in notice and "WITHDRAWN" in notice.upper()
    assert any(a[0] == "delete" for a in dw.h.platform.actions)  # the original is taken down
    async with dw.h.db.session() as s:
        alert = (await s.execute(select(Alert))).scalar_one()
    assert alert.state == "withdrawn"
    page = await jan.get(f"/desk/messages/{ref}")
    assert "Withdraw</button>" not in page  # nothing more to post
    await jan.post(f"/desk/messages/{ref}/followup", {"kind": "update", "text": "again"})
    assert "was withdrawn" in jan.text
    assert [e.outcome for e in await dw.audit("alert.update")] == ["ok", "refused"]


async def test_a_coordinator_approves_a_join_request_on_the_desk(dw: DeskWorld) -> None:
    await dw.h.ask_join("kim", "noord-1")
    await dw.h.say("kim", "Stationsstraat 4")
    dw.h.new("kim")
    an = Browser(dw.base)
    try:
        await an.get(await dw.link("an"))
        page = await an.get(f"/desk/bins/{dw.bins['noord']}")
        assert "Kim" in page and "Stationsstraat 4" in page
        n = int(re.search(r"/desk/requests/(\d+)/decide", page).group(1))  # type: ignore[union-attr]
        await an.post(f"/desk/requests/{n}/decide", {"verdict": "approve", "bin": "1"})
        assert an.status == 200 and "Approved" in an.text and "Members (1)" in an.text
    finally:
        await an.close()
    assert ("approve", "noord-1", "kim") in dw.h.platform.actions
    assert "Welcome" in dw.h.last("kim")
    async with dw.h.db.session() as s:
        member = (await s.execute(select(Membership))).scalar_one()
        req = (await s.execute(select(JoinRequest))).scalar_one()
    assert member.status == "active" and req.status == "approved"
    assert [e.outcome for e in await dw.audit("join.approve")] == ["ok"]


async def test_the_desk_and_chat_refuse_the_same_follow_ups(dw: DeskWorld, jan: Browser) -> None:
    ref = await send(dw, jan, "noord")
    await official(dw.h, "els", role="prevention")
    els = Browser(dw.base)
    try:
        await els.get(await dw.link("els"))
        await els.get(f"/desk/messages/{ref}")
        await els.post(f"/desk/messages/{ref}/followup", {"kind": "update", "text": "Mine now."})
        assert els.status == 404  # another organisation's message: not theirs to follow up
    finally:
        await els.close()
    await dw.h.say("els", f"/update {ref} Mine now.")
    assert dw.h.last("els").startswith(
        f"Only the sender, Police zone Beringen, can follow up on {ref}."
    )

    await jan.get(f"/desk/messages/{ref}")
    await jan.post(f"/desk/messages/{ref}/followup", {"kind": "update", "text": "x" * 5000})
    assert "The text is too long for the groups' platforms." in html.unescape(jan.text)
    await dw.h.say("jan", f"/update {ref} " + "x" * 5000)
    assert dw.h.last("jan").startswith("Too long: about ")

    await dw.h.say("jan", f"/resolve {ref}")
    await jan.get(f"/desk/messages/{ref}")
    await jan.post(f"/desk/messages/{ref}/followup", {"kind": "resolve", "text": ""})
    assert "This message was already resolved." in jan.text
    await dw.h.say("jan", f"/resolve {ref}")
    assert dw.h.last("jan").startswith(f"{ref} is already resolved.")

    reasons = [
        (e.action, (e.detail or {}).get("reason"))
        for e in await dw.audit("alert.update", "refused")
        + await dw.audit("alert.resolve", "refused")
    ]
    assert reasons == [
        ("alert.update", "organisation"),  # the desk
        ("alert.update", "organisation"),  # the chat
        ("alert.update", "too_long"),
        ("alert.update", "too_long"),
        ("alert.resolve", "resolved"),
        ("alert.resolve", "resolved"),
    ]
    async with dw.h.db.session() as s:
        assert (await s.execute(select(Alert.state))).scalar_one() == "resolved"


async def test_a_refused_follow_up_keeps_the_text_typed(dw: DeskWorld, jan: Browser) -> None:
    ref = await send(dw, jan, "noord")
    dw.h.new("noord-1")
    long = "The van & its driver <left> " + "x" * 5000
    await jan.get(f"/desk/messages/{ref}")
    page = await jan.post(f"/desk/messages/{ref}/followup", {"kind": "update", "text": long})
    assert jan.status == 400 and "too long" in page
    kept = re.search(r'<textarea id="fu-text" name="text" rows="4">(.*?)</textarea>', page, re.S)
    assert kept and html.unescape(kept.group(1)) == long  # to shorten, not to type again
    await dw.h.core.idle()
    assert dw.h.new("noord-1") == []
