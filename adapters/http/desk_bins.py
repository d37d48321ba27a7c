"""The desk's BIN pages: the zone's BINs, a form to create or edit one, archiving, and the
zone's settings. Permissions and rules live in bot/services/desk_bins.py; a refusal here only
chooses the page that says so, after the service audited it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from aiohttp import web

from adapters.http.desk_pages import _int as _number
from bot import texts
from bot.model import LANGUAGES
from bot.services import desk, desk_bins
from bot.services.desk import Viewer
from bot.services.desk_bins import BinForm, Problem, ZoneForm

if TYPE_CHECKING:
    from adapters.http.desk import Desk


def _int(value: str | None) -> int:
    """A row id from an address or a form (0, which matches nothing, for anything else)."""
    return _number(value, 0) or 0


def _form(fields: Mapping[str, str], zone_id: int) -> BinForm:
    return BinForm(
        zone_id,
        fields.get("name", "")[:1000],
        fields.get("code", "")[:100],
        fields.get("area", "")[:1000],
        fields.get("intake_mode", "default"),
        fields.get("intake", "")[:10_000],
        fields.get("quiet_start", "")[:10],
        fields.get("quiet_end", "")[:10],
        fields.get("reminder_days", "")[:10],
        fields.get("language", "")[:10],
    )


def _messages(problems: list[Problem], lang: str) -> dict[str, list[str]]:
    """Each field's problems as the person reads them."""
    found: dict[str, list[str]] = {}
    for p in problems:
        found.setdefault(p.where, []).append(texts.text(p.key, lang, **p.values))
    return found


