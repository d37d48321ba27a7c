"""Prometheus metrics of one process, on a registry of its own (never the global one).

Counters and the send-latency histogram are updated where things happen (`count_update` in
Core.handle, `observe_send` and `count_429` in the delivery worker). Figures that live in the
database (deliveries per status, pending join requests) are read at scrape time by `refresh`.
Updates per second: `rate(binbot_updates_total[1m])`; the share of updates answered without
reading the person again: `binbot_contexts_total{source="reused"}` over all contexts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from bot.events import Event

if TYPE_CHECKING:
    from storage.db import Database

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)

UPDATES = Counter(
    "binbot_updates",
    "Updates handed to the core, by platform and kind.",
    ["platform", "kind"],
    registry=REGISTRY,
)
DELIVERY_SECONDS = Histogram(
    "binbot_delivery_seconds",
    "Time one delivery's send call took, by platform.",
    ["platform"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)
RATE_LIMITED = Counter(
    "binbot_rate_limited",
    "Times a platform answered 429 (slow down), by platform.",
    ["platform"],
    registry=REGISTRY,
)
CONTEXTS = Counter(
    "binbot_contexts",
    "Who-is-speaking lookups: read from the database, or reused from a recent one.",
    ["source"],
    registry=REGISTRY,
)
_READ, _REUSED = CONTEXTS.labels("read"), CONTEXTS.labels("reused")

STATUSES = ("pending", "sent", "failed")
_KINDS = {
    "CommandIssued": "command",
    "MessagePosted": "message",
    "ButtonPressed": "button",
    "ReactionAdded": "reaction",
    "JoinRequested": "join_request",
    "BotAddedToChat": "bot_added",
    "BotRemovedFromChat": "bot_removed",
    "BotRightsChanged": "bot_rights",
    "MemberJoined": "member_joined",
    "MemberLeft": "member_left",
    "ChatMigrated": "chat_migrated",
}


def count_update(event: Event) -> None:
    """Count one update handed to the core."""
    name = type(event).__name__
    UPDATES.labels(event.chat.platform.value, _KINDS.get(name, name.lower())).inc()


def count_context(reused: bool) -> None:
    """One context resolved for an update (see Core.context)."""
    (_REUSED if reused else _READ).inc()


def observe_send(platform: str, seconds: float) -> None:
    """Record how long one delivery's send call took."""
    DELIVERY_SECONDS.labels(platform).observe(seconds)


def count_429(platform: str) -> None:
    """Count one rate-limit answer (HTTP 429) from a platform."""
    RATE_LIMITED.labels(platform).inc()


@dataclass
class _Snapshot:
    deliveries: dict[tuple[str, str], int] = field(default_factory=dict)
    join_requests_pending: int = 0
    database_up: bool = False


class _DatabaseFigures(Collector):
    """Gauges from the last `refresh`: what the database holds, not what this process did."""

    def __init__(self) -> None:
        self.snapshot = _Snapshot()

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot
        deliveries = GaugeMetricFamily(
            "binbot_deliveries",
            "Deliveries of official messages in the database, by platform and status.",
            labels=["platform", "status"],
        )
        counts = dict(snap.deliveries)
        for platform in {p for p, _ in counts}:
            for status in STATUSES:
                counts.setdefault((platform, status), 0)
        for (platform, status), n in sorted(counts.items()):
            deliveries.add_metric([platform, status], n)
        yield deliveries
        yield GaugeMetricFamily(
            "binbot_join_requests_pending",
            "Join requests waiting for a coordinator.",
            value=snap.join_requests_pending,
        )
        yield GaugeMetricFamily(
            "binbot_database_up",
            "1 when the last scrape could read the database.",
            value=1 if snap.database_up else 0,
        )


DATABASE_FIGURES = _DatabaseFigures()
REGISTRY.register(DATABASE_FIGURES)


async def refresh(db: Database, within: float = 5.0) -> bool:
    """Read the database figures now; on failure keep the last ones and mark the database down."""
    from storage.ops import figures

    async def read() -> _Snapshot:
        found = await figures(db)
        return _Snapshot(found.deliveries, found.join_requests_pending, True)

    try:
        DATABASE_FIGURES.snapshot = await asyncio.wait_for(read(), within)
    except Exception as exc:
        log.warning("metrics: reading the database failed (%s)", type(exc).__name__)
        DATABASE_FIGURES.snapshot.database_up = False
        return False
    return True


def render(accept: str | None = None) -> tuple[bytes, str]:
    """The registry in the format the scraper accepts (Prometheus text by default)."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(REGISTRY), content_type
