"""A BIN's join links and its printed poster: the PDF is read back as a person would read it
(rendered to an image, its QR code scanned, its text selected), and the link it carries takes
a resident into the BIN once a coordinator approves."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pypdfium2 as pdfium
import pytest
import zxingcpp
from sqlalchemy import select, update

from adapters.http import poster_pdf
from bot.core_config import CoreConfig
from bot.services import links, poster
from storage.tables import AuditEntry, Bin, JoinRequest, Membership, Zone
from tests.desk.client import Browser
from tests.desk.test_rights import words
from tests.desk.world import DeskWorld

BOT = "zone_bin_bot"
MATRIX_BOT = "@binbot:example.org"
A4 = (595.3, 841.9)


@dataclass
class Printed:
    """A poster as it comes out of the printer: its page size, text and QR codes."""

    size: tuple[float, float]
    pages: int
    text: str
    codes: list[str]
    clashes: list[tuple[str, str]]  # pieces of text printed over each other


def _clashes(textpage: pdfium.PdfTextPage) -> list[tuple[str, str]]:
    """Pairs of text runs whose boxes overlap (by more than half a point)."""
    boxes = [textpage.get_rect(i) for i in range(textpage.count_rects())]
    found = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            if all(
                lo < hi - 0.5
                for lo, hi in ((a[0], b[2]), (b[0], a[2]), (a[1], b[3]), (b[1], a[3]))
            ):
                found.append((textpage.get_text_bounded(*a), textpage.get_text_bounded(*b)))
    return found


def read(data: bytes, png: Path | None = None) -> Printed:
    """Render the PDF's page at 150 dpi, scan it for QR codes and select its text."""
    pdf = pdfium.PdfDocument(data)
    try:
        page = pdf[0]
        image = page.render(scale=150 / 72).to_pil()
        if png is not None:
            image.save(png)
        textpage = page.get_textpage()
        text = " ".join(textpage.get_text_range().split())
        clashes = _clashes(textpage)
        textpage.close()
        size = page.get_size()
        page.close()
        codes = [found.text for found in zxingcpp.read_barcodes(image)]
        return Printed((round(size[0], 1), round(size[1], 1)), len(pdf), text, codes, clashes)
    finally:
        pdf.close()


def accounts(dw: DeskWorld, *, telegram: str = "", matrix: str = "") -> None:
    """The bot's accounts as the settings (or Telegram's getMe) gave them."""
    dw.h.core.config = dataclasses.replace(
        dw.h.core.config, telegram_username=telegram, matrix_user_id=matrix
    )


async def browser(dw: DeskWorld, name: str) -> Browser:
    b = Browser(dw.base)
    await b.get(await dw.link(name))
    return b


@pytest.fixture
async def jan(dw: DeskWorld) -> AsyncIterator[Browser]:
    b = await browser(dw, "jan")
    yield b
    await b.close()


async def fetch(b: Browser, path: str) -> tuple[int, str, bytes]:
    """GET `path` as this browser: status, content type and body."""
    async with b.session.get(b.base + path) as r:
        return r.status, r.content_type, await r.read()


async def zone_language(dw: DeskWorld, zone: str, lang: str) -> None:
    async with dw.h.db.session() as s:
        await s.execute(update(Zone).where(Zone.name == zone).values(language=lang))
        await s.commit()


async def test_jan_prints_the_poster_of_noord_and_its_qr_code_is_the_join_link(
    dw: DeskWorld, jan: Browser, tmp_path: Path
) -> None:
    accounts(dw, telegram=BOT, matrix=MATRIX_BOT)
    noord = dw.bins["noord"]
    page = words(await jan.get(f"/desk/bins/{noord}"))
    join = f"https://t.me/{BOT}?start=join-noord"
    assert f"Telegram {join}" in page
    assert "https://matrix.to/#/@binbot:example.org?text=%21join%20noord" in page
    assert "Typed in a private chat with the bot /join noord" in page
    assert f'href="/desk/bins/{noord}/poster.pdf"' in jan.text
    assert "Poster to print (PDF, A4)" in page and "in English" in page

    status, kind, body = await fetch(jan, f"/desk/bins/{noord}/poster.pdf")
    assert (status, kind) == (200, "application/pdf")
    printed = read(body, tmp_path / "poster-noord.png")
    assert printed.pages == 1 and printed.size == A4 and printed.clashes == []
    assert printed.codes == [join]
    assert printed.codes[0] == links.join(dw.h.core.config, "noord").telegram
    text = printed.text
    assert "Police zone Beringen" in text and "Noord" in text
    assert "Call 101 first, 112 when life is at stake" in text
    assert "Not urgent? Call the police zone: 011 27 95 79" in text
    assert f"Telegram: send /join noord to @{BOT}" in text
    assert f"Matrix: send !join noord to {MATRIX_BOT}" in text
    assert "Hasselt" not in text and "Zuid" not in text


