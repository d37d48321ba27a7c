"""How long an author's text may be: the tightest target platform's limit, less the frame.

The limit is checked at compose time (and for follow-up texts), per platform and group
language, so a message is never refused by a platform half-way through a fan-out. Each
platform weighs a message in its own unit (`Capabilities.measure`: Telegram counts UTF-16
code units, so an emoji counts two; Matrix weighs the event's bytes). The text is checked
framed, in that unit; the officer is told the limit in characters ("about N"), that is in
plain letters, and how many of those their text counts as.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bot.model import Outgoing
from bot.services import alert_render as render
from bot.services import alerts, bin_settings
from storage.alerts import unsaved_alert, unsaved_followup

if TYPE_CHECKING:
    from bot.dispatch import Core
    from bot.model import Capabilities
    from storage.tables import Alert, Bin, Group, Zone
    from storage.uow import UnitOfWork

# The frame's length varies a little with the date written in it (day and month names).
MARGIN = 12
# When no target platform is running here, nothing can be measured; the delivery will.
UNKNOWN = 4000
# What a character costs on a platform: the cost of a plain letter, measured in the frame.
_SAMPLE = "a" * 101
# A follow-up is a reply; on Matrix the original's event id goes with it.
_REPLY_TO = "$" + "x" * 63

Frame = Callable[[str], Outgoing]


@dataclass(frozen=True)
class Room:
    """What a text gets on its tightest target: whether it fits, about how many plain
    letters fit (`limit`), and about how many such letters the text counts as (`length`)."""

    fits: bool
    limit: int
    length: int


def room_on(caps: Capabilities, frame: Frame, text: str) -> Room:
    """The room `text` gets on one platform, inside `frame`, measured as the platform does."""
    # (Measured from one letter: an empty follow-up text would bring its default text.)
    one = caps.measure(frame(_SAMPLE[:1]))
    per_letter = max((caps.measure(frame(_SAMPLE)) - one) / (len(_SAMPLE) - 1), 1e-6)
    empty = one - per_letter
    spare = caps.max_text_length - empty - MARGIN * per_letter
    used = caps.measure(frame(text)) - empty if text else 0
    return Room(
        fits=used <= spare,
        limit=max(0, math.floor(spare / per_letter)),
        length=math.ceil(used / per_letter - 1e-9),
    )


def tightest(rooms: Iterable[Room]) -> Room:
    """Every target's verdict at once: it fits where all fit; the limit and length told are
    those of the target the text overfills most (or the smallest limit when it fits)."""
    found = list(rooms)
    if all(r.fits for r in found):
        return min(found, key=lambda r: r.limit)
    return max(found, key=lambda r: r.length / max(r.limit, 1))


def probe(
    zone: Zone,
    role: str,
    now: datetime,
    text: str,
    *,
    ref: str = "",
    category: str = "",
    bins: Sequence[Bin] = (),
) -> Alert:
    """An unsaved alert, to preview or measure a message before it exists; released as the
    stored one will be: with the first of its `bins` to leave its quiet hours."""
    urgency = alerts.urgency_of(role)
    releases = [alerts.release_at(bin_settings.of(zone, b), urgency, now) for b in bins]
    release = min(releases, default=alerts.release_at(bin_settings.of(zone), urgency, now))
    return unsaved_alert(
        id=0,
        ref=ref or "X-XXXX",
        zone_id=zone.id,
        author_role=role,
        urgency=urgency.value,
        category=category or "other",
        text=text,
        state="active",
        created_at=now,
        release_at=release,
        valid_until=release + alerts.VALIDITY[urgency],
    )


def text_room(
    core: Core,
    zone: Zone,
    role: str,
    category: str,
    groups: Sequence[Group],
    here: str,
    text: str = "",
    bins: Sequence[Bin] = (),
) -> Room:
    """The room an official message's `text` gets in every target group's platform (in the
    language of each group, or of its BIN among `bins`, or of the zone)."""
    now = core.clock.now()
    own = {b.id: b.language for b in bins}
    targets = {(g.platform, alerts.group_language(g, zone, own.get(g.bin_id))) for g in groups}
    # The officer sees the preview in their own chat, in the zone's language: it must fit too.
    targets = {t for t in targets if t[0] in core.platforms} | {(here, zone.language)}
    rooms = []
    for platform, lang in sorted(targets):
        caps = core.platform(platform).capabilities
        frame = _official_frame(zone, role, category, now, lang, platform, caps.buttons)
        rooms.append(room_on(caps, frame, text))
    return tightest(rooms)


def _official_frame(
    zone: Zone, role: str, category: str, now: datetime, lang: str, platform: str, tap: bool
) -> Frame:
    def frame(body: str) -> Outgoing:
        alert = probe(zone, role, now, body, category=category)
        return render.official_outgoing(alert, zone, lang, platform, buttons=tap)

    return frame


def _followup_frame(
    alert: Alert, kind: str, zone: Zone, now: datetime, lang: str, platform: str
) -> Frame:
    def frame(body: str) -> Outgoing:
        fu = unsaved_followup(alert_id=alert.id, kind=kind, text=body, created_at=now)
        return render.followup_outgoing(alert, fu, zone, lang, platform, _REPLY_TO)

    return frame


async def followup_room(core: Core, uow: UnitOfWork, alert: Alert, kind: str, text: str) -> Room:
    """The room a follow-up's `text` gets on every platform the message went to."""
    now = core.clock.now()
    zone = await core.zone(alert.zone_id, uow)
    ar = uow.alerts
    groups = [await ar.group(d.group_id) for d in await ar.originals(alert.id)]
    assert zone is not None
    own = {b.id: b.language for b in await uow.directory.bins(zone.id)}
    targets = {
        (g.platform, alerts.group_language(g, zone, own.get(g.bin_id)))
        for g in groups
        if g is not None and g.platform in core.platforms
    }
    if not targets:
        return Room(len(text) <= UNKNOWN, UNKNOWN, len(text))
    rooms = []
    for platform, lang in sorted(targets):
        caps = core.platform(platform).capabilities
        frame = _followup_frame(alert, kind, zone, now, lang, platform)
        rooms.append(room_on(caps, frame, text))
    return tightest(rooms)
