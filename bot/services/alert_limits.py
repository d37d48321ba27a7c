"""How long an author's text may be: the tightest target platform's limit, less the frame.

The limit is checked at compose time, per platform and group language, so a message is never
refused by a platform half-way through a fan-out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from bot.services import alert_render as render
from bot.services import alerts
from storage.alerts import unsaved_alert

if TYPE_CHECKING:
    from bot.dispatch import Core
    from storage.tables import Alert, Group, Zone
    from storage.uow import UnitOfWork

# The frame's length varies a little with the date written in it (day and month names).
MARGIN = 12
# When no target platform is running here, nothing can be measured; the delivery will.
UNKNOWN = 4000


def probe(
    zone: Zone, role: str, now: datetime, text: str, *, ref: str = "", category: str = ""
) -> Alert:
    """An unsaved alert, to preview or measure a message before it exists."""
    urgency = alerts.urgency_of(role)
    release = alerts.release_at(zone, urgency, now)
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


def text_limit(core: Core, zone: Zone, role: str, groups: Sequence[Group], here: str) -> int:
    """The longest message text every target group's platform accepts, once framed."""
    empty = probe(zone, role, core.clock.now(), "")
    targets = {(g.platform, alerts.group_language(g, zone)) for g in groups}
    targets = {t for t in targets if t[0] in core.platforms} or {(here, zone.language)}
    limits = []
    for platform, lang in targets:
        caps = core.platform(platform).capabilities
        frame = render.text_overhead(empty, zone, lang, platform, buttons=caps.buttons)
        limits.append(caps.max_text_length - frame - MARGIN)
    return max(0, min(limits))


async def followup_limit(core: Core, uow: UnitOfWork, alert: Alert, kind: str) -> int:
    """The longest follow-up text every platform the message went to accepts."""
    now = core.clock.now()
    zone = await core.zone(alert.zone_id, uow)
    ar = uow.alerts
    groups = [await ar.group(d.group_id) for d in await ar.originals(alert.id)]
    assert zone is not None
    limits = [
        core.platform(g.platform).capabilities.max_text_length
        - render.followup_overhead(
            alert, kind, zone, alerts.group_language(g, zone), g.platform, now
        )
        - MARGIN
        for g in groups
        if g is not None and g.platform in core.platforms
    ]
    return max(0, min(limits)) if limits else UNKNOWN