async def test_the_poster_speaks_the_zones_language_whatever_the_desks(
    dw: DeskWorld, jan: Browser
) -> None:
    accounts(dw, telegram=BOT)
    await zone_language(dw, "Beringen", "nl")
    await jan.post("/desk/language", {"lang": "fr", "back": "/desk/"})
    _, _, body = await fetch(jan, f"/desk/bins/{dw.bins['noord']}/poster.pdf")
    text = read(body).text
    assert "Politiezone Beringen" in text and "Buurtinformatienetwerk" in text
    assert "Bel eerst 101, 112 bij levensgevaar" in text
    assert "Niet dringend? Bel de politiezone: 011 27 95 79" in text
    # selectable text keeps its accents (the font is embedded, not a picture of letters)
    assert "een coördinator van de buurt keurt je aanvraag goed" in text
    assert "Appelez" not in text
    page = words(await jan.get(f"/desk/bins/{dw.bins['noord']}"))
    assert "Affiche à imprimer (PDF, A4)" in page and "en néerlandais" in page


async def test_a_bin_with_its_own_language_has_its_poster_in_it(
    dw: DeskWorld, jan: Browser
) -> None:
    accounts(dw, telegram=BOT)
    await zone_language(dw, "Beringen", "nl")
    async with dw.h.db.session() as s:
        await s.execute(update(Bin).where(Bin.id == dw.bins["noord"]).values(language="fr"))
        await s.commit()
    _, _, body = await fetch(jan, f"/desk/bins/{dw.bins['noord']}/poster.pdf")
    text = read(body).text
    assert "Zone de police Beringen" in text and "Appelez d'abord le 101" in text
    assert "Bel eerst" not in text
    page = words(await jan.get(f"/desk/bins/{dw.bins['noord']}"))
    assert "in French" in page
    # Its neighbour without a language of its own keeps the zone's.
    _, _, body = await fetch(jan, f"/desk/bins/{dw.bins['zuid']}/poster.pdf")
    assert "Bel eerst 101" in read(body).text


async def test_without_telegram_the_qr_code_opens_the_matrix_chat(
    dw: DeskWorld, jan: Browser
) -> None:
    accounts(dw, matrix=MATRIX_BOT)
    _, _, body = await fetch(jan, f"/desk/bins/{dw.bins['noord']}/poster.pdf")
    printed = read(body)
    assert printed.codes == ["https://matrix.to/#/@binbot:example.org?text=%21join%20noord"]
    assert "your Matrix app opens a chat with the bot" in printed.text
    assert "Telegram" not in printed.text


async def test_without_any_account_the_poster_prints_the_command_and_no_qr_code(
    dw: DeskWorld, jan: Browser, tmp_path: Path
) -> None:
    accounts(dw)
    page = words(await jan.get(f"/desk/bins/{dw.bins['noord']}"))
    assert "The bot's accounts are not known here" in page and "t.me" not in page
    status, _, body = await fetch(jan, f"/desk/bins/{dw.bins['noord']}/poster.pdf")
    printed = read(body, tmp_path / "poster-no-link.png")
    assert status == 200 and printed.codes == [] and printed.clashes == []
    assert "/join noord" in printed.text
    assert "Send /join noord in a private chat with your police zone's bot." in printed.text
    assert "Call 101 first, 112 when life is at stake" in printed.text
    assert "Telegram" not in printed.text and "Matrix" not in printed.text


async def test_a_coordinator_prints_the_poster_of_their_own_bin_only(dw: DeskWorld) -> None:
    accounts(dw, telegram=BOT)
    an = await browser(dw, "an")
    try:
        status, kind, body = await fetch(an, f"/desk/bins/{dw.bins['noord']}/poster.pdf")
        assert (status, kind) == (200, "application/pdf")
        assert read(body).codes == [f"https://t.me/{BOT}?start=join-noord"]
        status, kind, body = await fetch(an, f"/desk/bins/{dw.bins['zuid']}/poster.pdf")
        assert status == 404 and kind == "text/html" and b"Zuid" not in body
    finally:
        await an.close()


async def refused(dw: DeskWorld) -> list[tuple[str, int]]:
    async with dw.h.db.session() as s:
        q = select(AuditEntry).where(AuditEntry.action == "desk.poster").order_by(AuditEntry.id)
        rows = (await s.execute(q)).scalars().all()
    return [(r.outcome, r.bin_id or 0) for r in rows]


async def test_another_zone_and_another_bin_get_no_poster_and_are_audited(
    dw: DeskWorld,
) -> None:
    accounts(dw, telegram=BOT)
    noord = dw.bins["noord"]
    for name in ("piet", "bert"):  # Hasselt's officer; Kern's coordinator
        b = await browser(dw, name)
        try:
            status, kind, body = await fetch(b, f"/desk/bins/{noord}/poster.pdf")
            assert (status, kind) == (404, "text/html"), name
            assert b"Noord" not in body and b"join-noord" not in body, name
            page = await b.get(f"/desk/bins/{noord}")
            assert b.status == 404 and "join-noord" not in page, name
            status, _, _ = await fetch(b, "/desk/bins/99999/poster.pdf")
            assert status == 404
        finally:
            await b.close()
    assert await refused(dw) == [
        ("refused", noord),
        ("refused", 99999),
        ("refused", noord),
        ("refused", 99999),
    ]


