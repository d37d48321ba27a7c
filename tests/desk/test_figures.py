"""The statistics and audit pages: their numbers are the database's, their CSVs the page's,
and nobody sees another zone's or another BIN's."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from storage.tables import Alert, AlertTarget, AuditEntry, Bin, Delivery, Group, Identity
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


async def download(b: Browser, path: str) -> list[list[str]]:
    async with b.session.get(b.base + path) as r:
        assert r.status == 200, await r.text()
        assert r.content_type == "text/csv"
        assert "attachment" in r.headers["Content-Disposition"]
        return list(csv.reader(io.StringIO(await r.text())))


async def refused(dw: DeskWorld, action: str) -> list[str]:
    return [(e.detail or {}).get("reason", "") for e in await dw.audit(action, "refused")]


async def test_the_messages_csv_matches_the_database(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    jan = people["jan"]
    await send(dw, jan, "noord", "zuid")
    await send(dw, jan, "noord")
    month = dw.h.core.clock.now().strftime("%Y-%m")
    page = await jan.get("/desk/stats")
    assert jan.status == 200 and "Official messages by urgency and category" in page
    assert "<svg" in page and 'class="bar s0"' in page and "Suspicious vehicle" in page

    rows = await download(jan, "/desk/stats/messages.csv")
    assert rows[0] == ["month", "bin_code", "bin", "urgency", "category", "messages"]
    got = {(r[0], r[1], r[3], r[4]): int(r[5]) for r in rows[1:]}
    async with dw.h.db.session() as s:
        q = (
            select(Bin.code, Alert.urgency, Alert.category)
            .join(AlertTarget, AlertTarget.alert_id == Alert.id)
            .join(Bin, Bin.id == AlertTarget.bin_id)
        )
        counted = Counter((month, c, u, k) for c, u, k in (await s.execute(q)).all())
    assert got == dict(counted) and got[month, "noord", "urgent", "suspicious_vehicle"] == 2

    rows = await download(jan, "/desk/stats/deliveries.csv")
    assert rows[0] == ["month", "bin_code", "bin", "platform", "delivered", "failed"]
    got = {(r[1], r[3]): (int(r[4]), int(r[5])) for r in rows[1:]}
    async with dw.h.db.session() as s:
        q = select(Bin.code, Delivery.platform, Delivery.status).join(
            Group, Group.id == Delivery.group_id
        )
        q = q.join(Bin, Bin.id == Group.bin_id)
        sent = Counter((c, p) for c, p, st in (await s.execute(q)).all() if st == "sent")
    assert got == {k: (n, 0) for k, n in sent.items()} and got["noord", "telegram"][0] == 4


async def test_a_coordinator_sees_only_the_figures_of_their_bin(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    await send(dw, people["jan"], "noord", "zuid")
    an = people["an"]
    page = await an.get("/desk/stats")
    assert an.status == 200 and "Noord" in page and "Zuid" not in page
    rows = await download(an, "/desk/stats/messages.csv")
    assert {r[1] for r in rows[1:]} == {"noord"}
    await an.get(f"/desk/stats?bin={dw.bins['zuid']}")
    assert an.status == 404 and "Zuid" not in an.text
    assert await refused(dw, "desk.stats") == ["not_visible"]


async def test_another_zones_officer_and_another_bins_coordinator_get_no_figures(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    await send(dw, people["jan"], "noord")
    noord = dw.bins["noord"]
    for name in ("piet", "bert"):
        b = people[name]
        page = await b.get("/desk/stats")
        assert b.status == 200 and "Noord" not in page and "Beringen" not in page, name
        rows = await download(b, "/desk/stats/messages.csv")
        assert rows[1:] == [], name
        for path in (f"/desk/stats?bin={noord}", f"/desk/stats/messages.csv?bin={noord}"):
            await b.get(path)
            assert b.status == 404 and "noord" not in b.text.lower(), (name, path)
    assert await refused(dw, "desk.stats") == ["not_visible"] * 4


async def test_the_open_month_is_counted_when_the_page_is_asked(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    jan = people["jan"]
    rows = await download(jan, "/desk/stats/messages.csv")
    assert rows[1:] == []
    await send(dw, jan, "zuid")
    dw.h.clock.advance(seconds=50)  # counted at most once a minute
    assert (await download(jan, "/desk/stats/messages.csv"))[1:] == []
    dw.h.clock.advance(seconds=11)
    rows = await download(jan, "/desk/stats/messages.csv")
    assert [(r[1], r[5]) for r in rows[1:]] == [("zuid", "1")]


async def test_the_audit_log_shows_the_zone_by_pseudonym_filtered_and_as_csv(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    jan, piet = people["jan"], people["piet"]
    ref = await send(dw, jan, "noord")
    await piet.get(f"/desk/messages/{ref}")  # refused: an entry without Beringen's zone
    page = await jan.get("/desk/audit?action=alert.compose")
    assert jan.status == 200 and "1 entries" in page and ref in page
    async with dw.h.db.session() as s:
        entries = (await s.execute(select(AuditEntry))).scalars().all()
        names = {i.display_name for i in (await s.execute(select(Identity))).scalars().all()}
    mine = [e for e in entries if e.zone_id == 1 or e.bin_id in set(dw.bins.values()) - {4}]
    rows = await download(jan, "/desk/audit.csv")
    assert rows[0] == ["at_utc", "actor", "action", "outcome", "zone", "bin", "detail"]
    assert sorted((r[1], r[2], r[3]) for r in rows[1:]) == sorted(
        (e.actor, e.action, e.outcome) for e in mine
    )
    assert ("alert.compose" in {r[2] for r in rows}) and "desk.message" not in {r[2] for r in rows}
    text = "\n".join(",".join(r) for r in rows)
    assert not any(n and f",{n}," in text for n in names), "display names in the audit CSV"

    await jan.get("/desk/audit?outcome=refused")
    assert "0 entries" in jan.text
    author = next(e.actor for e in mine if e.action == "alert.compose")
    by_author = sum(e.actor == author for e in mine)
    await jan.get(f"/desk/audit?actor={author}&since=2000-01-01")
    assert author in jan.text and f"{by_author} entries" in jan.text
    await jan.get(f"/desk/audit?actor={author}&until=2000-01-01")
    assert "0 entries" in jan.text


async def test_coordinators_and_other_zones_see_no_audit_entries_of_this_zone(
    dw: DeskWorld, people: dict[str, Browser]
) -> None:
    ref = await send(dw, people["jan"], "noord")
    for name in ("an", "bert"):
        b = people[name]
        for path in ("/desk/audit", "/desk/audit.csv"):
            await b.get(path)
            assert b.status == 404 and ref not in b.text, (name, path)
    piet = people["piet"]
    page = await piet.get("/desk/audit")
    assert piet.status == 200 and ref not in page and "alert.compose" not in page
    rows = await download(piet, "/desk/audit.csv")
    assert all(r[4] != "Beringen" for r in rows[1:])
    assert await refused(dw, "desk.audit") == ["role"] * 4


async def test_the_audit_log_is_paged(dw: DeskWorld, people: dict[str, Browser]) -> None:
    now = dw.h.core.clock.now()
    async with dw.h.db.session() as s:
        s.add_all(
            AuditEntry(at=now, actor=f"p-{i:04d}", action="test.entry", outcome="ok", zone_id=1)
            for i in range(60)
        )
        await s.commit()
    jan = people["jan"]
    first = await jan.get("/desk/audit?action=test.entry")
    assert "60 entries" in first and "Page 1 of 2" in first and first.count(">p-00") == 50
    second = await jan.get("/desk/audit?action=test.entry&page=2")
    assert second.count(">p-00") == 10 and "p-0000" in second and "p-0059" not in second
    assert len(await download(jan, "/desk/audit.csv?action=test.entry")) == 61


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("nl", ("Statistieken", "Auditlog")),
        ("fr", ("Statistiques", "Journal d'audit")),
        ("de", ("Statistik", "Prüfprotokoll")),
    ],
)
async def test_the_figure_pages_speak_the_desks_language(
    dw: DeskWorld, people: dict[str, Browser], lang: str, words: tuple[str, str]
) -> None:
    import html

    jan = people["jan"]
    await jan.get("/desk/stats")
    await jan.post("/desk/language", {"lang": lang, "back": "/desk/stats"})
    assert words[0] in jan.text
    assert words[1] in html.unescape(await jan.get("/desk/audit"))
