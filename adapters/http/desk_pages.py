"""The desk's pages: each handler reads the viewer, calls one service, renders one template.

Who may see and do what is checked in the services (bot/services/desk.py); a refusal here
only chooses the page that says so, after the attempt was audited.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from aiohttp import web

from bot import media
from bot.services import alert_render as render
from bot.services import alerts, desk, desk_actions, desk_bins, desk_photos, desk_views
from bot.services.desk import Viewer
from storage.desk import AlertFilter

if TYPE_CHECKING:
    from adapters.http.desk import Desk

URGENCIES = ("urgent", "non_urgent")
MB = media.MAX_BYTES // (1024 * 1024)  # the largest photo, as the forms' hints say it
STATES = ("active", "updated", "resolved", "withdrawn", "expired")


def _int(value: str | None, default: int | None = None) -> int | None:
    """A whole number from an address or a form: ASCII digits only (`"²".isdigit()` is true
    too, and int() refuses it), at most 9 of them; else `default`."""
    if value is None or not (value.isascii() and value.isdigit()) or len(value) > 9:
        return default
    return int(value)


def _date(value: str | None) -> datetime | None:
    try:
        return datetime.strptime(value or "", "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None


class Pages:
    """The handlers of the desk's pages."""

    def __init__(self, site: Desk) -> None:
        self.site = site
        self.core = site.core

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/", self.overview)
        router.add_get("/messages", self.messages)
        router.add_get("/messages/{ref}", self.message)
        router.add_get("/messages/{ref}/status.json", self.status)
        router.add_post("/messages/{ref}/followup", self.followup)
        router.add_get("/compose", self.compose)
        router.add_post("/compose", self.preview)
        router.add_post("/compose/send", self.send)
        router.add_get("/photos/{sha}", self.photo)
        router.add_get("/bins/{bin_id}", self.bin)
        router.add_post("/requests/{request_id}/decide", self.decide)

    # -- overview ----------------------------------------------------------------------------

    async def overview(self, request: web.Request) -> web.StreamResponse:
        """The landing page."""
        who = await self.site.viewer(request)
        found = await desk_views.overview(self.core, who)
        return self.site.page(request, who, "overview.html", view=found)

    # -- official messages -------------------------------------------------------------------

    def _filter(self, request: web.Request) -> AlertFilter:
        q = request.query
        category = q.get("category") if q.get("category") in alerts.CATEGORIES else None
        urgency = q.get("urgency") if q.get("urgency") in URGENCIES else None
        state = q.get("state") if q.get("state") in STATES else None
        until = _date(q.get("until"))
        return AlertFilter(
            bin_id=_int(q.get("bin")),
            category=category,
            urgency=urgency,
            state=state,
            since=_date(q.get("since")),
            until=until + timedelta(days=1) if until else None,
        )

    async def messages(self, request: web.Request) -> web.StreamResponse:
        """The zones' official messages, filtered and paged."""
        who = await self.site.viewer(request)
        await self.site.official_only(request, who, "desk.messages")
        page = max(1, _int(request.query.get("page"), 1) or 1)
        found = await desk_views.message_list(self.core, who, self._filter(request), page)
        query = {k: v for k, v in request.query.items() if k != "page" and len(v) < 40}
        return self.site.page(
            request,
            who,
            "messages.html",
            view=found,
            query=query,
            categories=[(c, render.category_name(c, who.lang)) for c in alerts.CATEGORIES],
            urgencies=[(u, render.urgency_name(u, who.lang)) for u in URGENCIES],
            states=[(s, render.state_name(s, who.lang)) for s in STATES],
        )

    async def _message_or_refuse(
        self, request: web.Request, who: Viewer, action: str
    ) -> desk_views.MessageView:
        ref = alerts.normalise_ref(request.match_info["ref"]) or "-"
        found = await desk_views.message(self.core, who, ref)
        if found is None:
            await desk.refused(self.core, who, action, "not_visible", ref=ref[:8])
            raise self.site.refuse(request, who)
        return found

    async def message(self, request: web.Request) -> web.StreamResponse:
        """One message: the text residents saw, its delivery per group, its follow-ups."""
        who = await self.site.viewer(request)
        found = await self._message_or_refuse(request, who, "desk.message")
        done = request.query.get("done", "") in ("sent", "update", "resolve", "withdraw")
        return self._message_page(request, who, found, done=done)

    def _message_page(
        self,
        request: web.Request,
        who: Viewer,
        found: desk_views.MessageView,
        *,
        done: bool = False,
        error: str = "",
        text: str = "",
    ) -> web.Response:
        """The message's page; with a refused follow-up, why, and the text kept to correct."""
        rows = [(r, *desk_views.delivery_state(r, found.zone, who.lang)) for r in found.deliveries]
        return self.site.page(
            request,
            who,
            "message.html",
            status=400 if error else 200,
            view=found,
            rows=rows,
            done=done,
            error=error,
            fu_text=text,
            mb=MB,
        )

    async def status(self, request: web.Request) -> web.StreamResponse:
        """The delivery table as JSON, for the page's live updates."""
        who = await self.site.viewer(request)
        found = await self._message_or_refuse(request, who, "desk.message")
        rows = []
        for r in found.deliveries:
            word, detail = desk_views.delivery_state(r, found.zone, who.lang)
            rows.append(
                {
                    "key": f"{r.followup_id or 0}-{r.group_id}",
                    "status": self.site_text(who, f"desk.status_{word}"),
                    "state": word,
                    "detail": detail,
                }
            )
        body = {"settled": found.settled, "seen": found.seen, "rows": rows}
        return web.Response(text=json.dumps(body), content_type="application/json")

    def site_text(self, who: Viewer, key: str) -> str:
        from bot import texts

        return texts.text(key, who.lang)

    async def followup(self, request: web.Request) -> web.StreamResponse:
        """Update, all-clear or withdrawal, through the same service as /update etc.; an
        update may carry a photo, as /update sent as a photo's caption does."""
        who = await self.site.viewer(request)
        request, fields, upload = await self.site.upload_form(request, who)
        ref = alerts.normalise_ref(request.match_info["ref"]) or "-"
        kind = fields.get("kind", "")
        text = fields.get("text", "")
        reason: str | None = None
        photo = None
        if upload is not None:
            cleaned = await desk_photos.clean(self.core, who, upload)
            if isinstance(cleaned, str):
                reason = cleaned
            else:
                photo = cleaned
        if reason is None:
            reason = await desk_actions.follow_up(self.core, who, ref, kind, text, photo)
        if reason in ("unknown_ref", "organisation", "kind"):
            raise self.site.refuse(request, who)
        if reason is not None:
            # Shown at once, not after a redirect: the text typed is kept to correct.
            found = await self._message_or_refuse(request, who, "desk.message")
            kept = text[: desk_actions.MAX_TEXT]
            return self._message_page(request, who, found, error=reason, text=kept)
        raise web.HTTPSeeOther(f"/desk/messages/{ref}?done={kind}")

    # -- compose -----------------------------------------------------------------------------

    async def _compose_page(
        self,
        request: web.Request,
        who: Viewer,
        draft: desk_actions.Draft | None = None,
        errors: list[str] | None = None,
        preview: desk_actions.Preview | None = None,
    ) -> web.Response:
        """The compose form (with the photo kept, if any), or the preview with Confirm."""
        choices = await desk_actions.choices(self.core, who)
        if not choices:
            await desk.refused(self.core, who, "alert.compose", "role")
            raise self.site.refuse(request, who)
        first = choices[0]
        draft = draft or desk_actions.Draft(first.role, first.zone_id, [], "", "")
        kept = None
        if preview is not None:
            kept = preview.photo
        elif draft.photo:
            kept = await desk_photos.shown(self.core, who, draft.photo)
        return self.site.page(
            request,
            who,
            "compose.html",
            status=400 if errors else 200,
            choices=choices,
            draft=draft,
            errors=errors or [],
            preview=preview,
            photo=kept,
            mb=MB,
            categories=[(c, render.category_name(c, who.lang)) for c in alerts.CATEGORIES],
        )

    async def compose(self, request: web.Request) -> web.StreamResponse:
        """The compose form (the same steps as /alert: targets, category, text)."""
        who = await self.site.viewer(request)
        await self.site.official_only(request, who, "alert.compose")
        return await self._compose_page(request, who)

    @staticmethod
    def _draft(fields: dict[str, str], request_bins: list[str]) -> desk_actions.Draft:
        role, _, zone = fields.get("as", "").partition(":")
        bins = [n for n in map(_int, request_bins) if n is not None]
        photo = "" if fields.get("no_photo") else fields.get("photo", "")[:100]
        return desk_actions.Draft(
            role,
            _int(zone, 0) or 0,
            bins,
            fields.get("category", ""),
            fields.get("text", ""),
            photo,
        )

    async def _posted_draft(
        self, request: web.Request, who: Viewer
    ) -> tuple[web.Request, dict[str, str], desk_actions.Draft, bytes | None]:
        request, checked, upload = await self.site.upload_form(request, who)
        fields = dict(checked)
        data = await request.post()
        bins = [v for v in data.getall("bin", []) if isinstance(v, str)]
        return request, fields, self._draft(fields, bins), upload

    async def preview(self, request: web.Request) -> web.StreamResponse:
        """The message exactly as residents will read it (with its photo), with Confirm."""
        who = await self.site.viewer(request)
        request, _, draft, upload = await self._posted_draft(request, who)
        # Kept only for someone who may write as the chosen role and zone; anyone else is
        # refused (and audited) by the preview below, with nothing stored.
        if upload is not None and desk.may_compose(who, draft.role, draft.zone_id):
            taken = await desk_photos.accept(self.core, who, upload)
            if isinstance(taken, str):  # refused: the form again, with the photo kept before
                return await self._compose_page(request, who, draft, [taken])
            draft = replace(draft, photo=taken.reference)
        checked = await desk_actions.preview(self.core, who, draft)
        if isinstance(checked, list):
            return await self._compose_page(request, who, draft, checked)
        return await self._compose_page(request, who, draft, preview=checked)

    async def send(self, request: web.Request) -> web.StreamResponse:
        """Store the confirmed message through `alerts.store`; then its page."""
        who = await self.site.viewer(request)
        request, fields, draft, _ = await self._posted_draft(request, who)
        if fields.get("edit"):
            return await self._compose_page(request, who, draft)
        sent = await desk_actions.send(
            self.core, who, draft, fields.get("ref", ""), fields.get("sig", "")
        )
        if isinstance(sent, list):
            return await self._compose_page(request, who, draft, sent)
        raise web.HTTPSeeOther(f"/desk/messages/{sent.ref}?done=sent")

    async def photo(self, request: web.Request) -> web.StreamResponse:
        """A photo: a draft's for the session that uploaded it, a message's for those who
        may see the message; anything else is not found."""
        who = await self.site.viewer(request)
        sha = request.match_info["sha"][:64]
        found = await desk_photos.viewable(self.core, who, sha, request.query.get("ref", "")[:32])
        if found is None:
            raise self.site.refuse(request, who)
        data, mime = found
        return web.Response(body=data, content_type=mime)

    # -- BINs and join requests --------------------------------------------------------------

    async def bin(self, request: web.Request) -> web.StreamResponse:
        """A BIN's groups; for its coordinators also its members and pending requests."""
        who = await self.site.viewer(request)
        bin_id = _int(request.match_info["bin_id"], 0) or 0
        page = max(1, _int(request.query.get("page"), 1) or 1)
        found = await desk_views.bin_view(self.core, who, bin_id, page)
        more = await desk_bins.details(self.core, who, bin_id) if found else None
        if found is None or more is None:
            await desk.refused(self.core, who, "desk.bin", "not_visible", bin_id=bin_id)
            raise self.site.refuse(request, who)
        return self.site.page(
            request,
            who,
            "bin.html",
            view=found,
            more=more,
            done=request.query.get("done", "")[:20],
        )

    async def decide(self, request: web.Request) -> web.StreamResponse:
        """Approve or decline a join request, as /approve and /decline do."""
        who = await self.site.viewer(request)
        fields = await self.site.form(request, who)
        request_id = _int(request.match_info["request_id"], 0) or 0
        verdict = fields.get("verdict", "")
        if verdict not in ("approve", "decline"):
            return self.site.notice(request, "desk.bad_request", status=400, who=who)
        reason = " ".join(fields.get("reason", "").split())[:500] or None
        done = await desk_actions.decide(self.core, who, request_id, verdict == "approve", reason)
        if done.outcome == "not_yours":
            raise self.site.refuse(request, who)
        back = _int(fields.get("bin"), 0) or 0
        raise web.HTTPSeeOther(f"/desk/bins/{back}?done={done.outcome}_{verdict}#requests")
