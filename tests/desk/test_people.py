"""The People page: role holders by name, invites issued, listed and revoked, roles revoked,
and the rule of who may invite whom (bot/services/desk_people.py), case by case.

Every refusal is checked three ways: the answer, nothing changed, and the audit entry.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import AsyncIterator

import pytest
from markupsafe import escape
from sqlalchemy import select

from bot import texts
from storage.tables import AuditEntry, DeskSession, Invite, Person, RoleGrant
from tests.desk.client import Browser
from tests.desk.world import DeskWorld
from tests.unit.test_alerts_world import official

CODE = re.compile(r'id="invite-code">([0-9A-Z-]{14})<')


@pytest.fixture
async def people(dw: DeskWorld) -> AsyncIterator[dict[str, Browser]]:
    """Logged-in browsers of Jan (police Beringen), Pia (prevention Beringen), Piet (police
    Hasselt), An (coordinator Noord) and Bert (coordinator Kern)."""
    await official(dw.h, "pia", role="prevention")
    found = {}
    for name in ("jan", "pia", "piet", "an", "bert"):
        found[name] = Browser(dw.base)
        await found[name].get(await dw.link(name))
    yield found
    for b in found.values():
        await b.close()


async def pseudonym(dw: DeskWorld, name: str) -> str:
    async with dw.h.core.uow() as uow:
        ident = await uow.people.identity(dw.h.platform.platform.value, name)
        assert ident is not None
        person = await uow.people.person(ident.person_id)
        assert person is not None
        return person.pseudonym


async def desk_invites(dw: DeskWorld) -> list[Invite]:
    """The invites issued on the desk (the world's own came from the shell)."""
    async with dw.h.db.session() as s:
        q = select(Invite).where(Invite.created_by != "admin").order_by(Invite.id)
        return list((await s.execute(q)).scalars().all())


async def grants(dw: DeskWorld) -> list[tuple[str, str, int | None, int | None]]:
    """(holder's user id, role, zone, BIN) of every role held now."""
    async with dw.h.core.uow() as uow:
        rows = await uow.people.grants()
        found = []
        for g in rows:
            idents = await uow.people.identities_of(g.person_id)
            found.append((idents[0].user_id, g.role, g.zone_id, g.bin_id))
    return sorted(found, key=str)


async def grant_of(dw: DeskWorld, name: str, role: str) -> RoleGrant:
    async with dw.h.core.uow() as uow:
        ident = await uow.people.identity(dw.h.platform.platform.value, name)
        assert ident is not None
        [g] = [g for g in await uow.people.grants_of(ident.person_id) if g.role == role]
        return g


async def refusals(dw: DeskWorld) -> list[tuple[str, str]]:
    async with dw.h.db.session() as s:
        q = select(AuditEntry).where(AuditEntry.outcome == "refused").order_by(AuditEntry.id)
        rows = (await s.execute(q)).scalars().all()
    return [(r.action, (r.detail or {}).get("reason", "")) for r in rows]


async def zone_id(dw: DeskWorld, name: str) -> int:
    async with dw.h.core.uow() as uow:
        zone = await uow.directory.zone_by_name(name)
        assert zone is not None
        return zone.id


async def invite(browser: Browser, what: str, expires: str = "7d") -> str:
    """Create an invite on the desk; its code as the page shows it."""
    await browser.get("/desk/people/invite")
    page = await browser.post("/desk/people/invite", {"what": what, "expires": expires})
    assert browser.status == 200, page
    found = CODE.search(page)
    assert found, page
    return found.group(1)


def undated(page: str) -> str:
    """A page without the world's dates (the month's name is also Jan's)."""
    return re.sub(r"\b\d{1,2} Jan 2026\b", "", page)


def rows_of(page: str, table: str) -> list[str]:
    """The rows of one of the page's tables, as text."""
    found = []
    for part in page.split(f'<table class="{table}">')[1:]:
        body = part.split("</table>")[0].split("<tbody>")[1]
        for row in body.split("</tr>")[:-1]:
            found.append(" ".join(re.sub(r"<[^>]+>", " ", row).split()))
    return found


# -- what the page shows -------------------------------------------------------------------


async def test_an_officer_sees_the_zones_people_by_name_with_when_and_by_whom(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    jan = people["jan"]
    page = await jan.get("/desk/people")
    assert jan.status == 200
    assert '<a href="/desk/people">People</a>' in page  # in the navigation
    assert "Zone Beringen" in page and "Hasselt" not in page
    officers = rows_of(page, "officers")
    # Pia is prevention: not Jan's to revoke, nor is his own role.
    assert officers == [
        "Jan (you) police 5 Jan 2026 the administrator",
        "Pia prevention service 5 Jan 2026 the administrator",
    ]
    assert rows_of(page, "coordinators") == [
        "Noord An 5 Jan 2026 the administrator Revoke…",
        "Oost no coordinator yet · Invite one",
        "Zuid no coordinator yet · Invite one",
    ]
    for hidden in ("Piet", "Bert", "Kern", await pseudonym(dw, "an")):
        assert hidden not in undated(page), hidden
    # The rule is on the page itself.
    assert "Who may invite whom" in page and "A coordinator invites nobody" in page


async def test_names_only_never_an_account_id(dw: DeskWorld, people: dict[str, Browser]) -> None:
    code = await invite(people["jan"], f"coordinator:{dw.bins['zuid']}")
    await dw.h.say("zed4711", "/redeem " + code)
    async with dw.h.core.uow() as uow:
        ident = await uow.people.identity(dw.h.platform.platform.value, "zed4711")
        assert ident is not None
        ident.display_name = ""
        await uow.commit()
    page = await people["jan"].get("/desk/people")
    [row] = [r for r in rows_of(page, "coordinators") if r.startswith("Zuid")]
    assert row.startswith("Zuid (no name) ") and "Jan" in row
    assert "zed4711" not in page.lower()


async def test_a_coordinator_sees_their_own_bins_coordinators_only(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    await invite(people["jan"], f"coordinator:{dw.bins['zuid']}")
    an = people["an"]
    page = await an.get("/desk/people")
    assert an.status == 200
    assert [r.split(" 5 Jan")[0] for r in rows_of(page, "coordinators")] == ["Noord An (you)"]
    assert rows_of(page, "officers") == [] and rows_of(page, "invites") == []
    for hidden in ("Jan", "Pia", "Zuid", "Oost", "Revoke", "New invite", "Open invites"):
        assert hidden not in undated(page.split("</details>")[1]), hidden
    assert "ask the police or the prevention service of your zone" in page
    bert = people["bert"]
    page = await bert.get("/desk/people")
    assert "Kern Bert (you)" in rows_of(page, "coordinators")[0] and "Noord" not in page


async def test_without_a_session_nothing_is_shown_or_done(dw: DeskWorld) -> None:
    stranger = Browser(dw.base)
    try:
        for path in ("/desk/people", "/desk/people/invite", "/desk/people/roles/1/revoke"):
            await stranger.get(path)
            assert stranger.status == 401 and "Not logged in" in stranger.text, path
        await stranger.post(
            "/desk/people/invite", {"what": f"coordinator:{dw.bins['noord']}", "expires": "7d"}
        )
        assert stranger.status == 401
        await stranger.post("/desk/people/roles/1/revoke", {})
        assert stranger.status == 401
    finally:
        await stranger.close()
    assert await desk_invites(dw) == []
    assert len(await grants(dw)) == 4


async def test_a_resident_gets_no_desk_at_all(dw: DeskWorld) -> None:
    await dw.h.say("kim", "/desk")
    assert "/desk/login/" not in dw.h.last("kim")
    assert "police, prevention and coordinators" in dw.h.last("kim")


# -- issuing invites -----------------------------------------------------------------------


async def test_an_officer_invites_a_coordinator_and_the_code_works_once_in_chat(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    jan = people["jan"]
    form = await jan.get(f"/desk/people/invite?what=coordinator:{dw.bins['oost']}")
    assert f'<option value="coordinator:{dw.bins["oost"]}" selected>' in form
    assert "Coordinator of Oost (zone Beringen)" in form and "Police, zone Beringen" in form
    assert "Prevention service" not in form and "Kern" not in form
    page = await jan.post(
        "/desk/people/invite", {"what": f"coordinator:{dw.bins['oost']}", "expires": "3d"}
    )
    found = CODE.search(page)
    assert jan.status == 200 and found
    code = found.group(1)
    assert "Invite as coordinator: Oost" in page and "shown now and never again" in page
    # No Telegram username configured: the command to type, and a QR code of the code itself.
    assert f'<code id="command-telegram">/redeem {code}</code>' in page
    assert f'<code id="command-matrix">!redeem {code}</code>' in page
    assert "t.me" not in page and page.count("<svg") == 1 and 'id="qr-code"' in page
    [new] = await desk_invites(dw)
    assert new.code_hash == hashlib.sha256(code.replace("-", "").encode()).hexdigest()
    assert new.role == "coordinator" and new.bin_id == dw.bins["oost"]
    assert new.created_by == await pseudonym(dw, "jan")
    assert (new.expires_at - new.created_at).days == 3
    [entry] = [e for e in await dw.audit("invite.issue") if e.actor != "admin"]
    assert entry.actor == new.created_by and entry.outcome == "ok"
    assert (entry.detail or {})["invite"] == new.id

    await dw.h.say("olga", f"/start {code}")
    assert "coordinator" in dw.h.texts("olga")[0]
    await dw.h.say("otto", f"/redeem {code}")
    assert dw.h.last("otto") == texts.text("core.redeem_refused", "nl")  # a newcomer's language
    assert [g for g in await grants(dw) if g[0] in ("olga", "otto")] == [
        ("olga", "coordinator", None, dw.bins["oost"])
    ]
    page = await jan.get("/desk/people")
    [row] = [r for r in rows_of(page, "coordinators") if r.startswith("Oost")]
    assert row.startswith("Oost Olga ") and " Jan " in row + " "
    assert rows_of(page, "invites") == []
    # The code is not shown again anywhere.
    assert code not in page and code not in await jan.get("/desk/people/invite")


async def test_the_deep_links_follow_the_configured_accounts(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    dw.h.core.config = dataclasses.replace(
        dw.h.core.config, telegram_username="BinbotTestBot", matrix_user_id="@binbot:example.org"
    )
    page = await people["jan"].post(
        "/desk/people/invite", {"what": f"coordinator:{dw.bins['oost']}", "expires": "7d"}
    )
    code = CODE.search(page)
    assert code
    link = f"https://t.me/BinbotTestBot?start={code.group(1)}"
    assert f'<a id="link-telegram" href="{link}">{link}</a>' in page
    matrix = f"https://matrix.to/#/@binbot:example.org?text=%21redeem%20{code.group(1)}"
    assert f'<a id="link-matrix" href="{matrix}">' in page
    assert page.count("<svg") == 2 and 'id="qr-telegram"' in page and 'id="qr-matrix"' in page
    assert "command-telegram" not in page


async def test_each_organisation_invites_its_own_people_in_its_own_zone(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    beringen, hasselt = await zone_id(dw, "Beringen"), await zone_id(dw, "Hasselt")
    jan, pia = people["jan"], people["pia"]
    await invite(jan, f"police:{beringen}")
    await invite(pia, f"prevention:{beringen}")
    await invite(pia, f"coordinator:{dw.bins['noord']}")
    made = [(i.role, i.zone_id, i.bin_id) for i in await desk_invites(dw)]
    assert made == [
        ("police", beringen, None),
        ("prevention", beringen, None),
        ("coordinator", None, dw.bins["noord"]),
    ]
    for browser, what, status in (
        (jan, f"prevention:{beringen}", 403),  # another organisation
        (pia, f"police:{beringen}", 403),
        (jan, f"police:{hasselt}", 404),  # another zone
        (jan, f"coordinator:{dw.bins['kern']}", 404),
        (people["piet"], f"coordinator:{dw.bins['noord']}", 404),
        (people["an"], f"coordinator:{dw.bins['noord']}", 403),  # a co-coordinator
        (people["an"], f"coordinator:{dw.bins['zuid']}", 404),
        (people["bert"], f"coordinator:{dw.bins['noord']}", 404),
        (jan, "coordinator:999999", 404),
        (jan, "admin:1", 400),
        (jan, "member:1", 400),
    ):
        await browser.post("/desk/people/invite", {"what": what, "expires": "7d"})
        assert browser.status == status, (what, browser.text)
        assert CODE.search(browser.text) is None
        if status == 403:
            assert "You may not do this" in browser.text
    assert len(await desk_invites(dw)) == 3
    na, nv, bad = "not_allowed", "not_visible", "bad_request"
    reasons = [na, na, nv, nv, nv, na, nv, nv, nv, bad, bad]
    assert await refusals(dw) == [("invite.issue", r) for r in reasons]


async def test_a_coordinator_gets_no_invite_form(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    an = people["an"]
    await an.get("/desk/people/invite")
    assert an.status == 403 and "You may not do this" in an.text and 'id="what"' not in an.text
    assert await refusals(dw) == [("invite.issue", "not_allowed")]


async def test_a_bad_validity_is_refused_with_a_reason_and_nothing_is_made(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    jan = people["jan"]
    for expires in ("0m", "366d", "forever", ""):
        await jan.post(
            "/desk/people/invite", {"what": f"coordinator:{dw.bins['oost']}", "expires": expires}
        )
        assert jan.status == 400 and "from 1 minute to 365 days" in jan.text, expires
        assert f'<option value="coordinator:{dw.bins["oost"]}" selected>' in jan.text
    assert await desk_invites(dw) == []


async def test_a_forged_post_changes_nothing(dw: DeskWorld, people: dict[str, Browser]) -> None:
    jan = people["jan"]
    await jan.get("/desk/people")
    an_grant = await grant_of(dw, "an", "coordinator")
    what = {"what": f"coordinator:{dw.bins['oost']}", "expires": "7d"}
    await jan.post("/desk/people/invite", what, csrf=False)
    assert jan.status == 403
    await jan.post("/desk/people/invite", {**what, "csrf": "0" * 64}, csrf=False)
    assert jan.status == 403
    await jan.post("/desk/people/invite", what, origin="https://evil.example")
    assert jan.status == 403
    await jan.post(f"/desk/people/roles/{an_grant.id}/revoke", {}, csrf=False)
    assert jan.status == 403
    code = await invite(jan, f"coordinator:{dw.bins['oost']}")
    assert code
    [mine] = await desk_invites(dw)
    await jan.post(f"/desk/people/invites/{mine.id}/revoke", {}, csrf=False)
    assert jan.status == 403
    assert len(await desk_invites(dw)) == 1 and (await desk_invites(dw))[0].revoked_at is None
    assert (await grant_of(dw, "an", "coordinator")).revoked_at is None
    assert [r for r in await refusals(dw)] == [("desk.post", "csrf")] * 2 + [
        ("desk.post", "origin"),
        ("desk.post", "csrf"),
        ("desk.post", "csrf"),
    ]


# -- open invites --------------------------------------------------------------------------


async def test_open_invites_are_listed_and_revoked_after_confirming(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    jan = people["jan"]
    code = await invite(jan, f"coordinator:{dw.bins['zuid']}", "1d")
    [mine] = await desk_invites(dw)
    page = await jan.get("/desk/people")
    [row] = rows_of(page, "invites")
    assert row.startswith(f"coordinator #{mine.id} Zuid Jan ") and row.endswith("Revoke…")
    confirm = await jan.get(f"/desk/people/invites/{mine.id}/revoke")
    assert jan.status == 200
    assert f"Revoke open invite #{mine.id} as coordinator (Zuid)" in confirm
    assert (await desk_invites(dw))[0].revoked_at is None  # asking is not doing
    done = await jan.post(f"/desk/people/invites/{mine.id}/revoke", {})
    assert jan.status == 200 and "is revoked: its code no longer works" in done
    assert (await desk_invites(dw))[0].revoked_at is not None
    [entry] = await dw.audit("invite.revoke")
    assert entry.actor == await pseudonym(dw, "jan") and entry.bin_id == dw.bins["zuid"]
    assert rows_of(await jan.get("/desk/people"), "invites") == []
    await dw.h.say("olga", "/redeem " + code)
    assert ("olga", "coordinator", None, dw.bins["zuid"]) not in await grants(dw)
    await jan.post(f"/desk/people/invites/{mine.id}/revoke", {})
    assert jan.status == 409 and "no longer open" in jan.text


async def test_invites_are_revoked_only_by_who_could_issue_them(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    beringen = await zone_id(dw, "Beringen")
    await invite(people["jan"], f"police:{beringen}")
    [police] = await desk_invites(dw)
    page = await people["pia"].get("/desk/people")
    [row] = rows_of(page, "invites")
    assert "Revoke" not in row  # Pia sees it, but it is the police's
    for name, status in (("pia", 403), ("piet", 404), ("an", 404), ("bert", 404)):
        b = people[name]
        await b.get(f"/desk/people/invites/{police.id}/revoke")
        assert b.status == status, name
        await b.get("/desk/people")
        await b.post(f"/desk/people/invites/{police.id}/revoke", {})
        assert b.status == status, name
    assert (await desk_invites(dw))[0].revoked_at is None
    assert (
        await refusals(dw)
        == [
            ("invite.revoke", "not_allowed"),
            ("invite.revoke", "not_allowed"),
        ]
        + [("invite.revoke", "not_visible")] * 6
    )


# -- revoking roles ------------------------------------------------------------------------


async def test_revoking_a_coordinator_ends_their_sessions_and_tells_the_coordinators(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    jan, an = people["jan"], people["an"]
    code = await invite(jan, f"coordinator:{dw.bins['noord']}")
    await dw.h.say("kim", "/redeem " + code)
    dw.h.new("kim")
    dw.h.new("an")
    target = await grant_of(dw, "an", "coordinator")
    page = await jan.get(f"/desk/people/roles/{target.id}/revoke")
    assert "Revoke the role of An as coordinator (Noord)?" in page
    assert "The other coordinators of Noord are told in chat (1)." in page
    assert await dw.count(DeskSession) == 5 and dw.h.new("kim") == []  # nothing yet
    done = await jan.post(f"/desk/people/roles/{target.id}/revoke", {})
    assert jan.status == 200
    assert "An no longer holds the role of coordinator (Noord)." in done
    assert "Desk sessions ended: 1." in done
    assert "An was told in chat." in done
    assert "Other coordinators of Noord told in chat: 1." in done
    assert (await grant_of(dw, "kim", "coordinator")).revoked_at is None
    async with dw.h.db.session() as s:
        revoked = await s.get(RoleGrant, target.id)
        assert revoked is not None and revoked.revoked_by == await pseudonym(dw, "jan")
    [told] = dw.h.new("an")
    assert told == (
        "Your role as coordinator (Noord) was revoked by Police zone Beringen."
        " Your sessions on the desk have ended."
    )
    [told] = dw.h.new("kim")
    assert (
        told
        == "An is no longer a coordinator of Noord: the role was revoked by Police zone Beringen."
    )
    await an.get("/desk/people")
    assert an.status == 401
    [entry] = await dw.audit("role.revoke")
    assert entry.actor == await pseudonym(dw, "jan") and entry.bin_id == dw.bins["noord"]
    assert (entry.detail or {})["person"] == await pseudonym(dw, "an")
    assert [e.detail for e in await dw.audit("desk.session_end")] == [
        {"reason": "role", "sessions": 1}
    ]
    # Revoked on the People page too, and asking again is as if it were not there.
    page = await jan.get("/desk/people")
    assert [r.split(" ")[1] for r in rows_of(page, "coordinators") if r.startswith("Noord")] == [
        "Kim"
    ]
    await jan.post(f"/desk/people/roles/{target.id}/revoke", {})
    assert jan.status == 404


async def test_a_police_officer_revokes_a_colleague_but_not_prevention_nor_themselves(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    beringen = await zone_id(dw, "Beringen")
    jan, pia = people["jan"], people["pia"]
    code = await invite(jan, f"police:{beringen}")
    await dw.h.say("ward", "/redeem " + code)
    ward = await grant_of(dw, "ward", "police")
    page = await jan.get("/desk/people")
    officers = rows_of(page, "officers")
    assert [r.split(" ")[0] for r in officers] == ["Jan", "Pia", "Ward"]
    assert "Revoke" not in officers[0] and "Revoke" not in officers[1]
    assert officers[2].endswith("Jan Revoke…")
    own = await grant_of(dw, "jan", "police")
    for path in (f"/desk/people/roles/{own.id}/revoke",):
        await jan.get(path)
        assert jan.status == 403 and "Nobody revokes their own role" in jan.text
        await jan.get("/desk/people")
        await jan.post(path, {})
        assert jan.status == 403
    prevention = await grant_of(dw, "pia", "prevention")
    await jan.post(f"/desk/people/roles/{prevention.id}/revoke", {})
    assert jan.status == 403 and "You may not do this" in jan.text
    await pia.get("/desk/people")
    await pia.post(f"/desk/people/roles/{ward.id}/revoke", {})
    assert pia.status == 403
    await jan.get("/desk/people")
    done = await jan.post(f"/desk/people/roles/{ward.id}/revoke", {})
    assert jan.status == 200 and "Ward no longer holds the role of police (Beringen)." in done
    assert "Other coordinators" not in done
    assert (
        dw.h.last("ward") == "Your role as police (Beringen) was revoked by Police zone Beringen."
    )
    assert ("ward", "police", beringen, None) not in await grants(dw)
    assert await refusals(dw) == [
        ("role.revoke", "own_role"),
        ("role.revoke", "own_role"),
        ("role.revoke", "not_allowed"),
        ("role.revoke", "not_allowed"),
    ]


async def test_roles_of_another_zone_or_bin_cannot_be_revoked(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    before = await grants(dw)
    an_role = await grant_of(dw, "an", "coordinator")
    bert_role = await grant_of(dw, "bert", "coordinator")
    jan_role = await grant_of(dw, "jan", "police")
    for name, grant, status in (
        ("piet", an_role, 404),  # another zone's officer
        ("piet", jan_role, 404),
        ("jan", bert_role, 404),
        ("bert", an_role, 404),  # a coordinator of another BIN
        ("an", jan_role, 404),  # a coordinator, about an officer
        ("jan", None, 404),
    ):
        b = people[name]
        path = f"/desk/people/roles/{grant.id if grant else 999999}/revoke"
        await b.get(path)
        assert b.status == status, (name, path)
        await b.get("/desk/people")
        await b.post(path, {})
        assert b.status == status, (name, path)
    # A coordinator may not revoke a co-coordinator of their own BIN either.
    code = await invite(people["jan"], f"coordinator:{dw.bins['noord']}")
    await dw.h.say("kim", "/redeem " + code)
    kim_role = await grant_of(dw, "kim", "coordinator")
    an = people["an"]
    page = await an.get("/desk/people")
    assert "Revoke" not in page.split("<main")[1]
    await an.post(f"/desk/people/roles/{kim_role.id}/revoke", {})
    assert an.status == 403
    assert await grants(dw) == sorted(
        [*before, ("kim", "coordinator", None, dw.bins["noord"])], key=str
    )
    assert await refusals(dw) == [("role.revoke", "not_visible")] * 12 + [
        ("role.revoke", "not_allowed")
    ]


# -- who granted a role, kept with the role ------------------------------------------------


async def test_who_granted_a_role_outlives_the_invite(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    code = await invite(people["jan"], f"coordinator:{dw.bins['oost']}")
    await dw.h.say("olga", "/redeem " + code)
    grant = await grant_of(dw, "olga", "coordinator")
    assert grant.granted_by == await pseudonym(dw, "jan")
    async with dw.h.db.session() as s:  # as the retention job does with old invites
        row = await s.get(RoleGrant, grant.id)
        assert row is not None and row.invite_id is not None
        invite_row = await s.get(Invite, row.invite_id)
        row.invite_id = None
        await s.flush()
        await s.delete(invite_row)
        await s.commit()
    page = await people["pia"].get("/desk/people")
    [row_text] = [r for r in rows_of(page, "coordinators") if r.startswith("Oost")]
    assert row_text.startswith("Oost Olga ") and row_text.endswith(" Jan Revoke…")
    # Once the inviter's data is erased, who it was is no longer known.
    async with dw.h.db.session() as s:
        jan = (
            await s.execute(select(Person).where(Person.pseudonym == grant.granted_by))
        ).scalar_one()
        jan.pseudonym = "p-gone"
        await s.commit()
    page = await people["pia"].get("/desk/people")
    [row_text] = [r for r in rows_of(page, "coordinators") if r.startswith("Oost")]
    assert " unknown " in row_text + " "


def said(key: str, lang: str, **values: object) -> str:
    """A text as the page shows it (escaped)."""
    return str(escape(texts.text(key, lang, **values)))


@pytest.mark.parametrize("lang", ["nl", "fr", "de"])
async def test_every_step_speaks_the_desks_language(
    dw: DeskWorld, people: dict[str, Browser], lang: str
) -> None:
    jan = people["jan"]
    await jan.get("/desk/people")
    await jan.post("/desk/language", {"lang": lang, "back": "/desk/people"})
    page = await jan.get("/desk/people")
    assert said("people.title", lang) in page and said("people.nav", lang) in page
    assert said("people.rules_title", lang) in page
    form = await jan.get("/desk/people/invite")
    assert said("people.choice_coordinator", lang, bin="Oost", zone="Beringen") in form
    assert said("people.expiry_7d", lang) in form
    done = await jan.post(
        "/desk/people/invite", {"what": f"coordinator:{dw.bins['oost']}", "expires": "7d"}
    )
    assert said("people.issued_title", lang) in done and CODE.search(done)
    [made] = await desk_invites(dw)
    confirm = await jan.get(f"/desk/people/invites/{made.id}/revoke")
    assert said("people.confirm_revoke_invite", lang) in confirm
    an_role = await grant_of(dw, "an", "coordinator")
    confirm = await jan.get(f"/desk/people/roles/{an_role.id}/revoke")
    assert said("people.confirm_revoke_role", lang) in confirm
    await jan.get(f"/desk/people/roles/{(await grant_of(dw, 'jan', 'police')).id}/revoke")
    assert jan.status == 403 and said("people.own_role_title", lang) in jan.text


async def test_odd_ids_and_choices_are_refused_plainly(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    jan = people["jan"]
    for path in ("/desk/people/roles/²/revoke", "/desk/people/invites/1٣/revoke"):
        await jan.get(path)
        assert jan.status == 404, path
    await jan.get("/desk/people")
    for what in ("coordinator:²", "coordinator:", "coordinator", ":1", "coordinator:1:2"):
        await jan.post("/desk/people/invite", {"what": what, "expires": "7d"})
        assert jan.status == 400 and "not understood" in jan.text, what
    assert await desk_invites(dw) == []


async def test_an_archived_bin_takes_no_new_coordinator(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    jan = people["jan"]
    await jan.post(f"/desk/bins/{dw.bins['oost']}/archive", {"archive": "archive"})
    assert "archived" in jan.text
    form = await jan.get("/desk/people/invite")
    assert "Coordinator of Oost" not in form and "Coordinator of Noord" in form
    await jan.post(
        "/desk/people/invite", {"what": f"coordinator:{dw.bins['oost']}", "expires": "3d"}
    )
    assert jan.status == 409 and "This BIN is archived" in jan.text
    assert await desk_invites(dw) == []
    assert ("invite.issue", "archived") in await refusals(dw)
    # The shell keeps the same rule.
    await dw.h.admin("invite coordinator --bin oost")
    assert "Oost is archived" in " ".join(dw.h.output)
    assert await desk_invites(dw) == []
