"""The desk: web pages for police, prevention and coordinators, under `/desk/` on the same
aiohttp server as `/healthz`.

An adapter like the chat platforms: it turns HTTP requests into calls of the same services
the chat commands use (bot/services/desk*.py, alerts, membership), and renders what they
return with Jinja2 (autoescaped). Here live only the web's own defences: the session cookie,
a CSRF token in every form plus an Origin check on every POST, and headers that forbid
inline scripts and framing. Who may see and do what is decided in bot/services/desk.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp_jinja2
import jinja2
from aiohttp import web
from markupsafe import Markup, escape

from bot import media, texts
from bot.model import LANGUAGES, Rich
from bot.services import desk, desk_photos
from bot.services.desk import Viewer

if TYPE_CHECKING:
    from bot.dispatch import Core

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
COOKIE = "binbot_desk"
WHO: web.AppKey[Viewer] = web.AppKey("who", Viewer)
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def rich_html(body: Rich) -> Markup:
    """Rich text as HTML: every span escaped (markup a person typed shows literally), bold
    as <strong>; line breaks are kept by the stylesheet (white-space: pre-wrap)."""
    out = []
    for span in body.spans:
        text = escape(span.text)
        out.append(Markup("<strong>{}</strong>").format(text) if span.bold else text)
    return Markup("").join(out)


def accepted_language(request: web.Request, default: str) -> str:
    """The browser's preferred desk language, for pages shown before anyone is known."""
    for part in request.headers.get("Accept-Language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return default


class Desk:
    """The desk's routes, as a sub-application mounted at /desk."""

    def __init__(self, core: Core, public_url: str) -> None:
        self.core = core
        self.public_url = public_url.rstrip("/")
        self.secure = self.public_url.startswith("https://")
        parts = urlsplit(self.public_url)
        self.origin = f"{parts.scheme}://{parts.netloc}"

    def install(self, app: web.Application) -> None:
        """Mount the desk at /desk on `app`."""
        from adapters.http import desk_bins, desk_figures, desk_pages, desk_people, desk_poster

        sub = web.Application(middlewares=[self._headers])
        env = aiohttp_jinja2.setup(
            sub,
            loader=jinja2.FileSystemLoader(str(HERE / "templates")),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        env.filters["rich"] = rich_html
        pages = desk_pages.Pages(self)
        sub.router.add_get("/login/{token}", self.login)
        sub.router.add_post("/logout", self.logout)
        sub.router.add_post("/language", self.language)
        sub.router.add_static("/static/", HERE / "static", append_version=True)
        desk_bins.BinPages(self).add_routes(sub.router)  # before /bins/{bin_id}
        pages.add_routes(sub.router)
        desk_figures.FigurePages(self).add_routes(sub.router)
        posters = desk_poster.PosterPages(self)
        posters.add_routes(sub.router)
        env.globals.update(posters.template_globals())
        desk_people.PeoplePages(self).add_routes(sub.router)
        app.add_subapp("/desk", sub)
        app.router.add_get("/desk", self._slash)

    async def _slash(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/desk/")

    @web.middleware
    async def _headers(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            self._secure_headers(request, exc.headers)
            raise
        self._secure_headers(request, response.headers)
        return response

    @staticmethod
    def _secure_headers(request: web.Request, headers: Any) -> None:
        headers["Content-Security-Policy"] = CSP
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        # No address of the desk (a login link carries its token) goes to another site; within
        # the desk the browser sends its Origin, which a POST must carry (with no-referrer,
        # Chromium sends "Origin: null" and the check would refuse every form).
        headers["Referrer-Policy"] = "same-origin"
        if not request.path.startswith("/desk/static/"):
            headers["Cache-Control"] = "no-store"

    # -- rendering ---------------------------------------------------------------------------

    def render(
        self,
        template: str,
        request: web.Request,
        lang: str,
        values: Mapping[str, Any],
        *,
        who: Viewer | None = None,
        status: int = 200,
    ) -> web.Response:
        """A page in `lang`, with the helpers every template uses."""

        def t(key: str, /, **fill: object) -> str:
            return texts.text(key, lang, p="/", **fill)

        context = {
            "t": t,
            "lang": lang,
            "who": who,
            "csrf": who.csrf if who is not None else "",
            "languages": texts.language_names(),
            "path": request.path_qs,
            **values,
        }
        return aiohttp_jinja2.render_template(template, request, context, status=status)

    def notice(
        self,
        request: web.Request,
        key: str,
        *,
        status: int,
        who: Viewer | None = None,
        lang: str | None = None,
        **values: object,
    ) -> web.Response:
        """A page that says one thing: a refusal, a link that does not work, a missing page."""
        if lang is None:
            default = self.core.config.default_language
            lang = who.lang if who else accepted_language(request, default)
        return self.render(
            "notice.html",
            request,
            lang,
            {"key": key, "values": values},
            who=who,
            status=status,
        )

    # -- who is asking -----------------------------------------------------------------------

    async def viewer(self, request: web.Request) -> Viewer:
        """The logged-in person, or a 401 page that says how to log in."""
        who = await desk.viewer(self.core, request.cookies.get(COOKIE))
        if who is None:
            # A form sent from a tab whose session has ended (logout elsewhere, idle hours)
            # must say that what it asked for was not done.
            key = "desk.signed_out_post" if request.method == "POST" else "desk.signed_out"
            page = self.notice(request, key, status=401)
            raise web.HTTPUnauthorized(text=page.text, content_type="text/html")
        return who

    async def form(self, request: web.Request, who: Viewer) -> Mapping[str, str]:
        """A POST's form, once its Origin and CSRF token are checked; else a 403 page (and
        the attempt audited)."""
        origin = request.headers.get("Origin", "")
        own = f"{request.scheme}://{request.host}"
        data = await request.post()
        fields = {k: v for k, v in data.items() if isinstance(v, str)}
        reason = None
        if origin not in (self.origin, own):
            reason = "origin"
        elif not who.check_csrf(fields.get("csrf", "")):
            reason = "csrf"
        if reason is not None:
            await desk.refused(self.core, who, "desk.post", reason, path=request.path[:100])
            page = self.notice(request, "desk.forbidden_post", status=403, who=who)
            raise web.HTTPForbidden(text=page.text, content_type="text/html")
        return fields

    async def upload_form(
        self, request: web.Request, who: Viewer, field: str = "upload"
    ) -> tuple[web.Request, Mapping[str, str], bytes | None]:
        """A form that may carry a photo (multipart): the request to read it from, its
        fields once checked as `form` checks them, and the file's bytes (None when none was
        chosen). A body larger than a photo may be, plus the form, gets a page that says so,
        in the person's language; nothing of it is kept."""
        limit = desk_photos.UPLOAD_LIMIT
        big = request.clone(client_max_size=limit)
        too_big = (request.content_length or 0) > limit
        if not too_big:
            try:
                await big.post()
            except web.HTTPRequestEntityTooLarge:  # no length announced, or a lying one
                too_big = True
        if too_big:
            await desk.refused(self.core, who, "desk.post", "too_big", path=request.path[:100])
            mb = media.MAX_BYTES // (1024 * 1024)
            page = self.notice(request, "media.desk_upload_too_big", status=413, who=who, mb=mb)
            refusal = web.HTTPRequestEntityTooLarge(
                limit, request.content_length or 0, text=page.text, content_type="text/html"
            )
            # The rest of the body is not read: close the connection after the answer rather
            # than keep it for a next request it can no longer carry.
            refusal.force_close()
            raise refusal
        fields = await self.form(big, who)
        chosen = (await big.post()).get(field)
        data = None
        if isinstance(chosen, web.FileField):
            # One byte more than a photo may be is enough to refuse it as too large.
            data = await asyncio.to_thread(chosen.file.read, media.MAX_BYTES + 1) or None
        return big, fields, data

    def page(
        self, request: web.Request, who: Viewer, template: str, status: int = 200, **values: object
    ) -> web.Response:
        """A page for the person logged in, in their desk language."""
        return self.render(template, request, who.lang, values, who=who, status=status)

    async def official_only(self, request: web.Request, who: Viewer, action: str) -> None:
        """Pages of official messages and of a zone's BINs are for police and prevention:
        anyone else is refused (audited) as if the page did not exist."""
        if not who.official:
            await desk.refused(self.core, who, action, "role")
            raise self.refuse(request, who)

    def refuse(self, request: web.Request, who: Viewer) -> web.HTTPException:
        """The one answer to anything outside this person's zones or BINs (audited by the
        caller): as if it did not exist."""
        page = self.notice(request, "desk.not_found", status=404, who=who)
        return web.HTTPNotFound(text=page.text, content_type="text/html")

    # -- login, logout, language -------------------------------------------------------------

    async def login(self, request: web.Request) -> web.StreamResponse:
        """Open a one-time link: a session and its cookie, then the overview."""
        opened = await desk.open_link(self.core, request.match_info["token"])
        if not isinstance(opened, desk.Opened):
            # An old link tapped again in the chat by someone still logged in: the refusal is
            # audited, and they land on the desk rather than on a dead end.
            if await desk.viewer(self.core, request.cookies.get(COOKIE)) is not None:
                raise web.HTTPSeeOther("/desk/")
            return self.notice(request, "desk.link_refused", status=403)
        response = web.Response(status=303, headers={"Location": "/desk/"})
        response.set_cookie(
            COOKIE,
            opened.cookie,
            path="/desk",
            httponly=True,
            secure=self.secure,
            # Lax, not Strict: a chat app opens links as a cross-site navigation, and with
            # Strict the overview the link leads to (and any desk link followed from chat
            # later) would arrive without the cookie. Forms are covered by the CSRF token
            # and the Origin check.
            samesite="Lax",
        )
        return response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        """End this session."""
        who = await self.viewer(request)
        await self.form(request, who)
        await desk.logout(self.core, who)
        response = self.notice(request, "desk.logged_out", status=200, lang=who.lang)
        response.del_cookie(COOKIE, path="/desk")
        return response

    async def language(self, request: web.Request) -> web.StreamResponse:
        """Switch the desk's language for this session, and go back to the page."""
        who = await self.viewer(request)
        fields = await self.form(request, who)
        await desk.set_language(self.core, who, fields.get("lang", ""))
        back = fields.get("back", "/desk/")
        raise web.HTTPSeeOther(back if back.startswith("/desk/") else "/desk/")
