"""A BIN's join links and printable poster on the desk: the links shown on the BIN's page,
and `/desk/bins/{bin_id}/poster.pdf`, the A4 poster for its information board and
letterboxes.

Who may print it is decided in bot/services/poster.py (the BIN page's own rule); a refusal
here is audited and answered as any other BIN outside one's reach.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiohttp import web
from babel import Locale

from adapters.http import poster_pdf
from adapters.http.desk_pages import _int
from bot.services import desk, links, poster

if TYPE_CHECKING:
    from adapters.http.desk import Desk


class PosterPages:
    """The poster's route, and what the BIN page's `_bin_poster.html` reads."""

    def __init__(self, site: Desk) -> None:
        self.site = site
        self.core = site.core

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/bins/{bin_id}/poster.pdf", self.pdf)

    def template_globals(self) -> dict[str, Any]:
        """Helpers for the BIN page: its join links, and a language's name in another."""
        return {"join_links": self.join_links, "language_name": language_name}

    def join_links(self, bin_code: str) -> links.Links:
        """The BIN's public join links, as the poster prints them."""
        return links.join(self.core.config, bin_code)

    async def pdf(self, request: web.Request) -> web.StreamResponse:
        """The BIN's poster as a printable A4 PDF."""
        who = await self.site.viewer(request)
        bin_id = _int(request.match_info["bin_id"], 0) or 0
        found = await poster.poster(self.core, who, bin_id)
        if found is None:
            await desk.refused(self.core, who, "desk.poster", "not_visible", bin_id=bin_id)
            raise self.site.refuse(request, who)
        # some tens of milliseconds of drawing: off the event loop, which serves the chats
        body = await asyncio.to_thread(poster_pdf.render, found)
        name = "".join(ch if ch.isalnum() or ch == "-" else "-" for ch in found.bin_code)
        return web.Response(
            body=body,
            content_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="poster-{name}.pdf"'},
        )


def language_name(code: str, lang: str) -> str:
    """The name of language `code` in language `lang` ("Dutch", "néerlandais")."""
    return str(Locale.parse(code).get_language_name(lang) or code)
