"""The outbox worker: claims due deliveries, sends them, records what happened.

Exactly once, step by step:

1. An official message and one delivery row per target group are stored in one
   transaction (`bot.services.alerts.store`); follow-ups likewise.
2. The worker claims due rows and marks them `sending` in one transaction, before any
   platform call. On PostgreSQL the claim uses `SELECT ... FOR UPDATE SKIP LOCKED`, so
   workers in several processes never take the same row; SQLite serves one process, whose
   worker claims under a lock.
3. Once the platform has accepted a message, its row becomes `sent` with the platform's
   message id (follow-ups reply to it, withdrawals delete it). A `sent` row is never
   claimed again.

The one crash window: the process dies after the platform accepted a message and before
`sent` was committed. The row stays `sending`; when its lease (`DeliverySettings.lease`)
has run out a worker claims it again and sends again. Matrix drops that second copy,
because every send carries the transaction id `binbot-d<delivery id>`. Telegram has no
such id, so there, and only there, this crash can show the message twice. Every other
failure (429, 5xx, timeouts, a stopped worker) is retried without duplicates.

A 429 or a transient error puts back only that chat's rows, with back-off; the other
chats of the batch are sent concurrently and never wait for it. Non-urgent messages are
stored with a `next_attempt_at` after the zone's quiet hours, so they simply are not due.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot import metrics
from bot.model import ChatRef, MessageRef, Outgoing, Platform
from bot.ports import (
    BotRemoved,
    ChatMoved,
    PermanentError,
    PlatformError,
    PlatformPort,
    RetryLater,
)
from bot.ratelimit import RateLimiter
from bot.scheduler import periodic
from bot.services import alert_render as render
from bot.services import alerts, linking
from bot.services.alert_receipts import Receipts
from config.settings import DeliverySettings, Settings
from storage.alerts import CANCELLED, FAILED, SENT, AlertRepo
from storage.tables import Alert, Delivery, FollowUp, Group, Zone

if TYPE_CHECKING:
    from bot.dispatch import Core

log = logging.getLogger(__name__)

# A follow-up waits this long for its original when another process is still sending it.
ORIGINAL_WAIT = timedelta(seconds=2)
MIN_RETRY = 0.5
# A batch takes the rows whose overall-limit slot frees within this time, and each waits for
# its slot in the batch: claiming and reading then overlap the wait instead of adding to it.
AHEAD = timedelta(seconds=0.25)


@dataclass
class _Job:
    """Everything one send needs, read in one short transaction."""

    alert: Alert
    zone: Zone
    group: Group | None
    followup: FollowUp | None
    original: Delivery | None


class DeliveryWorker:
    """Sends the outbox. `run_once()`/`drain()` drive it step by step (tests, console);
    `start()` runs it in the background until `stop()`."""

    def __init__(
        self,
        core: Core,
        settings: DeliverySettings | None = None,
        limiter: RateLimiter | None = None,
        *,
        name: str = "binbot",
        parallel: bool = True,
    ) -> None:
        self.core = core
        self.settings = settings or DeliverySettings()
        self.limiter = limiter or RateLimiter()
        self.name = name[:40]
        # Chats of a batch go out concurrently; one after another where order matters more
        # than latency (the console, whose transcript must replay identically).
        self.parallel = parallel
        self.lease = timedelta(seconds=self.settings.lease)
        self._batches = itertools.count(1)
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.receipts = Receipts(core)
        core.services["delivery"] = self
        core.idle_hooks.append(self.drain)

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Run in the background on the current event loop."""
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        """Finish the batch in hand, then stop (rows not yet sent wait in the outbox)."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 30)
            except TimeoutError:
                self._task.cancel()
            self._task = None

    def wake(self) -> None:
        """New work was queued: look now rather than at the next poll."""
        self._wake.set()

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                if await self.run_once():
                    continue
                delay = await self._idle_delay()
            except Exception:
                log.exception("delivery batch failed")
                delay = self.settings.poll_interval
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except TimeoutError:
                pass
            self._wake.clear()

    async def _idle_delay(self) -> float:
        async with self.core.tx() as repo:
            nxt = await AlertRepo(repo.session).next_due(self._platforms())
        if nxt is None:
            return self.settings.poll_interval
        now = self.core.clock.now()
        wait = (nxt - now).total_seconds()
        if wait <= 0:  # due, but run_once found no room: look again just before a slot frees
            slots = [self.limiter.free_in(Platform(p), now) for p in self._platforms()]
            ahead = min(slots, default=0.0) - AHEAD.total_seconds()
            return min(self.settings.poll_interval, max(0.001, ahead))
        return min(self.settings.poll_interval, max(0.05, wait))

    def _platforms(self) -> list[str]:
        return [p.value for p in self.core.platforms]

    # -- one batch -------------------------------------------------------------------------

    async def drain(self) -> None:
        """Send everything due now; return when nothing due can go out now."""
        while await self.run_once():
            pass

    async def run_once(self) -> int:
        """Claim one batch of due rows and settle each; returns how many were claimed."""
        async with self._lock:
            platforms = self._platforms()
            if not platforms:
                return 0
            now = self.core.clock.now()
            token = f"{self.name}#{next(self._batches)}"
            rows: list[Delivery] = []
            async with self.core.tx() as repo:
                ar = AlertRepo(repo.session)
                for platform in platforms:
                    limit = self._room(Platform(platform), now)
                    if limit:
                        rows += await ar.claim(now, token, limit, now - self.lease, [platform])
            if not rows:
                return 0
            by_chat: dict[int, list[Delivery]] = {}
            for row in rows:
                by_chat.setdefault(row.group_id, []).append(row)
            if self.parallel:
                async with asyncio.TaskGroup() as tg:
                    for chat_rows in by_chat.values():
                        tg.create_task(self._chat(chat_rows, token))
            else:
                for chat_rows in by_chat.values():
                    await self._chat(chat_rows, token)
            for alert_id in sorted({r.alert_id for r in rows}):
                await self.refresh_receipt(alert_id)
            self.limiter.forget_idle(now)
            return len(rows)

    def _room(self, platform: Platform, now: datetime) -> int:
        """How many rows of `platform` to claim now.

        No more than the platform's overall limit lets out within AHEAD: a row claimed only
        to be put back costs two transactions and delays the rest. And no more than the limit
        lets out in AHEAD at its steady pace, so that a second's worth of slots freeing at
        once goes out in small batches that each send promptly, not in one crowded one."""
        most = self.settings.concurrency
        room = self.limiter.room(platform, now + AHEAD)
        limits = self.limiter.limits.get(platform)
        if room is None or limits is None or limits.overall_per_second is None:
            return most
        return min(room, most, math.ceil(limits.overall_per_second * AHEAD.total_seconds()))

    async def _chat(self, rows: Sequence[Delivery], token: str) -> None:
        """One chat's rows, in order; once one must wait, the rest of the chat waits too."""
        for i, row in enumerate(rows):
            later = await self._one(row, token)
            if later is None:
                continue
            async with self.core.tx() as repo:
                ar = AlertRepo(repo.session)
                for rest in rows[i + 1 :]:
                    await ar.retry_at(rest.id, token, later, None, count=False)
            return

    async def _read(self, row: Delivery) -> _Job | None:
        async with self.core.tx() as repo:
            ar = AlertRepo(repo.session)
            alert = await ar.alert(row.alert_id)
            zone = await ar.zone(alert.zone_id) if alert else None
            if alert is None or zone is None:
                return None
            fu = await repo.session.get(FollowUp, row.followup_id) if row.followup_id else None
            original = await ar.original_in(alert.id, row.group_id) if fu else None
            return _Job(alert, zone, await ar.group(row.group_id), fu, original)

    async def _one(self, row: Delivery, token: str) -> datetime | None:
        """Settle one row. Returns when to try this chat again if it must wait, else None."""
        now = self.core.clock.now()
        job = await self._read(row)
        if job is None:
            await self._fail(row, token, None, "alert_missing")
            return None
        group = job.group
        if group is None or not group.active:
            why = (group.inactive_reason if group else None) or ("unlinked" if group else "gone")
            await self._fail(row, token, job, f"group_inactive:{why}")
            return None
        if job.followup is None and job.alert.state == "withdrawn":
            await self._fail(row, token, job, "withdrawn", status=CANCELLED)
            return None
        reply_to = None
        if job.followup is not None:
            original = job.original
            if original is None or original.status in (FAILED, CANCELLED):
                await self._fail(row, token, job, "original_not_delivered", status=CANCELLED)
                return None
            if original.status != SENT:
                return await self._later(
                    row, token, max(now + ORIGINAL_WAIT, original.next_attempt_at)
                )
            reply_to = original.platform_message_id
        port = self.core.platforms[Platform(row.platform)]
        # Read the clock again: the reads above may have queued behind the rest of the batch,
        # and the limiter must count the send when it leaves, not when its row was picked up.
        now = self.core.clock.now()
        wait = self.limiter.wait(port.platform, group.chat_id, now)
        # Its slot is about to free: wait for it here. Other rows of the batch may take the
        # first free slots; a row that finds none soon enough goes back to the queue.
        ahead, loop = AHEAD.total_seconds(), asyncio.get_running_loop()
        deadline = loop.time() + 2 * ahead
        while 0 < wait <= ahead and loop.time() + wait < deadline:
            await asyncio.sleep(wait)
            now = self.core.clock.now()
            wait = self.limiter.wait(port.platform, group.chat_id, now)
        if wait > 0:
            return await self._later(row, token, now + timedelta(seconds=wait))
        chat = ChatRef(port.platform, group.chat_id, False, group.title)
        msg = self._message(job, group, port, reply_to)
        began = loop.time()
        try:
            sent = await port.send(chat, msg, txn_id=f"binbot-d{row.id}")
            metrics.observe_send(row.platform, loop.time() - began)
            self.limiter.sent(port.platform, group.chat_id, now, self.core.clock.now())
        except RetryLater as exc:
            metrics.count_429(row.platform)
            until = now + timedelta(seconds=max(MIN_RETRY, exc.retry_after))
            self.limiter.block(port.platform, group.chat_id, until)
            return await self._later(row, token, until, exc.reason)
        except ChatMoved as exc:
            return await self._moved(row, token, job, group, exc.new_chat_id, now)
        except BotRemoved:
            # As when the platform reports the removal: the link goes inactive and the BIN's
            # coordinators are told, so that they can add the bot back.
            await linking.bot_gone(self.core, row.platform, group.chat_id)
            await self._fail(row, token, job, "bot_removed")
            return None
        except PermanentError as exc:
            await self._fail(row, token, job, exc.reason)
            return None
        except PlatformError as exc:  # TransientError, and anything not known to be final
            return await self._retry(row, token, job, exc.reason, now)
        except Exception:
            log.exception("delivery %s: unexpected error from %s", row.id, row.platform)
            return await self._retry(row, token, job, "internal_error", now)
        await self._sent(row, token, job, group, sent, now)
        if job.followup is not None and job.followup.kind == "withdraw" and reply_to:
            await self._delete_original(port, chat, reply_to, row)
        return None

    def _message(
        self, job: _Job, group: Group, port: PlatformPort, reply_to: str | None
    ) -> Outgoing:
        lang = alerts.group_language(group, job.zone)
        if job.followup is None:
            return render.official_outgoing(
                job.alert, job.zone, lang, group.platform, buttons=port.capabilities.buttons
            )
        return render.followup_outgoing(
            job.alert, job.followup, job.zone, lang, group.platform, reply_to
        )

    async def _delete_original(
        self, port: PlatformPort, chat: ChatRef, message_id: str, row: Delivery
    ) -> None:
        if not port.capabilities.delete:
            return
        try:
            await port.delete(MessageRef(chat, message_id))
        except PlatformError as exc:  # the withdrawal notice is out; deleting is a bonus
            log.info("delivery %s: deleting the withdrawn original failed: %s", row.id, exc.reason)

    # -- outcomes --------------------------------------------------------------------------

    async def _sent(
        self,
        row: Delivery,
        token: str,
        job: _Job,
        group: Group,
        sent: MessageRef,
        now: datetime,
    ) -> None:
        async with self.core.tx() as repo:
            ok = await AlertRepo(repo.session).mark_sent(
                row.id, token, sent.message_id, group.chat_id, now
            )
            await repo.audit(
                now,
                "delivery",
                "delivery.sent",
                zone_id=job.alert.zone_id,
                bin_id=group.bin_id,
                ref=job.alert.ref,
                delivery=row.id,
                group=group.id,
                platform=row.platform,
                kind=_kind(job),
            )
        if not ok:
            log.warning("delivery %s: the claim ran out before it was recorded as sent", row.id)

    async def _fail(
        self, row: Delivery, token: str, job: _Job | None, reason: str, *, status: str = FAILED
    ) -> None:
        now = self.core.clock.now()
        async with self.core.tx() as repo:
            await AlertRepo(repo.session).mark_failed(row.id, token, reason, status=status)
            if status == FAILED:
                await repo.audit(
                    now,
                    "delivery",
                    "delivery.failed",
                    outcome="failed",
                    zone_id=job.alert.zone_id if job else None,
                    ref=job.alert.ref if job else None,
                    delivery=row.id,
                    group=row.group_id,
                    platform=row.platform,
                    kind=_kind(job) if job else None,
                    reason=reason,
                )
        if status == FAILED:
            log.warning("delivery %s to group %s failed: %s", row.id, row.group_id, reason)

    async def _later(
        self, row: Delivery, token: str, at: datetime, reason: str | None = None
    ) -> datetime:
        """Put the row back without spending an attempt (rate limit, 429, waiting)."""
        async with self.core.tx() as repo:
            await AlertRepo(repo.session).retry_at(row.id, token, at, reason, count=False)
        return at

    async def _retry(
        self, row: Delivery, token: str, job: _Job, reason: str, now: datetime
    ) -> datetime | None:
        if row.attempts >= self.settings.max_attempts:
            await self._fail(row, token, job, f"gave_up:{reason}")
            return None
        base = min(
            self.settings.backoff_max, self.settings.backoff_base * 2 ** max(0, row.attempts - 1)
        )
        # Jitter keeps many chats that failed together from retrying in lockstep.
        delay = base * (0.5 + self.core.rng.random() / 2)
        at = now + timedelta(seconds=delay)
        async with self.core.tx() as repo:
            await AlertRepo(repo.session).retry_at(row.id, token, at, reason, count=True)
        log.info("delivery %s: %s, retrying in %.1fs", row.id, reason, delay)
        return at

    async def _moved(
        self, row: Delivery, token: str, job: _Job, group: Group, new_id: str, now: datetime
    ) -> datetime | None:
        """The group got a new id (Telegram supergroup): follow it and send there at once."""
        async with self.core.tx() as repo:
            ar = AlertRepo(repo.session)
            moved = await ar.move_group(group.id, row.platform, new_id)
            if not moved:  # the migration's own update may have moved this group already
                current = await ar.group(group.id)
                moved = current is not None and current.chat_id == new_id
        if not moved:
            await self._fail(row, token, job, "chat_migrated_conflict")
            return None
        return await self._later(row, token, now, "chat_migrated")

    async def refresh_receipt(self, alert_id: int) -> None:
        """Bring the author's receipt of an alert up to date."""
        await self.receipts.refresh(alert_id)


def _kind(job: _Job) -> str:
    return job.followup.kind if job.followup is not None else "message"


def build_worker(core: Core, settings: Settings) -> DeliveryWorker:
    """The worker as `binbot run` and `binbot console` start it (see SERVICE_FACTORIES)."""
    tg = settings.telegram
    limiter = RateLimiter.telegram(tg.rate_overall, tg.rate_per_chat, tg.rate_per_group_minute)
    console_only = set(core.platforms) == {Platform.CONSOLE}
    return DeliveryWorker(
        core, settings.delivery, limiter, name=settings.process_name, parallel=not console_only
    )


@periodic("delivery.sweep", seconds=60)
async def sweep(core: Core) -> None:
    """Requeue deliveries stuck in `sending` past their lease, and nudge the worker."""
    now = core.clock.now()
    worker = core.services.get("delivery")
    lease = (
        worker.lease
        if isinstance(worker, DeliveryWorker)
        else timedelta(seconds=DeliverySettings().lease)
    )
    async with core.tx() as repo:
        stuck = await AlertRepo(repo.session).requeue_stale(now - lease, now)
    if stuck:
        log.warning("%d deliveries were stuck in sending past their lease; queued again", stuck)
    if isinstance(worker, DeliveryWorker):
        worker.wake()
