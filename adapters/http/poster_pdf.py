"""A BIN's poster drawn as a printable A4 PDF with reportlab: real text (selectable, in a font
embedded with the PDF that has every accent of the four languages) and the QR code of the
BIN's join link drawn as vector squares, sharp at any print size.

What the poster says is decided in bot/services/poster.py; here only where it goes.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path

import reportlab
from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.colors import Color, HexColor, white
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from bot import texts
from bot.services.poster import Poster, Wording

# Bitstream Vera ships with reportlab (no system font needed) and covers Latin-1: é, ë, ü, ß.
FONTS = Path(reportlab.__file__).parent / "fonts"
REGULAR, BOLD = "BinbotVera", "BinbotVera-Bold"
WIDTH, HEIGHT = float(A4[0]), float(A4[1])
MARGIN = 42.0
INK = HexColor("#1b1f24")
MUTED = HexColor("#4a525c")
BAND = HexColor("#123a63")  # the top band: dark blue, as on police signage
ALARM = HexColor("#c0171c")  # the call-101-first box
ALARM_FILL = HexColor("#fdeceb")
# The QR code's side in points: 9.5 cm on a poster in one language, smaller in two; never
# under 5 cm, which a phone still reads from an arm's length.
QR_SIZE, QR_SIZE_TWO, QR_SMALLEST = 270.0, 165.0, 142.0


@cache
def _fonts() -> None:
    """Register the fonts once per process (reportlab keeps a global registry)."""
    pdfmetrics.registerFont(TTFont(REGULAR, str(FONTS / "Vera.ttf")))
    pdfmetrics.registerFont(TTFont(BOLD, str(FONTS / "VeraBd.ttf")))


class _Page:
    """A canvas and a cursor that moves down the page."""

    def __init__(self, canvas: Canvas) -> None:
        self.c = canvas
        self.y: float = HEIGHT

    def lines(
        self,
        text: str,
        size: float,
        *,
        bold: bool = False,
        color: Color = INK,
        width: float = WIDTH - 2 * MARGIN,
        leading: float = 1.25,
    ) -> None:
        """`text` wrapped to `width`, each line centred."""
        font = BOLD if bold else REGULAR
        self.c.setFont(font, size)
        self.c.setFillColor(color)
        for line in simpleSplit(text, font, size, width):
            self.y -= size * leading
            self.c.drawCentredString(WIDTH / 2, self.y + size * (leading - 1), line)

    def fitted(self, text: str, size: float, minimum: float, width: float) -> float:
        """The largest size up to `size` at which `text` fits `width` on one line."""
        while size > minimum and pdfmetrics.stringWidth(text, BOLD, size) > width:
            size -= 1
        return size


def _qr(c: Canvas, value: str, x: float, y: float, size: float) -> None:
    """The QR code of `value`, `size` points square with its quiet zone, at (x, y)."""
    widget = QrCodeWidget(value, barLevel="M", barBorder=2)
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    drawing.add(widget)
    renderPDF.draw(drawing, c, x, y)


def _band_text(page: _Page, poster: Poster, words: Sequence[Wording]) -> None:
    """What the band says, in white, from the top of the page down."""
    page.y = HEIGHT - 22
    page.lines(words[0].zone, 15, color=white)
    page.lines(" / ".join(w.network for w in words), 14, color=white)
    page.y -= 10
    width = WIDTH - 2 * MARGIN
    # a long name gets smaller, down to a size still read from across the street, then wraps
    size = page.fitted(poster.bin_name, 60, 30, width)
    page.lines(poster.bin_name, size, bold=True, color=white, leading=1.1)
    page.y -= 22


def _band(page: _Page, poster: Poster, words: Sequence[Wording]) -> None:
    """The dark band on top: the zone, the kind of network, and the BIN's name, large."""
    height = _height(lambda p: _band_text(p, poster, words))
    page.c.setFillColor(BAND)
    page.c.rect(0, HEIGHT - height, WIDTH, height, stroke=0, fill=1)
    _band_text(page, poster, words)
    page.y -= 24


def _each(
    page: _Page,
    words: Sequence[Wording],
    field: str,
    size: float,
    *,
    bold: bool = False,
    color: Color = INK,
) -> None:
    """One line of the poster in each language: the zone's first, then a second one smaller
    and greyed."""
    for i, w in enumerate(words):
        text = getattr(w, field)
        if not text:
            continue
        if i == 0:
            page.lines(text, size, bold=bold, color=color)
        else:
            page.y -= 1
            page.lines(text, size * 0.8, color=MUTED)


