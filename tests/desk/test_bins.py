"""BINs on the desk: police of the zone create, edit, archive and un-archive them with the
rules of `binbot bin add` and `apply`; nobody else can, and an archived BIN takes nothing new.

Each refusal is checked three ways: the answer, nothing changed, and the audit entry.
"""

from __future__ import annotations

import html
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from storage.tables import Alert, AuditEntry, Bin, Group, JoinRequest, Zone
from tests.desk.client import Browser
from tests.desk.world import DeskWorld
from tests.unit.test_alerts_world import member

NEW = {
    "zone": "1",
    "name": "Koersel Centrum",
    "code": "",
    "area": "3582, Kerkstraat, Stationsstraat",
    "intake_mode": "own",
    "intake": "In which street do you live?\nHow long have you lived there?",
}


@pytest.fixture
async def people(dw: DeskWorld) -> AsyncIterator[dict[str, Browser]]:
    found = {}
    for name in ("jan", "piet", "an"):
        found[name] = Browser(dw.base)
        await found[name].get(await dw.link(name))
    yield found
    for b in found.values():
        await b.close()


async def bins(dw: DeskWorld) -> dict[str, Bin]:
    async with dw.h.db.session() as s:
        return {b.code: b for b in (await s.execute(select(Bin))).scalars().all()}


async def refused(dw: DeskWorld, action: str) -> list[AuditEntry]:
    return await dw.audit(action, "refused")


def text(page: str) -> str:
    return html.unescape(page)


