"""How official messages, follow-ups, receipts and checks read, in every language.

The core produces Rich text only; adapters escape it for their platform. The author's text
is always one plain Span, so markup typed into it shows literally everywhere.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

from bot import texts
from bot.model import Button, Outgoing, Platform, Rich, Span

if TYPE_CHECKING:
    from storage.tables import Alert, FollowUp, Zone

PLATFORM_NAMES = {"telegram": "Telegram", "matrix": "Matrix", "console": "console"}

# Failure reasons as adapters and the worker write them, mapped to a catalogue key.
_REASONS = (
    ("bot_removed", "alerts.reason_bot_removed"),
    ("forbidden", "alerts.reason_bot_removed"),
    ("chat_not_found", "alerts.reason_chat_gone"),
    ("chat_gone", "alerts.reason_chat_gone"),
    ("group_inactive", "alerts.reason_group_inactive"),
    ("message_too_long", "alerts.reason_too_long"),
    ("missing_rights", "alerts.reason_missing_rights"),
    ("gave_up", "alerts.reason_gave_up"),
    ("original_not_delivered", "alerts.reason_original_missing"),
)


def prefix_of(platform: str) -> str:
    """How commands are written on a platform."""
    return "!" if platform == Platform.MATRIX.value else "/"


def when(moment: datetime, zone: Zone, lang: str) -> str:
    """A moment in the zone's local time, e.g. `ma 5 jan 14:05`."""
    return str(
        format_datetime(moment, "EEE d MMM HH:mm", tzinfo=ZoneInfo(zone.timezone), locale=lang)
    )


def organisation(role: str, zone: Zone, lang: str) -> str:
    """Who issued a message: the police zone, or the prevention service of the zone."""
    return texts.text(f"alerts.org_{role}", lang, zone=zone.name)


def category_name(category: str, lang: str) -> str:
    """A category in words."""
    return texts.text(f"alerts.cat_{category}", lang)


def state_name(state: str, lang: str) -> str:
    """A state in words."""
    return texts.text(f"alerts.state_{state}", lang)


def urgency_name(urgency: str, lang: str) -> str:
    """An urgency in words."""
    return texts.text(f"alerts.urgency_{urgency}", lang)


def official(alert: Alert, zone: Zone, lang: str, prefix: str, *, buttons: bool) -> Rich:
    """The official message as residents read it in their group."""
    t = _t(lang, prefix)
    parts = [
        t(f"alerts.msg_head_{alert.urgency}"),
        t(
            "alerts.msg_from",
            organisation=organisation(alert.author_role, zone, lang),
            category=category_name(alert.category, lang),
        ),
        Rich(),
        Rich((Span(alert.text),)),
        Rich(),
        t(
            "alerts.msg_meta",
            ref=alert.ref,
            time=when(alert.release_at, zone, lang),
            valid=when(alert.valid_until, zone, lang),
        ),
        t("alerts.msg_check", ref=alert.ref),
        t("alerts.msg_numbers", urgent=zone.urgent_number, emergency=zone.emergency_number),
    ]
    if not buttons:
        parts.append(t("alerts.msg_seen_hint", ref=alert.ref))
    return Rich.join(parts)


def official_outgoing(
    alert: Alert, zone: Zone, lang: str, platform: str, *, buttons: bool
) -> Outgoing:
    """The official message with its Seen button, silent when not urgent."""
    body = official(alert, zone, lang, prefix_of(platform), buttons=buttons)
    rows: tuple[tuple[Button, ...], ...] = ()
    if buttons:
        rows = ((seen_button(alert.id, lang),),)
    return Outgoing(body, rows, silent=alert.urgency != "urgent")


def seen_button(alert_id: int, lang: str) -> Button:
    """The Seen button under an official message in a group."""
    return Button(texts.text("alerts.btn_seen", lang), f"seen:{alert_id}")


def followup(alert: Alert, fu: FollowUp, zone: Zone, lang: str, prefix: str) -> Rich:
    """An update, all-clear or withdrawal, posted as a reply to the original."""
    t = _t(lang, prefix)
    parts = [
        t(f"alerts.fu_head_{fu.kind}", ref=alert.ref),
        t(
            "alerts.fu_from",
            organisation=organisation(alert.author_role, zone, lang),
            time=when(fu.created_at, zone, lang),
        ),
        Rich(),
    ]
    if fu.text:
        parts.append(Rich((Span(fu.text),)))
    elif fu.kind in ("resolve", "withdraw"):
        parts.append(t(f"alerts.fu_{fu.kind}_default"))
    parts += [Rich(), t("alerts.msg_check", ref=alert.ref)]
    return Rich.join(parts)


def followup_outgoing(
    alert: Alert, fu: FollowUp, zone: Zone, lang: str, platform: str, reply_to: str | None
) -> Outgoing:
    """A follow-up as a reply. Updates of urgent messages ring; the rest arrives quietly."""
    silent = alert.urgency != "urgent" or fu.kind != "update"
    body = followup(alert, fu, zone, lang, prefix_of(platform))
    return Outgoing(body, silent=silent, reply_to=reply_to)


# -- figures ---------------------------------------------------------------------------------