def _join(
    page: _Page, poster: Poster, words: Sequence[Wording], size: float, compact: bool
) -> None:
    """The QR code (`size` points square) with what it does, or without links the command to
    type, large. `compact` leaves out what the QR code and the zone's language already say
    (the link in print, the commands in a second language)."""
    c = page.c
    if poster.qr:
        page.y -= size
        _qr(c, poster.qr, (WIDTH - size) / 2, page.y, size)
        page.y -= 4
        _each(page, words, "scan", 12.5, bold=True)
        if not compact:
            page.y -= 4
            page.lines(poster.qr.removeprefix("https://"), 10, color=MUTED)
    else:
        # a BIN code may be long: the box widens up to the margins, then the command shrinks
        command, box = poster.links.command, 96.0
        wide = pdfmetrics.stringWidth(command, BOLD, 44) + 48
        across = min(max(wide, WIDTH - 2 * MARGIN - 120), WIDTH - 2 * MARGIN)
        size = page.fitted(command, 44, 16, across - 24)
        page.y -= box
        c.setStrokeColor(BAND)
        c.setLineWidth(3)
        c.roundRect((WIDTH - across) / 2, page.y, across, box, 14, stroke=1, fill=0)
        c.setFont(BOLD, size)
        c.setFillColor(BAND)
        c.drawCentredString(WIDTH / 2, page.y + box / 2 - size * 0.35, command)
        page.y -= 8
        _each(page, words, "command", 13, bold=True)
    page.y -= 6
    for field in ("telegram", "matrix"):
        _each(page, words[:1] if compact else words, field, 11)


def _call_lines(w: Wording, alone: bool) -> list[tuple[str, float, bool, Color]]:
    """The call box's lines in one language: text, size, bold, colour (two languages share
    the box equally, smaller)."""
    scale = 1.0 if alone else 0.66
    found = [
        (w.call_first, 30 * scale, True, ALARM),
        (w.call_life, 21 * scale, True, ALARM),
    ]
    if w.non_urgent:
        found.append((w.non_urgent, 14 * scale, True, INK))
    found.append((w.not_emergency, 10 * max(scale, 0.9), False, MUTED))
    return found


def _call(page: _Page, words: Sequence[Wording]) -> float:
    """The box that says whom to call first, at the foot of the page; where its top is."""
    c = page.c
    inner = WIDTH - 2 * MARGIN - 40
    blocks = [_call_lines(w, len(words) == 1) for w in words]
    height = 24.0 + 10 * (len(blocks) - 1)
    for block in blocks:
        for text, size, bold, _ in block:
            height += len(simpleSplit(text, BOLD if bold else REGULAR, size, inner)) * size * 1.25
        height += 6 * len(block)
    bottom = MARGIN
    c.setFillColor(ALARM_FILL)
    c.setStrokeColor(ALARM)
    c.setLineWidth(4)
    c.roundRect(MARGIN, bottom, WIDTH - 2 * MARGIN, height, 12, stroke=1, fill=1)
    page.y = bottom + height - 10
    for i, block in enumerate(blocks):
        if i:
            page.y -= 10
        for text, size, bold, color in block:
            page.lines(text, size, bold=bold, color=color, width=inner)
            page.y -= 6
    return bottom + height


def _middle(
    page: _Page, poster: Poster, words: Sequence[Wording], qr: float, compact: bool = False
) -> None:
    """How to join: the QR code or the command, and what happens next."""
    _join(page, poster, words, qr, compact)
    page.y -= 10
    _each(page, words, "approval", 11, color=MUTED)


def _height(draw: Callable[[_Page], None]) -> float:
    """How far down the page `draw` goes, tried on a scratch canvas."""
    page = _Page(Canvas(io.BytesIO(), pagesize=A4))
    draw(page)
    return HEIGHT - page.y


def render(poster: Poster) -> bytes:
    """The poster as a one-page A4 PDF."""
    _fonts()
    out = io.BytesIO()
    words = poster.wording
    lang = words[0].lang
    c = Canvas(out, pagesize=A4, pageCompression=1)
    c.setTitle(texts.text("poster.pdf_title", lang, bin=poster.bin_name))
    c.setSubject(words[0].zone)
    c.setAuthor(words[0].zone)
    c.setCreator("binbot")
    page = _Page(c)
    _band(page, poster, words)
    _each(page, words, "invite", 13 if len(words) == 1 else 11.5)
    top = page.y
    bottom = _call(page, words)
    # the middle part centred in the room left between the invitation and the call box
    room = top - bottom - 24
    qr, compact = (QR_SIZE if len(words) == 1 else QR_SIZE_TWO), False
    need = _height(lambda p: _middle(p, poster, words, qr))
    if need > room:  # a long name in two languages: first the QR code gives way, then words
        qr = max(QR_SMALLEST, qr - (need - room))
        need = _height(lambda p: _middle(p, poster, words, qr))
        compact = need > room
        need = _height(lambda p: _middle(p, poster, words, qr, compact))
    page.y = top - max(12.0, (top - bottom - need) / 2)
    _middle(page, poster, words, qr, compact)
    c.showPage()
    c.save()
    return out.getvalue()
