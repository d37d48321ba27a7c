"""Logging into the desk from chat: one-time links, sessions, and their end."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from yarl import URL

from storage.tables import DeskLogin, DeskSession, RoleGrant
from tests.desk.client import Browser
from tests.desk.world import DeskWorld


@pytest.fixture
async def browser(dw: DeskWorld) -> AsyncIterator[Browser]:
    b = Browser(dw.base)
    yield b
    await b.close()


async def test_a_resident_is_told_the_desk_is_not_for_them(dw: DeskWorld) -> None:
    await dw.h.say("kim", "/desk")
    assert dw.h.last("kim").startswith("The desk is for police, prevention and coordinators.")
    assert "is only for" not in dw.h.last("kim")  # the desk's own words, not the generic ones
    assert [e.detail for e in await dw.audit("command.desk", "refused")] == [{"reason": "role"}]
    await dw.h.say("kim", "/help")
    assert "/desk" not in dw.h.last("kim")  # not offered to residents
    assert await dw.count(DeskLogin) == 0


async def test_desk_in_a_group_is_not_answered_with_a_link(dw: DeskWorld) -> None:
    await dw.h.say("jan", "/desk", chat="noord-1")
    assert not any("/desk/login/" in t for t in dw.h.texts("noord-1"))
    assert await dw.count(DeskLogin) == 0


async def test_an_officer_logs_in_with_the_link_and_sees_the_zone(
    dw: DeskWorld, browser: Browser
) -> None:
    link = await dw.link("jan")
    assert "works once, for 10 minutes" in dw.h.last("jan")
    async with browser.session.get(link, allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"] == "/desk/"
        set_cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
    assert "Path=/desk" in set_cookie and "Secure" not in set_cookie  # the public URL is http
    page = await browser.get("/desk/")
    assert browser.status == 200 and "Zone Beringen" in page and "Noord" in page
    assert "Hasselt" not in page and "Kern" not in page
    cookie = browser.session.cookie_jar.filter_cookies(URL(dw.base + "/desk/"))["binbot_desk"]
    token = link.rsplit("/", 1)[1]
    async with dw.h.db.session() as s:
        stored = (await s.execute(select(DeskLogin.token_hash))).scalars().all()
        sessions = (await s.execute(select(DeskSession.token_hash))).scalars().all()
    assert stored == [hashlib.sha256(token.encode()).hexdigest()]  # only a hash is kept
    assert cookie.value not in sessions and len(sessions) == 1
    assert [e.outcome for e in await dw.audit("desk.login")] == ["ok"]


async def test_a_reused_link_is_refused_plainly(dw: DeskWorld, browser: Browser) -> None:
    link = await dw.link("jan")
    await browser.get(link)
    other = Browser(dw.base)
    try:
        page = await other.get(link)
        assert other.status == 403 and "This link does not work" in page
        await other.get("/desk/")
        assert other.status == 401
    finally:
        await other.close()
    assert [e.detail for e in await dw.audit("desk.login", "refused")] == [{"reason": "used"}]


async def test_a_stale_link_is_refused(dw: DeskWorld, browser: Browser) -> None:
    link = await dw.link("jan")
    dw.h.clock.advance(minutes=10, seconds=1)
    page = await browser.get(link)
    assert browser.status == 403 and "works once, for ten minutes" in page
    assert [e.detail for e in await dw.audit("desk.login", "refused")] == [{"reason": "expired"}]
    assert await dw.count(DeskSession) == 0


async def test_a_forged_link_is_refused(dw: DeskWorld, browser: Browser) -> None:
    await browser.get("/desk/login/" + "0" * 64)
    assert browser.status == 403 and "This link does not work" in browser.text
    await browser.get("/desk/login/<script>")
    assert browser.status == 403 and "<script>" not in browser.text
    assert await dw.count(DeskSession) == 0


async def test_login_links_are_rate_limited_per_person(dw: DeskWorld) -> None:
    for _ in range(5):
        await dw.link("jan")
    await dw.h.say("jan", "/desk")
    assert "You asked for 5 links in the last hour" in dw.h.last("jan")
    assert await dw.count(DeskLogin) == 5
    await dw.link("an")  # another person is not held back
    dw.h.clock.advance(hours=1, minutes=1)
    await dw.link("jan")


async def test_without_a_cookie_every_page_says_how_to_log_in(browser: Browser) -> None:
    for path in ("/desk/", "/desk/messages", "/desk/compose", "/desk/bins/1"):
        page = await browser.get(path)
        assert browser.status == 401 and "/desk" in page and "Not logged in" in page, path


async def test_revoking_the_role_ends_the_session_at_once(dw: DeskWorld, browser: Browser) -> None:
    await browser.get(await dw.link("jan"))
    async with dw.h.db.session() as s:
        grant = (
            (await s.execute(select(RoleGrant).where(RoleGrant.role == "police")))
            .scalars()
            .first()
        )
    assert grant is not None
    said = await dw.h.admin(f"revoke role {grant.id}")
    assert said == [f"role police (grant {grant.id}) revoked; desk sessions ended: 1"]
    await browser.get("/desk/")
    assert browser.status == 401
    assert await dw.count(DeskSession) == 0
    assert [e.detail for e in await dw.audit("desk.session_end")] == [
        {"reason": "role", "sessions": 1}
    ]


async def test_forgetme_ends_the_session(dw: DeskWorld, browser: Browser) -> None:
    await browser.get(await dw.link("an"))
    await dw.h.say("an", "/forgetme")
    await dw.h.press("an", dw.h.platform.in_chat("an")[-1].buttons[0][0])
    assert await dw.count(DeskSession) == 0
    await browser.get("/desk/")
    assert browser.status == 401


async def test_a_session_unused_for_eight_hours_ends(dw: DeskWorld, browser: Browser) -> None:
    await browser.get(await dw.link("jan"))
    dw.h.clock.advance(hours=7, minutes=59)
    await browser.get("/desk/")
    assert browser.status == 200  # used: the idle clock starts again
    dw.h.clock.advance(hours=8, minutes=1)
    await browser.get("/desk/")
    assert browser.status == 401
    assert [e.detail for e in await dw.audit("desk.session_end")] == [{"reason": "idle"}]


async def test_logout_ends_the_session(dw: DeskWorld, browser: Browser) -> None:
    await browser.get(await dw.link("jan"))
    await browser.post("/desk/logout", {})
    assert browser.status == 200 and "You are logged out" in browser.text
    assert await dw.count(DeskSession) == 0
    await browser.get("/desk/")
    assert browser.status == 401


async def test_the_language_follows_the_chat_and_can_be_switched(
    dw: DeskWorld, browser: Browser
) -> None:
    await dw.h.say("jan", "/language fr")
    await browser.get(await dw.link("jan"))
    assert '<html lang="fr">' in browser.text and "Aperçu" in browser.text
    for lang, word in (("nl", "Overzicht"), ("de", "Übersicht"), ("en", "Overview")):
        await browser.post("/desk/language", {"lang": lang, "back": "/desk/"})
        assert f'<html lang="{lang}">' in browser.text and word in browser.text
