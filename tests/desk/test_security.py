"""No data or action across zones or BINs, forms only from the desk, markup shown literally.

Each refusal is checked three ways: the answer, nothing changed, and the audit entry.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from storage.tables import Alert, AuditEntry, Group, JoinRequest
from tests.desk.client import Browser
from tests.desk.test_flows import send
from tests.desk.world import DeskWorld


@pytest.fixture
async def people(dw: DeskWorld) -> AsyncIterator[dict[str, Browser]]:
    found = {}
    for name in ("jan", "piet", "an", "bert"):
        found[name] = Browser(dw.base)
        await found[name].get(await dw.link(name))
    yield found
    for b in found.values():
        await b.close()


async def refusals(dw: DeskWorld) -> list[tuple[str, str]]:
    async with dw.h.db.session() as s:
        q = select(AuditEntry).where(AuditEntry.outcome == "refused").order_by(AuditEntry.id)
        rows = (await s.execute(q)).scalars().all()
    return [(r.action, (r.detail or {}).get("reason", "")) for r in rows]


async def state_of(dw: DeskWorld) -> str:
    async with dw.h.db.session() as s:
        return (await s.execute(select(Alert.state))).scalar_one()


async def test_another_zones_officer_sees_and_does_nothing_in_this_zone(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    ref = await send(dw, people["jan"], "noord")
    dw.h.new("noord-1")
    piet = people["piet"]
    overview = await piet.get("/desk/")
    assert "Zone Hasselt" in overview and "Beringen" not in overview and "Noord" not in overview
    listing = await piet.get("/desk/messages")
    assert ref not in listing
    await piet.get(f"/desk/messages?bin={dw.bins['noord']}")
    assert ref not in piet.text and "Messages found: 0" in piet.text
    for path in (f"/desk/messages/{ref}", f"/desk/messages/{ref}/status.json"):
        await piet.get(path)
        assert piet.status == 404 and "grey van" not in piet.text.lower(), path
        assert "noord-1" not in piet.text and "OFFICIAL" not in piet.text, path
    await piet.get(f"/desk/bins/{dw.bins['noord']}")
    assert piet.status == 404 and "noord-1" not in piet.text
    await piet.post(f"/desk/messages/{ref}/followup", {"kind": "withdraw", "text": ""})
    assert piet.status == 404
    await piet.post(
        "/desk/compose",
        [
            ("as", "police:1"),
            ("bin", str(dw.bins["noord"])),
            ("category", "other"),
            ("text", "Not from this zone"),
        ],
    )
    assert piet.status == 400 and "You may not write as that organisation" in piet.text
    await dw.h.core.idle()
    assert await state_of(dw) == "active" and dw.h.new("noord-1") == []
    assert await dw.count(Alert) == 1
    assert await refusals(dw) == [
        ("desk.message", "not_visible"),
        ("desk.message", "not_visible"),
        ("desk.bin", "not_visible"),
        ("alert.withdraw", "organisation"),
        ("alert.compose", "role"),
    ]


async def test_another_bins_coordinator_sees_and_decides_nothing_here(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    await dw.h.ask_join("kim", "noord-1")
    await dw.h.say("kim", "Stationsstraat 4")
    async with dw.h.db.session() as s:
        req = (await s.execute(select(JoinRequest))).scalar_one()
    bert = people["bert"]
    overview = await bert.get("/desk/")
    assert "Kern" in overview and "Noord" not in overview
    await bert.get(f"/desk/bins/{dw.bins['noord']}")
    assert bert.status == 404 and "Kim" not in bert.text
    await bert.get(f"/desk/bins/{dw.bins['kern']}")  # a page of one's own, for its token
    await bert.post(f"/desk/requests/{req.id}/decide", {"verdict": "approve", "bin": "1"})
    assert bert.status == 404
    for path in ("/desk/messages", "/desk/compose"):  # official messages are not theirs
        await bert.get(path)
        assert bert.status == 404, path
    async with dw.h.db.session() as s:
        assert (await s.execute(select(JoinRequest.status))).scalar_one() == "pending"
    assert ("approve", "noord-1", "kim") not in dw.h.platform.actions
    assert await refusals(dw) == [
        ("desk.bin", "not_visible"),
        ("join.approve", "not_coordinator"),
        ("desk.messages", "role"),
        ("alert.compose", "role"),
    ]


async def test_a_form_without_the_token_or_from_elsewhere_changes_nothing(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    jan = people["jan"]
    ref = await send(dw, jan, "noord")
    dw.h.new("noord-1")
    path = f"/desk/messages/{ref}/followup"
    await jan.post(path, {"kind": "withdraw"}, csrf=False)
    assert jan.status == 403 and "Nothing was changed" in jan.text
    await jan.post(path, {"kind": "withdraw", "csrf": "f" * 64}, csrf=False)
    assert jan.status == 403
    await jan.post(path, {"kind": "withdraw"}, origin="https://evil.example")
    assert jan.status == 403
    await jan.post(path, {"kind": "withdraw"}, origin="")
    assert jan.status == 403
    other = people["piet"].csrf  # another session's token is no good either
    await jan.post(path, {"kind": "withdraw", "csrf": other}, csrf=False)
    assert jan.status == 403
    await dw.h.core.idle()
    assert await state_of(dw) == "active" and dw.h.new("noord-1") == []
    assert [r for r in await refusals(dw)] == [("desk.post", "csrf")] * 2 + [
        ("desk.post", "origin")
    ] * 2 + [("desk.post", "csrf")]


async def test_markup_in_names_and_texts_is_shown_literally(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    await dw.h.admin("bin add '<i>Dorp</i>' --zone Beringen --code dorp")
    async with dw.h.db.session() as s:
        group = (await s.execute(select(Group).where(Group.chat_id == "noord-1"))).scalar_one()
        group.title = "<script>alert(1)</script>"
        await s.commit()
    jan = people["jan"]
    page = await jan.get("/desk/")
    assert "&lt;i&gt;Dorp&lt;/i&gt;" in page and "<i>Dorp" not in page
    ref = await send(dw, jan, "noord")
    page = await jan.get(f"/desk/messages/{ref}")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert" not in page
    assert "&lt;b&gt;drives&lt;/b&gt;" in page
    assert not re.search(r"<script(?! src=\"/desk/static/desk\.js\")", page)


async def test_every_page_forbids_inline_scripts_and_framing(
    people: dict[str, Browser],
) -> None:
    jan = people["jan"]
    for path in ("/desk/", "/desk/messages", "/desk/compose", "/desk/login/x", "/desk/nope"):
        await jan.get(path)
        csp = jan.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, path
        assert "unsafe-inline" not in csp
        assert jan.headers["X-Frame-Options"] == "DENY"
        assert jan.headers["Referrer-Policy"] == "same-origin"


async def test_numbers_that_are_digits_only_to_unicode_are_refused_plainly(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    """ "²" and "٣" pass str.isdigit() but not int(): every page answers, none fails."""
    jan = people["jan"]
    for odd in ("²", "٣", "1²"):
        for path in (
            f"/desk/bins/{odd}",
            f"/desk/bins/{odd}/edit",
            f"/desk/bins/{odd}/poster.pdf",
            f"/desk/people/invites/{odd}/revoke",
            f"/desk/stats?year={odd}&bin={odd}",
            f"/desk/audit?page={odd}",
            f"/desk/messages?bin={odd}",
        ):
            await jan.get(path)
            assert jan.status in (200, 404), (path, jan.status)
