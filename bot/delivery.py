"""The outbox worker: claims due deliveries, sends them, records what happened.

Exactly once, step by step:

1. An official message and one delivery row per target group are stored in one
   transaction (`bot.services.alerts.store`); follow-ups likewise.
2. The worker claims due rows and marks them `sending` in one transaction, before any
   platform call; the same transaction reads what the rows need (alert, zone, group,
   follow-up). On PostgreSQL the claim is one `UPDATE ... WHERE id IN (SELECT ... FOR UPDATE
   SKIP LOCKED)`, so workers in several processes never take the same row; SQLite serves one
   process, whose worker claims under a lock.
3. Once the platform has accepted a message, its row becomes `sent` with the platform's
   message id (follow-ups reply to it, withdrawals delete it), in a commit of its own made
   right then: never gathered with other rows' commits, which would widen the window below.
   Its audit entry goes in the same statement (`storage.alerts.SentWriter`). A `sent` row
   is never claimed again.

The one crash window: the process dies after the platform accepted a message and before
`sent` was committed. The row stays `sending`; when its lease (`DeliverySettings.lease`)
has run out a worker claims it again and sends again. Matrix drops that second copy,
because every send carries the transaction id `binbot-d<delivery id>`. Telegram has no
such id, so there, and only there, this crash can show the message twice. Every other
failure (429, 5xx, timeouts, a stopped worker) is retried without duplicates.

In the background the worker keeps up to `concurrency` rows in hand and claims more once
half of them have settled, rather than waiting for a whole batch. A chat's rows go out one
after another in the order claimed, a row claimed later waiting behind the chat's rows still
in hand. A 429 or a transient error puts back only that chat's rows, with back-off; the
other chats are sent concurrently and never wait for it. Non-urgent messages are stored
with a `next_attempt_at` after the zone's quiet hours, so they simply are not due. A
withdrawal cancels the rows not yet claimed, and this process's rows in hand that have not
been sent; a row another process holds at that moment (for well under a second) goes out,
and the withdrawal follows it there and deletes it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
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
from storage.alerts import CANCELLED, FAILED, SENT, AlertRepo, SentWriter
from storage.tables import Alert, Delivery, FollowUp, Group, Zone

if TYPE_CHECKING:
    from bot.dispatch import Core
    from storage.repo import Repo

log = logging.getLogger(__name__)

# A follow-up waits this long for its original when another process is still sending it.
ORIGINAL_WAIT = timedelta(seconds=2)
MIN_RETRY = 0.5
# A batch takes the rows whose overall-limit slot frees within this time, and each waits for
# its slot in the batch: claiming and reading then overlap the wait instead of adding to it.
AHEAD = timedelta(seconds=0.25)
# In the background, receipts are brought up to date at most this often (seconds); the last
# refresh always comes after the last row in hand has settled.
RECEIPT_EVERY = 0.25


@dataclass
class _Job:
    """Everything one send needs, read with its claim (the original just before sending)."""

    alert: Alert
    zone: Zone
    group: Group | None
    followup: FollowUp | None
    original: Delivery | None = None
    # The message as rendered for (language, platform, buttons), shared by the jobs of one
    # alert in one claim: a fan-out renders it once per language, not once per group.
    renders: dict[tuple[str, str, bool], Outgoing] = field(default_factory=dict)


@dataclass
class _Item:
    """A claimed row in hand: its claim token, what it needs, and when it has settled."""

    row: Delivery
    token: str
    job: _Job | None  # None: the alert (or its zone) is gone
    done: asyncio.Future[None]
    receipt: bool = False  # refresh the receipt in the background once settled
    error: BaseException | None = None


@dataclass
class _Chat:
    """The rows in hand for one chat, sent one after another in the order claimed."""

    queue: deque[_Item] = field(default_factory=deque)
    regroup: bool = False  # the group changed under us (bot removed): read it again


class DeliveryWorker:
    """Sends the outbox. `run_once()`/`drain()` drive it step by step (tests, console);
    `start()` runs it in the background until `stop()`.

    In the background the worker keeps up to `concurrency` rows in hand and claims more as
    soon as half of them have settled, instead of waiting for the slowest send of a batch.
    Each chat's rows still go out one after another, in the order claimed."""

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
        self._lock = asyncio.Lock()  # claims, one at a time
        self._batch_lock = asyncio.Lock()  # run_once
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._chats: dict[int, _Chat] = {}
        self._chat_tasks: set[asyncio.Task[None]] = set()
        self._in_hand = 0
        self._more = False  # the last claim was full: more rows are probably due
        self._dirty: set[int] = set()  # alerts whose receipt is to be refreshed
        self._flusher: asyncio.Task[None] | None = None
        self._receipts_at = 0.0
        # Row updates share a few pooled connections rather than each taking its own: rows
        # sent together settle together, and more at once only makes the pool open (and
        # close again) overflow connections.
        self._db_slots = asyncio.Semaphore(self.settings.connections)
        self._writer = SentWriter(core.db, self.settings.connections)
        self.receipts = Receipts(core)
        # Official messages withdrawn in this process since their rows were claimed: those
        # rows in hand are cancelled rather than sent (see `withdrawn`).
        self._withdrawn: set[int] = set()
        core.services["delivery"] = self
        core.idle_hooks.append(self.drain)

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Run in the background on the current event loop."""
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        """Finish the rows in hand, then stop (rows not yet claimed wait in the outbox)."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 30)
            except TimeoutError:
                self._task.cancel()
            self._task = None

    def withdrawn(self, alert_id: int) -> None:
        """An official message was withdrawn here: its rows in hand are not sent after all."""
        if len(self._withdrawn) >= 10_000:
            self._withdrawn.clear()
        self._withdrawn.add(alert_id)

    def wake(self) -> None:
        """New work was queued: look now rather than at the next poll."""
        self._wake.set()

    @property
    def _refill(self) -> int:
        """Claim again once this many of the `concurrency` places are free."""
        return max(1, self.settings.concurrency // 2)

    async def _loop(self) -> None:
        try:
            while not self._stopping:
                try:
                    delay = await self._step()
                except Exception:
                    log.exception("delivery batch failed")
                    delay = self.settings.poll_interval
                if delay is None:
                    continue
                try:
                    await asyncio.wait_for(self._wake.wait(), delay)
                except TimeoutError:
                    pass
                self._wake.clear()
        finally:
            await self._finish()

    async def _step(self) -> float | None:
        """Claim what there is room for; None to go on at once, else how long to wait."""
        if not self.parallel:  # one batch at a time, in order (the console)
            return None if await self.run_once() else await self._idle_delay()
        room = self.settings.concurrency - self._in_hand
        if room < self._refill:  # woken when enough rows in hand have settled
            return self.settings.poll_interval
        items, asked = await self._claim(room)
        self._more = asked > 0 and len(items) >= asked
        if items:
            for item in items:
                item.receipt = True
            self._dispatch(items)
        if self._more:
            return None
        return await self._idle_delay()

    async def _finish(self) -> None:
        """Let the rows in hand settle, then bring their receipts up to date."""
        while self._chat_tasks:
            await asyncio.gather(*list(self._chat_tasks), return_exceptions=True)
        self._receipts_at = 0.0
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)

    async def _idle_delay(self) -> float:
        async with self.core.tx() as repo:
            nxt = await AlertRepo(repo.session).next_due(self._platforms())
        if nxt is None:
            return self.settings.poll_interval
        now = self.core.clock.now()
        wait = (nxt - now).total_seconds()
        if wait <= 0:  # due, but there was no room: look again just before a slot frees
            slots = [self.limiter.free_in(Platform(p), now) for p in self._platforms()]
            ahead = min(slots, default=0.0) - AHEAD.total_seconds()
            return min(self.settings.poll_interval, max(0.001, ahead))
        return min(self.settings.poll_interval, max(0.05, wait))

    def _platforms(self) -> list[str]:
        return [p.value for p in self.core.platforms]

    # -- claiming --------------------------------------------------------------------------

    async def drain(self) -> None:
        """Send everything due now; return when nothing due can go out now, and no row the
        background loop has in hand is still being sent."""
        while True:
            if await self.run_once():
                continue
            if not self._chat_tasks:
                return
            await asyncio.gather(*list(self._chat_tasks), return_exceptions=True)

    async def run_once(self) -> int:
        """Claim one batch of due rows and settle each; returns how many were claimed."""
        async with self._batch_lock:  # one whole batch at a time, as the console replays it
            return await self._batch()

    async def _batch(self) -> int:
        items, _ = await self._claim(self.settings.concurrency)
        if not items:
            return 0
        now = self.core.clock.now()
        if self.parallel:
            self._dispatch(items)
            await asyncio.gather(*(i.done for i in items))
        else:
            by_chat: dict[int, list[_Item]] = {}
            for item in items:
                by_chat.setdefault(item.row.group_id, []).append(item)
            for chat_items in by_chat.values():
                self._dispatch(chat_items)
                await asyncio.gather(*(i.done for i in chat_items))
        errors = [i.error for i in items if i.error is not None]
        if errors:  # as a TaskGroup over the chats would report them
            raise BaseExceptionGroup("delivery batch failed", errors)
        for alert_id in sorted({i.row.alert_id for i in items}):
            await self.refresh_receipt(alert_id)
        self.limiter.forget_idle(now)
        return len(items)

    async def _claim(self, most: int) -> tuple[list[_Item], int]:
        """Claim up to `most` due rows (fewer where the rate limit has less room) and read
        what they need, in one transaction; also returns how many were asked for."""
        async with self._lock:
            platforms = self._platforms()
            if not platforms or most <= 0:
                return [], 0
            now = self.core.clock.now()
            token = f"{self.name}#{next(self._batches)}"
            rows: list[Delivery] = []
            asked = 0
            async with self.core.tx() as repo:
                ar = AlertRepo(repo.session)
                for platform in platforms:
                    limit = min(most, self._room(Platform(platform), now))
                    if limit:
                        asked += limit
                        rows += await ar.claim(now, token, limit, now - self.lease, [platform])
                if not rows:
                    return [], asked
                ctx = await ar.context(rows)
        loop = asyncio.get_running_loop()
        items = []
        renders: dict[int, dict[tuple[str, str, bool], Outgoing]] = {}
        for row in rows:
            alert = ctx.alerts.get(row.alert_id)
            zone = ctx.zones.get(alert.zone_id) if alert is not None else None
            job = None
            if alert is not None and zone is not None:
                fu = ctx.followups.get(row.followup_id) if row.followup_id else None
                shared = renders.setdefault(alert.id, {})
                job = _Job(alert, zone, ctx.groups.get(row.group_id), fu, renders=shared)
            items.append(_Item(row, token, job, loop.create_future()))
        return items, asked

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

    # -- rows in hand ----------------------------------------------------------------------

    def _dispatch(self, items: Sequence[_Item]) -> None:
        """Hand claimed rows to their chats: after any rows of the same chat already in hand."""
        self._in_hand += len(items)
        loop = asyncio.get_running_loop()
        for item in items:
            chat = self._chats.get(item.row.group_id)
            if chat is None:
                chat = self._chats[item.row.group_id] = _Chat()
                task = loop.create_task(self._chat(item.row.group_id, chat))
                self._chat_tasks.add(task)
                task.add_done_callback(self._chat_tasks.discard)
            chat.queue.append(item)

    async def _chat(self, group_id: int, chat: _Chat) -> None:
        """One chat's rows, in order; once one must wait, the rest in hand waits too."""
        try:
            while chat.queue:
                item = chat.queue.popleft()
                later = None
                try:
                    later = await self._one(item, chat)
                except Exception as exc:
                    # The row stays `sending` until its lease runs out; then it is retried.
                    log.exception("delivery %s: settling it failed", item.row.id)
                    item.error = exc
                except BaseException as exc:  # the process is going down: leave the rest
                    item.error = exc
                    for other in chat.queue:
                        other.error = exc
                        self._settled(other)
                    chat.queue.clear()
                    if isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt, SystemExit)):
                        raise
                finally:
                    self._settled(item)
                if later is None or not chat.queue:
                    continue
                rest = list(chat.queue)
                chat.queue.clear()
                try:
                    async with self._tx() as repo:
                        ar = AlertRepo(repo.session)
                        for other in rest:
                            await ar.retry_at(other.row.id, other.token, later, None, count=False)
                except Exception as exc:
                    log.exception("delivery: putting back the rows of group %s failed", group_id)
                    for other in rest:
                        other.error = exc
                finally:
                    for other in rest:
                        self._settled(other)
        finally:
            del self._chats[group_id]

    def _settled(self, item: _Item) -> None:
        self._in_hand -= 1
        if not item.done.done():
            item.done.set_result(None)
        if item.receipt:
            self._receipt_soon(item.row.alert_id)
        if self._more and self.settings.concurrency - self._in_hand == self._refill:
            self._wake.set()  # room for another claim

    def _receipt_soon(self, alert_id: int) -> None:
        """Refresh the alert's receipt at most every RECEIPT_EVERY, and always once after the
        last of its rows here has settled (so the final figures are shown)."""
        self._dirty.add(alert_id)
        if self._flusher is None:  # `Core.idle()` waits for it, as for other background work
            self._flusher = self.core.spawn(self._flush_receipts())

    async def _flush_receipts(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._dirty:
                wait = self._receipts_at - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                alert_ids = sorted(self._dirty)
                self._dirty.clear()
                self._receipts_at = loop.time() + RECEIPT_EVERY
                for alert_id in alert_ids:
                    try:
                        await self.refresh_receipt(alert_id)
                    except Exception:
                        log.exception("receipt of alert %s: refresh failed", alert_id)
        finally:
            self._flusher = None

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[Repo]:
        """A transaction for one row's outcome, on one of the worker's connection slots."""
        async with self._db_slots, self.core.tx() as repo:
            yield repo

    async def _original(self, row: Delivery, alert: Alert) -> Delivery | None:
        async with self._tx() as repo:
            return await AlertRepo(repo.session).original_in(alert.id, row.group_id)

    async def _one(self, item: _Item, chat_state: _Chat) -> datetime | None:
        """Settle one row. Returns when to try this chat again if it must wait, else None."""
        row, token, job = item.row, item.token, item.job
        now = self.core.clock.now()
        if job is None:
            await self._fail(row, token, None, "alert_missing")
            return None
        if chat_state.regroup:
            async with self._tx() as repo:
                job.group = await AlertRepo(repo.session).group(row.group_id)
        group = job.group
        if group is None or not group.active:
            why = (group.inactive_reason if group else None) or ("unlinked" if group else "gone")
            await self._fail(row, token, job, f"group_inactive:{why}")
            return None
        withdrawn = job.alert.state == "withdrawn" or job.alert.id in self._withdrawn
        if job.followup is None and withdrawn:
            await self._fail(row, token, job, "withdrawn", status=CANCELLED)
            return None
        reply_to = None
        if job.followup is not None:
            # Read now, not with the claim: the original may have gone out just before.
            job.original = original = await self._original(row, job.alert)
            if original is None or original.status in (FAILED, CANCELLED):
                await self._fail(row, token, job, "original_not_delivered", status=CANCELLED)
                return None
            if original.status != SENT:
                return await self._later(
                    row, token, max(now + ORIGINAL_WAIT, original.next_attempt_at)
                )
            reply_to = original.platform_message_id
        port = self.core.platforms[Platform(row.platform)]
        # Read the clock again: the row may have waited behind the rest of its chat, and the
        # limiter must count the send when it leaves, not when its row was picked up.
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
            chat_state.regroup = True
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
            key = (lang, group.platform, port.capabilities.buttons)
            msg = job.renders.get(key)
            if msg is None:
                msg = job.renders[key] = render.official_outgoing(
                    job.alert, job.zone, lang, group.platform, buttons=port.capabilities.buttons
                )
            return msg
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
        # The row's own commit, right after the platform took it (never batched with others:
        # that would widen the crash window), with its audit entry in the same round trip.
        ok = await self._writer.record(
            row.id,
            token,
            sent.message_id,
            group.chat_id,
            now,
            zone_id=job.alert.zone_id,
            bin_id=group.bin_id,
            detail={
                "ref": job.alert.ref,
                "delivery": row.id,
                "group": group.id,
                "platform": row.platform,
                "kind": _kind(job),
            },
        )
        if not ok:
            log.warning("delivery %s: the claim ran out before it was recorded as sent", row.id)

    async def _fail(
        self, row: Delivery, token: str, job: _Job | None, reason: str, *, status: str = FAILED
    ) -> None:
        now = self.core.clock.now()
        async with self._tx() as repo:
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
        async with self._tx() as repo:
            await AlertRepo(repo.session).retry_at(row.id, token, at, reason, count=False)
        self._wake.set()  # it may be due again at once (a moved chat)
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
        async with self._tx() as repo:
            await AlertRepo(repo.session).retry_at(row.id, token, at, reason, count=True)
        log.info("delivery %s: %s, retrying in %.1fs", row.id, reason, delay)
        return at

    async def _moved(
        self, row: Delivery, token: str, job: _Job, group: Group, new_id: str, now: datetime
    ) -> datetime | None:
        """The group got a new id (Telegram supergroup): follow it and send there at once."""
        async with self._tx() as repo:
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
