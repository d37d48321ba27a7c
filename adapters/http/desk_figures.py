"""The desk's statistics and audit pages, and their CSV exports.

Who may see what is decided in the services (bot/services/desk.py: `may_see_figures`,
`may_see_audit`); a refusal here only chooses the page that says so, after it was audited.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from aiohttp import web

from adapters.http.desk_pages import _date, _int
from bot import texts
from bot.services import alert_render as render
from bot.services import desk, desk_audit, desk_stats
from bot.services.desk import Viewer
from storage.audit_log import AuditFilter

if TYPE_CHECKING:
    from adapters.http.desk import Desk

PSEUDONYM = re.compile(r"[\w.:-]{1,64}")
WORD = re.compile(r"[a-z0-9_.]{1,64}")


def csv_response(rows: Iterable[Sequence[object]], filename: str) -> web.Response:
    """Rows as a CSV download. A text cell that a spreadsheet would take for a formula is
    prefixed with an apostrophe (BIN names and details are typed by people)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow(
            ["'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@") else v for v in row]
        )
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


class FigurePages:
    """The handlers of /desk/stats and /desk/audit."""

    def __init__(self, site: Desk) -> None:
        self.site = site
        self.core = site.core

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/stats", self.stats)
        router.add_get("/stats/{table}.csv", self.stats_csv)
        router.add_get("/audit", self.audit)
        router.add_get("/audit.csv", self.audit_csv)

    # -- statistics --------------------------------------------------------------------------

    async def _stats(
        self, request: web.Request, who: Viewer, only: str | None = None
    ) -> desk_stats.Stats:
        now = self.core.clock.now()
        year = _int(request.query.get("year"), now.year) or now.year
        year = year if 2000 <= year <= now.year else now.year
        bin_id = _int(request.query.get("bin"))
        found = await desk_stats.stats(self.core, who, year, bin_id, only)
        if found is None:
            await desk.refused(self.core, who, "desk.stats", "not_visible", bin_id=bin_id)
            raise self.site.refuse(request, who)
        return found

    async def stats(self, request: web.Request) -> web.StreamResponse:
        """A year's monthly figures: tables (per BIN, or the totals of several), bar charts
        and a CSV link per table."""
        who = await self.site.viewer(request)
        found = await self._stats(request, who)
        lang = who.lang
        every = texts.text("desk.stats_all_bins", lang)
        names: dict[str, Callable[[str], str]] = {
            "urgency": lambda v: render.urgency_name(v, lang),
            "category": lambda v: render.category_name(v, lang),
            "bin": lambda v: v or every,  # a row of totals over the BINs
        }
        query = f"year={found.year}" + (f"&bin={found.bin_id}" if found.bin_id else "")
        shown = {
            t.name: [
                [
                    names[c](v) if c in names and isinstance(v, str) else v
                    for c, v in zip(t.columns, row, strict=True)
                ]
                for row in t.page_rows(found.per_bin)
            ]
            for t in found.tables
        }
        return self.site.render(
            "stats.html",
            request,
            lang,
            {
                "view": found,
                "shown": shown,
                "query": query,
                "charted": desk_stats.CHARTED,
                # once per column, not once per cell: a year of a zone is thousands of cells
                "column_names": {
                    t.name: [
                        texts.text(f"desk.col_{c}", lang) if c != "bin_code" else ""
                        for c in t.columns
                    ]
                    for t in found.tables
                },
            },
            who=who,
        )

    async def stats_csv(self, request: web.Request) -> web.StreamResponse:
        """One table of the statistics page as CSV: a row per month and BIN (the page shows
        the months' totals when it shows several BINs)."""
        who = await self.site.viewer(request)
        name = request.match_info["table"]
        if name not in desk_stats.TABLES:
            raise self.site.refuse(request, who)
        found = await self._stats(request, who, only=name)
        rows = desk_stats.csv_rows(found, name) or []
        return csv_response(rows, f"binbot-{name}-{found.year}.csv")

    # -- audit log ---------------------------------------------------------------------------

    @staticmethod
    def _filter(request: web.Request) -> tuple[AuditFilter, list[str]]:
        """The audit filter the query asks for, and the fields that are not valid (their
        catalogue keys): a filter that cannot be read is refused, never silently dropped."""
        q = request.query
        action = q.get("action", "")
        actor = q.get("actor", "").strip()
        outcome = q.get("outcome", "")
        since, until = _date(q.get("since")), _date(q.get("until"))
        bad = [
            key
            for key, value, ok in (
                ("desk.col_action", action, WORD.fullmatch(action)),
                ("desk.col_actor", actor, PSEUDONYM.fullmatch(actor)),
                ("desk.col_outcome", outcome, WORD.fullmatch(outcome)),
                ("desk.since", q.get("since", ""), since),
                ("desk.until", q.get("until", ""), until and (since is None or until >= since)),
            )
            if value and not ok
        ]
        found = AuditFilter(
            action=action or None,
            actor=actor or None,
            outcome=outcome or None,
            since=since,
            until=until + timedelta(days=1) if until else None,
        )
        return found, bad

    async def _refuse_audit(self, request: web.Request, who: Viewer) -> web.HTTPException:
        await desk.refused(self.core, who, "desk.audit", "role")
        return self.site.refuse(request, who)

    async def audit(self, request: web.Request) -> web.StreamResponse:
        """The zones' audit log, filtered and paged; pseudonyms only. A filter that is not
        valid is named and shows nothing (status 400)."""
        who = await self.site.viewer(request)
        page = max(1, _int(request.query.get("page"), 1) or 1)
        f, bad = self._filter(request)
        found = await desk_audit.audit_view(self.core, who, None if bad else f, page)
        if found is None:
            raise await self._refuse_audit(request, who)
        query = {k: v for k, v in request.query.items() if k != "page" and len(v) < 70}
        return self.site.render(
            "audit.html",
            request,
            who.lang,
            {"view": found, "query": query, "bad": [texts.text(k, who.lang) for k in bad]},
            who=who,
            status=400 if bad else 200,
        )

    async def audit_csv(self, request: web.Request) -> web.StreamResponse:
        """The filtered audit log as CSV."""
        who = await self.site.viewer(request)
        f, bad = self._filter(request)
        rows = await desk_audit.audit_csv(self.core, who, None if bad else f)
        if rows is None:
            raise await self._refuse_audit(request, who)
        if bad:
            return self.site.notice(request, "desk.bad_request", status=400, who=who)
        return csv_response(rows, "binbot-audit.csv")