async def test_an_officer_creates_a_bin_and_finds_it_listed(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    jan = people["jan"]
    listing = await jan.get("/desk/bins")
    assert jan.status == 200 and "New BIN" in listing and "Noord" in listing
    assert 'href="/desk/bins"' in listing  # in the nav
    await jan.get("/desk/bins/new?zone=1")
    page = await jan.post("/desk/bins/new", NEW)
    assert jan.status == 200 and "The BIN is created." in page
    made = (await bins(dw))["koersel-centrum"]  # the code made from the name, as the CLI does
    assert made.zone_id == 1 and made.name == "Koersel Centrum"
    assert made.area == "3582, Kerkstraat, Stationsstraat"
    assert made.intake == ["In which street do you live?", "How long have you lived there?"]
    assert "How long have you lived there?" in text(page) and "koersel-centrum" in page
    [entry] = [e for e in await dw.audit("bin.add", "ok") if e.actor != "admin"]
    assert entry.bin_id == made.id and entry.zone_id == 1
    listing = await jan.get("/desk/bins")
    assert "Koersel Centrum" in listing and "3582, Kerkstraat" in listing
    # Residents find it from chat by its area.
    await dw.h.say("kim", "/join 3582")
    assert "Koersel Centrum" in dw.h.last("kim")


async def test_the_cli_sees_what_the_desk_made_and_the_other_way_round(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    await people["jan"].post("/desk/bins/new", {**NEW, "code": "Centrum-1"})
    lines = await dw.h.admin("bin list --zone Beringen")
    assert any(line.startswith("centrum-1\tKoersel Centrum") for line in lines), lines
    # The CLI refuses the code now taken, with its own words; the desk refuses a CLI's code.
    out = await dw.h.admin("bin add Other --zone Beringen --code centrum-1")
    assert "taken" in " ".join(out)
    await people["jan"].post("/desk/bins/new", {**NEW, "name": "Elsewhere", "code": "noord"})
    assert people["jan"].status == 400
    assert "The code noord belongs to another BIN already" in text(people["jan"].text)


async def test_validation_errors_are_shown_at_their_fields_and_nothing_is_saved(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    jan = people["jan"]
    before = await bins(dw)
    bad = {
        **NEW,
        "name": "   ",
        "code": "Ab cd!",
        "area": "x" * 201,
        "intake": "\n".join(f"Question {i}?" for i in range(11)),
    }
    page = text(await jan.post("/desk/bins/new", bad))
    assert jan.status == 400 and "Nothing was saved" in page
    assert 'id="name-error">Give a name of 1 to 100 characters' in page
    assert 'id="code-error">A code has 2 to 32 characters' in page
    assert 'id="area-error">The area is one line of at most 200 characters' in page
    assert 'id="intake-error">At most 10 questions.' in page
    assert 'value="Ab cd!"' in page  # what was typed is kept to correct
    # A duplicate name in the zone (any case or spacing), a question with a control character.
    page = text(await jan.post("/desk/bins/new", {**NEW, "name": "  NOORD "}))
    assert 'id="name-error">This zone has a BIN with that name already.' in page
    page = text(await jan.post("/desk/bins/new", {**NEW, "intake": "Fine?\nBad\x07one?"}))
    assert 'id="intake-error">Question 2 must be one line' in page
    page = text(await jan.post("/desk/bins/new", {**NEW, "intake": "  "}))
    assert 'id="intake-error">Write at least one question' in page
    assert set(await bins(dw)) == set(before)
    assert [e for e in await dw.audit("bin.add") if e.actor != "admin"] == []


async def test_errors_are_in_the_persons_language(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    jan = people["jan"]
    await jan.post("/desk/language", {"lang": "nl", "back": "/desk/bins/new"})
    page = text(await jan.post("/desk/bins/new", {**NEW, "code": "-x"}))
    assert "Er is niets bewaard" in page and "Een code heeft 2 tot 32 tekens" in page


async def test_an_officer_edits_a_bin_but_its_code_stays(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    jan, noord = people["jan"], dw.bins["noord"]
    form = await jan.get(f"/desk/bins/{noord}/edit")
    assert jan.status == 200 and 'value="noord" readonly' in form
    fields = {
        "name": "Noord-Oost",
        "code": "noord",
        "area": "3580",
        "intake_mode": "none",
        "intake": "",
    }
    page = await jan.post(f"/desk/bins/{noord}/edit", fields)
    assert "The BIN is saved." in page and "Noord-Oost" in page
    b = (await bins(dw))["noord"]
    assert (b.name, b.area, b.intake) == ("Noord-Oost", "3580", [])
    [entry] = await dw.audit("bin.update", "ok")
    assert entry.bin_id == noord
    # A forged code change is refused with the CLI's rule, a taken name too.
    page = text(await jan.post(f"/desk/bins/{noord}/edit", {**fields, "code": "other"}))
    assert jan.status == 400 and "A BIN's code does not change" in page
    page = text(await jan.post(f"/desk/bins/{noord}/edit", {**fields, "name": "zuid"}))
    assert jan.status == 400 and "This zone has a BIN with that name already." in page
    assert (await bins(dw))["noord"].name == "Noord-Oost"


async def test_an_archived_bin_is_neither_joinable_nor_a_target_and_comes_back(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    jan, zuid = people["jan"], dw.bins["zuid"]
    page = await jan.post(f"/desk/bins/{zuid}/archive", {"archive": "archive"})
    assert "The BIN is archived" in page and "Make active again" in page
    assert (await bins(dw))["zuid"].archived_at is not None
    listing = await jan.get("/desk/bins")
    assert ">Zuid<" not in listing and "1 archived BIN(s)" in listing
    assert ">Zuid<" in await jan.get("/desk/bins?state=archived")
    # Chat: /join lists it no more, and its code is answered with why.
    await dw.h.say("kim", "/join")
    assert "Zuid" not in dw.h.last("kim") and "Noord" in dw.h.last("kim")
    await dw.h.say("kim", "/cancel")
    await dw.h.say("kim", "/join zuid")
    assert "BIN Zuid is archived and takes no new members" in dw.h.last("kim")
    async with dw.h.db.session() as s:
        assert (await s.execute(select(JoinRequest))).scalars().all() == []
    [why] = await dw.audit("join.request", "refused")
    assert (why.detail or {}).get("reason") == "archived"
    # /alert does not offer it; typing its code is not understood.
    await dw.h.say("jan", "/alert")
    prompt = dw.h.last("jan")
    assert "Noord" in prompt and "Zuid" not in prompt
    await dw.h.say("jan", "zuid")
    assert "Zuid" not in dw.h.last("jan")
    await dw.h.say("jan", "/cancel")
    # Nor the desk's composer, even with a forged form.
    await jan.get("/desk/compose")
    assert f'value="{zuid}"' not in jan.text
    fields = [("as", "police:1"), ("category", "other"), ("text", "Test"), ("bin", str(zuid))]
    await jan.post("/desk/compose", fields)
    assert jan.status == 400
    async with dw.h.db.session() as s:
        assert (await s.execute(select(Alert))).scalars().all() == []
        group = (await s.execute(select(Group).where(Group.bin_id == zuid))).scalar_one()
    assert group.active  # its group stays linked
    # Un-archived, it is offered again.
    page = await jan.post(f"/desk/bins/{zuid}/archive", {"archive": "unarchive"})
    assert "The BIN is active again." in page
    await dw.h.say("kim", "/join")
    assert "Zuid" in dw.h.last("kim")
    assert [e.action for e in await dw.audit("bin.archive", "ok")] == ["bin.archive"]
    assert len(await dw.audit("bin.unarchive", "ok")) == 1


async def test_the_zones_settings_are_set_with_the_clis_rules(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    jan = people["jan"]
    await jan.get("/desk/bins")
    ok = {"quiet_start": "23:00", "quiet_end": "06:30", "reminder_days": "14", "language": "fr"}
    page = await jan.post("/desk/zones/1/settings", ok)
    assert "The zone&#39;s settings are saved." in page or "The zone's settings are saved." in page
    async with dw.h.db.session() as s:
        zone = await s.get(Zone, 1)
        assert zone is not None
        assert (zone.quiet_start, zone.quiet_end, zone.reminder_days, zone.language) == (
            23 * 60,
            6 * 60 + 30,
            14,
            "fr",
        )
    page = text(await jan.post("/desk/zones/1/settings", {**ok, "reminder_days": "0"}))
    assert jan.status == 400 and "Give a whole number of days from 1 to 365." in page
    page = text(await jan.post("/desk/zones/1/settings", {**ok, "quiet_start": "25:00"}))
    assert jan.status == 400 and "Give the quiet hours as two times" in page
    async with dw.h.db.session() as s:
        zone = await s.get(Zone, 1)
        assert zone is not None and zone.reminder_days == 14 and zone.quiet_start == 23 * 60
    # The BIN's page shows the zone's values as the ones it follows, with where to change them.
    page = text(await jan.get(f"/desk/bins/{dw.bins['noord']}"))
    assert "23:00–06:30 (as the zone)" in page and "change on the BINs page" in page
    assert len(await dw.audit("zone.update", "ok")) == 1


async def test_a_bins_page_shows_its_groups_members_and_missing_rights(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    async with dw.h.db.session() as s:
        g = (await s.execute(select(Group).where(Group.chat_id == "noord-2"))).scalar_one()
        g.missing_rights = "pin,invite"
        await s.commit()
    await member(dw.h, "kim", "noord")
    page = text(await people["jan"].get(f"/desk/bins/{dw.bins['noord']}"))
    assert "noord-1" in page and "noord-2" in page and "Linked" in page
    assert "Members: 1" in page and '<span class="pill">telegram 1</span>' in page
    assert "all there (as last seen)" in page  # noord-1
    row = page[page.index('<th scope="row">noord-2') :].split("</tr>")[0]
    assert "pin" in row and "invite" in row and '<span class="fix">' in row
    assert "Members: " in page and "Edit" in page and "Archive" in page


# -- refusals ---------------------------------------------------------------------------------


async def test_another_zones_officer_cannot_touch_this_zones_bins(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    piet, noord = people["piet"], dw.bins["noord"]
    listing = await piet.get("/desk/bins")
    assert "Hasselt" in listing and "Noord" not in listing and "Beringen" not in listing
    await piet.get(f"/desk/bins/{noord}/edit")
    assert piet.status == 404
    edit = {"name": "Taken over", "code": "noord", "intake_mode": "default"}
    await piet.post(f"/desk/bins/{noord}/edit", edit)
    assert piet.status == 404
    await piet.post(f"/desk/bins/{noord}/archive", {"archive": "archive"})
    assert piet.status == 404 and "not found" in piet.text.lower()
    await piet.post("/desk/bins/new", {**NEW, "zone": "1"})
    assert piet.status == 404
    await piet.post("/desk/zones/1/settings", {"quiet_start": "01:00", "quiet_end": "02:00"})
    assert piet.status == 404
    b = (await bins(dw))["noord"]
    assert b.name == "Noord" and b.archived_at is None and "koersel-centrum" not in await bins(dw)
    for action in ("bin.update", "bin.archive", "bin.add", "zone.update"):
        found = [e for e in await refused(dw, action) if e.zone_id == 1 or e.bin_id == noord]
        assert found and all((e.detail or {})["reason"] == "role" for e in found), action
    # A BIN that does not exist answers the same.
    await people["jan"].get("/desk/bins/999999/edit")
    assert people["jan"].status == 404


async def test_a_coordinator_sees_their_bin_but_cannot_change_it(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    an, noord = people["an"], dw.bins["noord"]
    page = await an.get(f"/desk/bins/{noord}")
    assert an.status == 200 and "noord-1" in page
    assert f"/desk/bins/{noord}/edit" not in page and "/archive" not in page
    assert 'href="/desk/bins"' not in page  # not in the nav
    await an.get("/desk/bins")
    assert an.status == 404
    await an.get("/desk/bins/new")
    assert an.status == 404
    await an.post(f"/desk/bins/{noord}/archive", {"archive": "archive"})
    assert an.status == 404
    await an.post(f"/desk/bins/{noord}/edit", {"name": "Mine", "intake_mode": "default"})
    assert an.status == 404
    await an.post("/desk/bins/new", NEW)
    assert an.status == 404
    b = (await bins(dw))["noord"]
    assert b.name == "Noord" and b.archived_at is None and len(await bins(dw)) == 4
    assert {e.action for e in await refused(dw, "bin.archive")} == {"bin.archive"}
    assert len(await refused(dw, "desk.bins")) == 1 and len(await refused(dw, "bin.add")) == 2


async def test_a_resident_and_a_forged_form_change_nothing(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    await dw.h.say("kim", "/desk")
    assert "/desk/login/" not in dw.h.last("kim")
    kim = Browser(dw.base)
    try:
        await kim.get("/desk/bins")
        assert kim.status == 401
        await kim.post(f"/desk/bins/{dw.bins['noord']}/archive", {"archive": "archive"})
        assert kim.status == 401
    finally:
        await kim.close()
    jan, noord = people["jan"], dw.bins["noord"]
    await jan.get("/desk/bins")
    await jan.post(f"/desk/bins/{noord}/archive", {"archive": "archive"}, csrf=False)
    assert jan.status == 403
    await jan.post("/desk/bins/new", NEW, origin="http://evil.example")
    assert jan.status == 403
    await jan.post("/desk/zones/1/settings", {"reminder_days": "3"}, csrf=False)
    assert jan.status == 403
    b = (await bins(dw))["noord"]
    assert b.archived_at is None and "koersel-centrum" not in await bins(dw)
    reasons = [(e.detail or {}).get("reason") for e in await refused(dw, "desk.post")]
    assert reasons == ["csrf", "origin", "csrf"]


async def test_a_follow_up_of_an_earlier_message_still_reaches_an_archived_bins_group(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    from tests.desk.test_flows import send

    jan = people["jan"]
    ref = await send(dw, jan, "zuid")
    dw.h.new("zuid-1")
    await jan.post(f"/desk/bins/{dw.bins['zuid']}/archive", {"archive": "archive"})
    await jan.get(f"/desk/messages/{ref}")
    await jan.post(f"/desk/messages/{ref}/followup", {"kind": "update", "text": "Van left."})
    await dw.h.core.idle()
    # An update (and a withdrawal) is read where the message was, archived or not.
    assert jan.status == 200 and "Done: it is on its way" in jan.text
    [update] = dw.h.new("zuid-1")
    assert "Van left." in update and ref in update


async def test_a_bin_gets_its_own_quiet_hours_reminder_and_language_or_follows_the_zone(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    jan, piet = people["jan"], people["piet"]
    form = await jan.get("/desk/bins/new?zone=1")
    assert jan.status == 200 and '<option value="" selected>as the zone</option>' in form
    own = {"quiet_start": "23:30", "quiet_end": "06:00", "reminder_days": "14", "language": "fr"}
    page = text(await jan.post("/desk/bins/new", {**NEW, **own}))
    assert jan.status == 200 and "The BIN is created." in page
    assert "23:30–06:00 (this BIN's own)" in page and "Français (this BIN's own)" in page
    made = (await bins(dw))["koersel-centrum"]
    assert (made.quiet_start, made.quiet_end, made.reminder_days, made.language) == (
        23 * 60 + 30,
        6 * 60,
        14,
        "fr",
    )
    # The edit form shows them; wrong values are refused at their fields, nothing saved.
    form = await jan.get(f"/desk/bins/{made.id}/edit")
    assert 'value="23:30"' in form and 'value="14"' in form
    assert '<option value="fr" selected>' in form
    fields = {**NEW, "code": made.code}
    quiet = "Give the quiet hours as two times, such as 22:00 and 07:00, or leave both empty"
    for bad, where, says in (
        ({"quiet_start": "25:00", "quiet_end": "06:00"}, "quiet", quiet),
        ({"quiet_start": "22:00", "quiet_end": ""}, "quiet", quiet),
        ({"reminder_days": "0"}, "reminder_days", "Give a whole number of days from 1 to 365."),
        ({"language": "xx"}, "language", "Choose Dutch, French, German or English."),
    ):
        page = text(await jan.post(f"/desk/bins/{made.id}/edit", {**fields, **own, **bad}))
        assert jan.status == 400 and "Nothing was saved" in page
        assert f'id="{where}-error">{says}' in page, (bad, page)
    assert (await bins(dw))["koersel-centrum"].reminder_days == 14
    # Another zone's officer cannot set them (the refusal audited).
    await piet.post(f"/desk/bins/{made.id}/edit", {**fields, "reminder_days": "30"})
    assert piet.status == 404
    assert (await bins(dw))["koersel-centrum"].reminder_days == 14
    assert [e.bin_id for e in await refused(dw, "bin.update")] == [made.id]
    # "As the zone" (empty) clears each override: the page shows the zone's values.
    page = text(await jan.post(f"/desk/bins/{made.id}/edit", fields))
    assert jan.status == 200
    again = (await bins(dw))["koersel-centrum"]
    assert (again.quiet_start, again.quiet_end, again.reminder_days, again.language) == (
        None,
        None,
        None,
        None,
    )
    assert "22:00–07:00 (as the zone)" in page and "(this BIN's own)" not in page