async def test_a_resident_gets_no_desk_and_no_poster(dw: DeskWorld) -> None:
    accounts(dw, telegram=BOT)
    await dw.h.say("kim", "/desk")
    assert dw.h.last("kim").startswith("The desk is for police, prevention and coordinators.")
    stranger = Browser(dw.base)  # no session: the link is not guessed from the page's address
    try:
        status, kind, body = await fetch(stranger, f"/desk/bins/{dw.bins['noord']}/poster.pdf")
    finally:
        await stranger.close()
    assert (status, kind) == (401, "text/html") and b"%PDF" not in body


async def test_a_resident_follows_the_posters_link_and_gets_in_once_approved(
    dw: DeskWorld, jan: Browser
) -> None:
    accounts(dw, telegram=BOT)
    _, _, body = await fetch(jan, f"/desk/bins/{dw.bins['noord']}/poster.pdf")
    [scanned] = read(body).codes
    url = urlsplit(scanned)
    assert (url.netloc, url.path) == ("t.me", f"/{BOT}")
    # Telegram opens the bot's chat; the Start button sends /start with the link's parameter
    [start] = parse_qs(url.query)["start"]
    await dw.h.say("kim", f"/start {start}")
    assert "Question 1/1" in dw.h.last("kim")
    await dw.h.say("kim", "Stationsstraat 4")
    assert "Noord" in dw.h.last("kim")
    an = await browser(dw, "an")
    try:
        page = await an.get(f"/desk/bins/{dw.bins['noord']}")
        assert "Kim" in page and "Stationsstraat 4" in page
        found = re.search(r"/desk/requests/(\d+)/decide", page)
        assert found is not None
        await an.post(
            f"/desk/requests/{found.group(1)}/decide",
            {"verdict": "approve", "bin": str(dw.bins["noord"])},
        )
        assert an.status == 200 and "Members (1)" in an.text
    finally:
        await an.close()
    assert "Welcome" in dw.h.last("kim")
    async with dw.h.db.session() as s:
        member = (await s.execute(select(Membership))).scalar_one()
        req = (await s.execute(select(JoinRequest))).scalar_one()
        noord = await s.get(Bin, dw.bins["noord"])
    assert noord is not None and member.bin_id == noord.id
    assert member.status == "active" and req.status == "approved"


def test_a_bilingual_poster_says_everything_in_both_languages(tmp_path: Path) -> None:
    config = CoreConfig(telegram_username=BOT)
    zone = Zone(
        name="Brussel-Elsene",
        urgent_number="101",
        emergency_number="112",
        non_urgent_number="02 515 71 11",
        language="nl",
    )
    b = Bin(name="Flagey – Étangs d'Ixelles", code="flagey", zone_id=1)
    made = poster.build(config, b, zone, ["nl", "fr"])
    assert made.languages == ("nl", "fr")
    printed = read(poster_pdf.render(made), tmp_path / "poster-bilingual.png")
    assert printed.codes == [f"https://t.me/{BOT}?start=join-flagey"] and printed.clashes == []
    text = printed.text
    assert "Flagey – Étangs d'Ixelles" in text
    assert "Bel eerst 101, 112 bij levensgevaar" in text
    assert "Appelez d'abord le 101, le 112 en cas de danger de mort" in text
    assert "Pas urgent ? Appelez la zone de police : 02 515 71 11" in text  # split() ate the nbsp
    assert "Buurtinformatienetwerk / Partenariat local de prévention (PLP)" in text


@pytest.mark.parametrize("accounts_known", [True, False])
def test_a_long_name_and_code_in_two_languages_still_fit_one_page(accounts_known: bool) -> None:
    config = CoreConfig(
        telegram_username=BOT if accounts_known else "",
        matrix_user_id=MATRIX_BOT if accounts_known else "",
    )
    zone = Zone(
        name="Brussel-Hoofdstad/Elsene",
        urgent_number="101",
        emergency_number="112",
        non_urgent_number="02 279 79 79",
        language="nl",
    )
    code = "koersel-noord-kiezelstraat-zuid2"  # 32 characters, the longest a code may be
    name = "Koersel Noord – Kiezelstraat, Stationsstraat en Heidestraat-Zuid"
    b = Bin(name=name, code=code, zone_id=1)
    printed = read(poster_pdf.render(poster.build(config, b, zone, ["nl", "fr"])))
    assert printed.pages == 1 and printed.clashes == []
    assert printed.codes == ([f"https://t.me/{BOT}?start=join-{code}"] if accounts_known else [])
    assert f"/join {code}" in printed.text
    assert "Bel eerst 101," in printed.text and "Appelez d'abord le 101," in printed.text
