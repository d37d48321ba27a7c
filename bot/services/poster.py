"""The printed poster of a BIN, for its information board and letterboxes: what it says, in
the zone's language(s), and where its QR code leads (the BIN's public join link).

Who may print it is who may open the BIN's desk page: its zone's police and prevention, and
its coordinators. The drawing itself is the desk's (adapters/http/poster_pdf.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot import texts
from bot.core_config import CoreConfig
from bot.model import LANGUAGES
from bot.services import bin_settings, links
from bot.services.desk import Viewer, may_see_bin

if TYPE_CHECKING:
    from bot.dispatch import Core
    from storage.tables import Bin, Zone


@dataclass(frozen=True)
class Wording:
    """Every line of the poster in one language."""

    lang: str
    zone: str
    network: str
    invite: str
    scan: str
    telegram: str
    matrix: str
    command: str
    approval: str
    call_first: str
    call_life: str
    non_urgent: str
    not_emergency: str


@dataclass(frozen=True)
class Poster:
    """A BIN's poster: its names, its join links and QR target, and its wording per language
    (the zone's first)."""

    bin_name: str
    bin_code: str
    zone_name: str
    links: links.Links
    wording: tuple[Wording, ...]

    @property
    def qr(self) -> str:
        """What the QR code holds: the Telegram link where the bot's account is known, else
        the Matrix one; "" for no QR code (the poster then shows the command to type)."""
        return self.links.telegram or self.links.matrix

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(w.lang for w in self.wording)


def languages_of(zone: Zone, config: CoreConfig, b: Bin | None = None) -> tuple[str, ...]:
    """The languages a BIN's poster speaks: the BIN's language, else the zone's (an entry
    names one; `build` takes two for a bilingual poster)."""
    lang = bin_settings.language(zone, b)
    return (lang if lang in LANGUAGES else config.default_language,)


def wording(b: Bin, zone: Zone, found: links.Links, config: CoreConfig, lang: str) -> Wording:
    """The poster's lines in `lang`."""

    def t(key: str, /, **values: object) -> str:
        return texts.text(key, lang, **values)

    return Wording(
        lang=lang,
        zone=t("poster.zone", zone=zone.name),
        network=t("poster.network"),
        invite=t("poster.invite"),
        scan=t("poster.scan_telegram" if found.telegram else "poster.scan_matrix"),
        telegram=(
            t("poster.telegram", command=found.command, bot=f"@{config.telegram_username}")
            if found.telegram
            else ""
        ),
        matrix=(
            t("poster.matrix", command=f"!join {b.code}", bot=config.matrix_user_id)
            if found.matrix
            else ""
        ),
        command=t("poster.no_link", command=found.command),
        approval=t("poster.approval"),
        call_first=t("poster.call_first", urgent=zone.urgent_number),
        call_life=t("poster.call_life", emergency=zone.emergency_number),
        non_urgent=(
            t("poster.non_urgent", number=zone.non_urgent_number) if zone.non_urgent_number else ""
        ),
        not_emergency=t("poster.not_emergency", urgent=zone.urgent_number),
    )


def build(
    config: CoreConfig, b: Bin, zone: Zone, languages: Sequence[str] | None = None
) -> Poster:
    """The poster of BIN `b` (in its languages, `languages_of`, unless `languages` is given)."""
    found = links.join(config, b.code)
    langs = tuple(languages) if languages else languages_of(zone, config, b)
    return Poster(
        b.name,
        b.code,
        zone.name,
        found,
        tuple(wording(b, zone, found, config, lang) for lang in langs),
    )


async def poster(core: Core, who: Viewer, bin_id: int) -> Poster | None:
    """The poster of a BIN this person may open the desk page of; None otherwise (the caller
    audits the refusal)."""
    async with core.uow() as uow:
        b = await uow.directory.bin(bin_id)
        if b is None or not may_see_bin(who, b):
            return None
        zone = await core.zone(b.zone_id, uow)
        assert zone is not None
    return build(core.config, b, zone)