@dataclass
class Figures:
    """Delivery figures of one message or one follow-up."""

    delivered: Counter[str] = field(default_factory=Counter)
    pending: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    cancelled: int = 0

    @property
    def total(self) -> int:
        return (
            sum(self.delivered.values())
            + self.pending
            + sum(self.failed.values())
            + self.cancelled
        )

    @property
    def settled(self) -> bool:
        return self.pending == 0


def figures(
    rows: list[tuple[int | None, str, str, str | None, int]],
) -> dict[int | None, Figures]:
    """Figures per follow-up id (None: the message itself) from AlertRepo.figures rows."""
    out: dict[int | None, Figures] = {}
    for followup_id, platform, status, error, count in rows:
        f = out.setdefault(followup_id, Figures())
        if status == "sent":
            f.delivered[platform] += count
        elif status == "failed":
            f.failed[error or "unknown"] += count
        elif status == "cancelled":
            f.cancelled += count
        else:
            f.pending += count
    return out


def reason_text(reason: str, lang: str) -> str:
    """A failure reason in words; unknown codes are shown as they are."""
    for code, key in _REASONS:
        if reason.startswith(code):
            return texts.text(key, lang)
    return texts.text("alerts.reason_other", lang, reason=reason)


def status(
    alert: Alert,
    zone: Zone,
    fus: list[FollowUp],
    figs: dict[int | None, Figures],
    seen: int,
    lang: str,
    prefix: str,
    now: datetime,
    *,
    receipt: bool = False,
    photo: tuple[int, int] | None = None,
) -> Rich:
    """Delivery figures of a message and its follow-ups (receipt and /status); `photo`, the
    size of the photo it carries, if any."""
    t = _t(lang, prefix)
    main = figs.get(None, Figures())
    parts = [t("alerts.receipt_title", ref=alert.ref)] if receipt else []
    parts += _status_head(t, alert, zone, now)
    if photo is not None:
        parts.append(t("media.status_photo", width=photo[0], height=photo[1]))
    if alert.release_at > now and main.pending:
        parts.append(t("alerts.status_held", time=when(alert.release_at, zone, lang)))
    parts += _status_figures(t, main)
    parts += [_status_followup(t, fu, figs.get(fu.id, Figures()), zone) for fu in fus]
    parts.append(t("alerts.status_seen", count=seen))
    return Rich.join(parts)


def _status_head(t: _T, alert: Alert, zone: Zone, now: datetime) -> list[Rich]:
    """Which message, its state, who issued it and how long it holds."""
    lang = t.lang
    return [
        t(
            "alerts.status_title",
            ref=alert.ref,
            urgency=urgency_name(alert.urgency, lang),
            category=category_name(alert.category, lang),
            state=state_name(state_of(alert, now), lang),
        ),
        t(
            "alerts.status_sent",
            organisation=organisation(alert.author_role, zone, lang),
            time=when(alert.created_at, zone, lang),
            valid=when(alert.valid_until, zone, lang),
        ),
    ]


def _status_figures(t: _T, main: Figures) -> list[Rich]:
    """Delivered (per platform), pending, failed (with reasons) and cancelled."""
    per = ", ".join(f"{PLATFORM_NAMES.get(p, p)} {n}" for p, n in sorted(main.delivered.items()))
    parts = [
        t(
            "alerts.status_delivered",
            delivered=sum(main.delivered.values()),
            total=main.total,
            platforms=f"({per})" if per else "",
        ),
        t("alerts.status_pending", count=main.pending),
    ]
    if main.failed:
        parts.append(
            t(
                "alerts.status_failed",
                count=sum(main.failed.values()),
                reasons=_reasons(main.failed, t.lang),
            )
        )
    if main.cancelled:
        parts.append(t("alerts.status_cancelled", count=main.cancelled))
    return parts


def _status_followup(t: _T, fu: FollowUp, f: Figures, zone: Zone) -> Rich:
    """One line per follow-up: when, and how far it got."""
    return t(
        "alerts.status_followup",
        kind=texts.text(f"alerts.kind_{fu.kind}", t.lang),
        time=when(fu.created_at, zone, t.lang),
        delivered=sum(f.delivered.values()),
        total=f.total - f.cancelled,
        pending=f.pending,
        failed=sum(f.failed.values()),
    )


def _reasons(failed: Counter[str], lang: str) -> str:
    words: Counter[str] = Counter()
    for reason, n in failed.items():
        words[reason_text(reason, lang)] += n
    return ", ".join(f"{w}: {n}" for w, n in sorted(words.items()))


def state_of(alert: Alert, now: datetime) -> str:
    """The state as people should read it: live messages past their validity are expired."""
    if alert.state in ("active", "updated") and alert.valid_until <= now:
        return "expired"
    return alert.state


class _T:
    """Catalogue texts in one language for one platform's command prefix."""

    def __init__(self, lang: str, prefix: str) -> None:
        self.lang = lang
        self.prefix = prefix

    def __call__(self, key: str, /, **values: object) -> Rich:
        return texts.rich(key, self.lang, p=self.prefix, **values)


def _t(lang: str, prefix: str) -> _T:
    return _T(lang, prefix)