class BinPages:
    """The handlers of the BIN pages."""

    def __init__(self, site: Desk) -> None:
        self.site = site
        self.core = site.core

    def add_routes(self, router: web.UrlDispatcher) -> None:
        # Before the BIN's own page (/bins/{bin_id}), which would take "new" for an id.
        router.add_get("/bins", self.bins)
        router.add_get("/bins/new", self.new)
        router.add_post("/bins/new", self.create)
        router.add_get("/bins/{bin_id}/edit", self.edit_form)
        router.add_post("/bins/{bin_id}/edit", self.edit)
        router.add_post("/bins/{bin_id}/archive", self.archive)
        router.add_post("/zones/{zone_id}/settings", self.zone_settings)

    # -- the list ----------------------------------------------------------------------------

    async def bins(self, request: web.Request) -> web.StreamResponse:
        """The zone's BINs, active, archived or all, with the zone's settings."""
        who = await self.site.viewer(request)
        state = request.query.get("state", "active")
        state = state if state in desk_bins.STATES else "active"
        found = await desk_bins.bin_list(self.core, who, state)
        if found is None:
            await desk.refused(self.core, who, "desk.bins", "role")
            raise self.site.refuse(request, who)
        return self._bins_page(request, who, found, state)

    def _bins_page(
        self,
        request: web.Request,
        who: Viewer,
        found: list[desk_bins.ZoneBins],
        state: str,
        *,
        errors: Mapping[str, list[str]] | None = None,
        zone_id: int = 0,
        kept: ZoneForm | None = None,
    ) -> web.Response:
        return self.site.page(
            request,
            who,
            "bins.html",
            status=400 if errors else 200,
            zones=found,
            state=state,
            states=desk_bins.STATES,
            done=request.query.get("done", "")[:20],
            errors=errors or {},
            error_zone=zone_id,
            kept=kept,
            language_names=texts.language_names(),
        )

    # -- create and edit ---------------------------------------------------------------------

    def _form_page(
        self,
        request: web.Request,
        who: Viewer,
        form: BinForm,
        zone_names: dict[int, str],
        *,
        bin_id: int = 0,
        problems: list[Problem] | None = None,
    ) -> web.Response:
        return self.site.page(
            request,
            who,
            "bin_form.html",
            status=400 if problems else 200,
            form=form,
            bin_id=bin_id,
            zone_names=zone_names,
            limits=desk_bins.LIMITS,
            errors=_messages(problems or [], who.lang),
            language_names=texts.language_names(),
        )

    async def _zone_names(self, who: Viewer) -> dict[int, str]:
        async with self.core.uow() as uow:
            return {
                z: (found.name if (found := await uow.directory.zone(z)) else "?")
                for z in sorted(who.zones)
            }

    async def new(self, request: web.Request) -> web.StreamResponse:
        """An empty form for a new BIN."""
        who = await self.site.viewer(request)
        await self.site.official_only(request, who, "bin.add")
        zone_id = _int(request.query.get("zone"))
        zone_id = zone_id if zone_id in who.zones else min(who.zones)
        return self._form_page(request, who, BinForm(zone_id), await self._zone_names(who))

    async def create(self, request: web.Request) -> web.StreamResponse:
        """Create a BIN; problems are shown next to their fields and nothing is saved."""
        who = await self.site.viewer(request)
        fields = await self.site.form(request, who)
        form = _form(fields, _int(fields.get("zone")))
        made = await desk_bins.create(self.core, who, form)
        if made is None:
            raise self.site.refuse(request, who)
        if isinstance(made, list):
            names = await self._zone_names(who)
            return self._form_page(request, who, form, names, problems=made)
        raise web.HTTPSeeOther(f"/desk/bins/{made}?done=created")

    async def edit_form(self, request: web.Request) -> web.StreamResponse:
        """The form filled with the BIN as it is."""
        who = await self.site.viewer(request)
        bin_id = _int(request.match_info["bin_id"])
        b = await desk_bins.managed_bin(self.core, who, bin_id, "bin.update")
        if b is None:
            raise self.site.refuse(request, who)
        names = await self._zone_names(who)
        return self._form_page(request, who, BinForm.of(b), names, bin_id=bin_id)

    async def edit(self, request: web.Request) -> web.StreamResponse:
        """Save a BIN's name, area, intake questions and own settings (its code stays)."""
        who = await self.site.viewer(request)
        fields = await self.site.form(request, who)
        bin_id = _int(request.match_info["bin_id"])
        form = _form(fields, 0)
        done = await desk_bins.edit(self.core, who, bin_id, form)
        if done is None:
            raise self.site.refuse(request, who)
        if isinstance(done, list):
            names = await self._zone_names(who)
            return self._form_page(request, who, form, names, bin_id=bin_id, problems=done)
        raise web.HTTPSeeOther(f"/desk/bins/{bin_id}?done={'saved' if done else 'unchanged'}")

    async def archive(self, request: web.Request) -> web.StreamResponse:
        """Archive or un-archive a BIN."""
        who = await self.site.viewer(request)
        fields = await self.site.form(request, who)
        bin_id = _int(request.match_info["bin_id"])
        how = fields.get("archive", "")
        if how not in ("archive", "unarchive"):
            return self.site.notice(request, "desk.bad_request", status=400, who=who)
        b = await desk_bins.archive(self.core, who, bin_id, how == "archive")
        if b is None:
            raise self.site.refuse(request, who)
        raise web.HTTPSeeOther(f"/desk/bins/{bin_id}?done={how}d")

    # -- the zone's settings -----------------------------------------------------------------

    async def zone_settings(self, request: web.Request) -> web.StreamResponse:
        """Quiet hours, reminder frequency and language of a zone (all its BINs)."""
        who = await self.site.viewer(request)
        fields = await self.site.form(request, who)
        zone_id = _int(request.match_info["zone_id"])
        form = ZoneForm(
            fields.get("quiet_start", "")[:10],
            fields.get("quiet_end", "")[:10],
            fields.get("reminder_days", "")[:10],
            fields.get("language", "") if fields.get("language") in LANGUAGES else "",
        )
        done = await desk_bins.zone_settings(self.core, who, zone_id, form)
        if done is None:
            raise self.site.refuse(request, who)
        if isinstance(done, list):
            found = await desk_bins.bin_list(self.core, who, "active") or []
            errors = _messages(done, who.lang)
            return self._bins_page(
                request, who, found, "active", errors=errors, zone_id=zone_id, kept=form
            )
        raise web.HTTPSeeOther(f"/desk/bins?done={'settings' if done else 'unchanged'}")
