"""The desk's People page: role holders, invites (the code, its QR code and its links, shown
once) and revocations, each behind a confirmation step.

Who may see and do what is decided in bot/services/desk_people.py; a refusal here only
chooses the page that says so, after the service audited it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import segno
from aiohttp import web
from markupsafe import Markup

from adapters.http.desk_pages import _int
from bot.services import desk, desk_people, desk_revoke
from bot.services.desk import Viewer
from bot.services.desk_people import Refused

if TYPE_CHECKING:
    from adapters.http.desk import Desk

# What a refusal inside the viewer's own zone or BIN says (outside it: "not found").
REFUSALS = {
    "not_allowed": ("people.not_allowed", 403),
    "own_role": ("people.own_role", 403),
    "invite_closed": ("people.invite_closed", 409),
    "archived": ("people.bin_archived", 409),
    "bad_request": ("desk.bad_request", 400),
}


def _id(request: web.Request, name: str) -> int:
    """A row id from the path (0, which matches nothing, for anything but ASCII digits)."""
    return _int(request.match_info[name], 0) or 0


def qr_svg(content: str, title: str) -> Markup:
    """A QR code as inline SVG markup (no image URL: the page's CSP allows none but its own).
    Segno escapes the title; the rest is path data it drew."""
    code = segno.make(content, error="m")
    svg = code.svg_inline(scale=5, border=4, dark="#000", light="#fff", title=title, omitsize=True)
    return Markup(svg.replace('class="segno"', 'class="qr" role="img"', 1))


class PeoplePages:
    """The handlers of /desk/people and its invite and revoke steps."""

    def __init__(self, site: Desk) -> None:
        self.site = site
        self.core = site.core

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/people", self.people)
        router.add_get("/people/invite", self.invite_form)
        router.add_post("/people/invite", self.invite)
        router.add_get("/people/invites/{invite_id}/revoke", self.confirm_invite)
        router.add_post("/people/invites/{invite_id}/revoke", self.revoke_invite)
        router.add_get("/people/roles/{grant_id}/revoke", self.confirm_role)
        router.add_post("/people/roles/{grant_id}/revoke", self.revoke_role)

    def _refusal(self, request: web.Request, who: Viewer, why: Refused) -> web.HTTPException:
        """The page a refusal gets (already audited by the service)."""
        if why.hidden or why.reason not in REFUSALS:
            return self.site.refuse(request, who)
        key, status = REFUSALS[why.reason]
        page = self.site.notice(request, key, status=status, who=who)
        return _with(status, page)

    # -- the page ----------------------------------------------------------------------------

    async def people(self, request: web.Request) -> web.StreamResponse:
        """Officers, coordinators and open invites of the viewer's zones (or, for a
        coordinator, their own BINs' coordinators)."""
        who = await self.site.viewer(request)
        found = await desk_people.people(self.core, who)
        return self.site.page(request, who, "people.html", view=found)

    # -- invites -----------------------------------------------------------------------------

    async def _form(
        self,
        request: web.Request,
        who: Viewer,
        *,
        what: str = "",
        expires: str = desk_people.DEFAULT_EXPIRY,
        error: str = "",
    ) -> web.Response:
        choices = await desk_people.choices(self.core, who)
        if not choices:
            await desk.refused(self.core, who, "invite.issue", "not_allowed")
            raise self._refusal(request, who, Refused("not_allowed"))
        return self.site.page(
            request,
            who,
            "invite_new.html",
            status=400 if error else 200,
            choices=choices,
            what=what,
            expires=expires,
            expiry_choices=desk_people.EXPIRY_CHOICES,
            error=error,
            issued=None,
        )

    async def invite_form(self, request: web.Request) -> web.StreamResponse:
        """The form: for whom (a BIN's coordinator, or one's own organisation) and how long."""
        who = await self.site.viewer(request)
        return await self._form(request, who, what=request.query.get("what", "")[:40])

    async def invite(self, request: web.Request) -> web.StreamResponse:
        """Issue the invite and show its code, QR code and links: this once only."""
        who = await self.site.viewer(request)
        fields = await self.site.form(request, who)
        what, expires = fields.get("what", "")[:40], fields.get("expires", "")[:10]
        issued = await desk_people.issue(self.core, who, what, expires)
        if isinstance(issued, Refused):
            if issued.reason == "expires":
                return await self._form(
                    request, who, what=what, expires=expires, error="people.bad_expiry"
                )
            raise self._refusal(request, who, issued)
        links = issued.links
        qr = []
        if links.telegram:
            qr.append(("telegram", qr_svg(links.telegram, "Telegram")))
        if links.matrix:
            qr.append(("matrix", qr_svg(links.matrix, "Matrix")))
        if not qr:
            qr.append(("code", qr_svg(issued.code, issued.code)))
        return self.site.page(request, who, "invite_new.html", issued=issued, qr=qr)

    async def confirm_invite(self, request: web.Request) -> web.StreamResponse:
        """Revoking an open invite: what it is, and a button to confirm."""
        who = await self.site.viewer(request)
        invite_id = _id(request, "invite_id")
        found = await desk_revoke.invite_to_revoke(self.core, who, invite_id)
        if isinstance(found, Refused):
            raise self._refusal(request, who, found)
        return self.site.page(request, who, "revoke.html", kind="invite", item=found, done=None)

    async def revoke_invite(self, request: web.Request) -> web.StreamResponse:
        """Revoke the invite (confirmed)."""
        who = await self.site.viewer(request)
        await self.site.form(request, who)
        invite_id = _id(request, "invite_id")
        done = await desk_revoke.revoke_invite(self.core, who, invite_id)
        if isinstance(done, Refused):
            raise self._refusal(request, who, done)
        return self.site.page(request, who, "revoke.html", kind="invite", item=done, done=done)

    # -- roles -------------------------------------------------------------------------------

    async def confirm_role(self, request: web.Request) -> web.StreamResponse:
        """Revoking a role: whose, and what will follow, with a button to confirm."""
        who = await self.site.viewer(request)
        grant_id = _id(request, "grant_id")
        found = await desk_revoke.role_to_revoke(self.core, who, grant_id)
        if isinstance(found, Refused):
            raise self._refusal(request, who, found)
        return self.site.page(request, who, "revoke.html", kind="role", item=found, done=None)

    async def revoke_role(self, request: web.Request) -> web.StreamResponse:
        """Revoke the role (confirmed), and show what followed: sessions ended, who was told."""
        who = await self.site.viewer(request)
        await self.site.form(request, who)
        grant_id = _id(request, "grant_id")
        done = await desk_revoke.revoke_role(self.core, who, grant_id)
        if isinstance(done, Refused):
            raise self._refusal(request, who, done)
        return self.site.page(request, who, "revoke.html", kind="role", item=done, done=done)


def _with(status: int, page: web.Response) -> web.HTTPException:
    """A refusal page as the exception aiohttp answers with."""
    kinds: dict[int, type[web.HTTPException]] = {
        400: web.HTTPBadRequest,
        403: web.HTTPForbidden,
        409: web.HTTPConflict,
    }
    return kinds[status](text=page.text, content_type="text/html")
