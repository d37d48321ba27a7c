"""The outbox worker: claims due deliveries, sends them, records what happened.

Exactly once, step by step:

1. An official message and one delivery row per target group are stored in one
   transaction (`bot.services.alerts.store`); follow-ups likewise. Each row carries a
   priority: urgent messages and their follow-ups, then non-urgent notices and theirs, then
   routine posts (`storage.alerts.URGENT`, `NOTICE`, `ROUTINE`).
2. The worker claims due rows, most urgent first and first in first out within a priority,
   and marks them `sending` in one transaction, before any platform call; the same
   transaction reads what the rows need (alert, zone, group, follow-up). On PostgreSQL the
   claim is one `UPDATE ... WHERE id IN (SELECT ... ORDER BY priority, id FOR UPDATE SKIP
   LOCKED)`, so workers in several processes never take the same row; SQLite serves one
   process, whose worker claims under a lock.
3. Once the platform has accepted a message, its row becomes `sent` with the platform's
   message id (follow-ups reply to it, withdrawals delete it), in a commit of its own made
   right then: never gathered with other rows' commits, which would widen the window below.
   Its audit entry goes in the same statement (`storage.sent.SentWriter`). A `sent` row
   is never claimed again.

The one crash window: the process dies after the platform accepted a message and before
`sent` was committed. Its rows stay `sending`, and are taken back at once: on SQLite, which
serves one process, the worker takes back every `sending` row as it starts; on PostgreSQL
each worker holds a session advisory lock while it runs and stamps its key on the rows it
claims (`claim_lock`), and the server frees the lock when the process's connection goes, so
any other worker (or the restarted one) claims those rows again immediately. The lease
(`DeliverySettings.lease`) stays as the last resort, for rows claimed without the lock.
Matrix drops a second copy, because every send carries the transaction id
`binbot-d<delivery id>`. Telegram has no such id, so there, and only there, this crash shows
twice the messages whose send was under way; a rate-limited platform therefore has no more
sends under way than its rate needs at the latency measured (`InFlight`), a handful at
Telegram's usual latency, and the second copies follow within seconds. Every other failure
(429, 5xx, timeouts, a stopped worker) is retried without duplicates.

In the background the worker keeps up to `concurrency` rows in hand and claims more once
half of them have settled, rather than waiting for a whole batch. On a rate-limited platform
it claims no more than the limit lets out within `AHEAD`, counting the rows in hand that have
not taken their slot yet; those take the slots most urgent first, then in claim order
(`Turns`), and when they hold all the room the worker still claims rows more urgent than the
least urgent of them, which then go first while the rows they push back return to the outbox
(without spending an attempt). So an urgent message confirmed in the middle of a notice's
fan-out waits for no notice row that has not started. A chat's rows go out one after another
in the order claimed, a row claimed later waiting behind the chat's rows still in hand,
except that a more urgent row goes before less urgent ones waiting there (a follow-up has its
message's priority, so it never overtakes its original). A 429 or a
transient error puts back only that chat's rows, with back-off; the other chats are sent
concurrently and never wait for it. Non-urgent messages are stored with a `next_attempt_at`
after the zone's quiet hours, so they simply are not due. A withdrawal cancels the rows not
yet claimed, and this process's rows in hand that have not been sent; a row another process
holds at that moment (for well under a second) goes out, and the withdrawal follows it there
and deletes it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.commands import Registry
from bot.delivery_send import AHEAD, ChatRows, Item, Job, RowSender
from bot.model import Outgoing, Platform
from bot.ratelimit import RateLimiter
from bot.services.alert_receipts import Receipts
from config.settings import DeliverySettings, Settings
from storage.locks import AdvisoryLock

if TYPE_CHECKING:
    from bot.dispatch import Core
    from storage.tables import Delivery

log = logging.getLogger(__name__)

# In the background, receipts are brought up to date at most this often (seconds); the last
# refresh always comes after the last row in hand has settled.
RECEIPT_EVERY = 0.25
# The liveness lock's connection is checked at most this often (seconds), before a claim.
LIVENESS_EVERY = 0.1

routes = Registry()


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
        # This worker's claims, told apart from a dead predecessor's of the same name.
        self._instance = secrets.token_hex(3)
        # PostgreSQL: the advisory lock this worker holds while it runs in the background;
        # rows it claims carry its key, and a row whose key nobody holds is claimed again.
        self._alive = AdvisoryLock(core.db, f"delivery:{self.name}:{self._instance}")
        self._alive_ok = False
        self._alive_checked = 0.0
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
        self._chats: dict[int, ChatRows] = {}
        self._chat_tasks: set[asyncio.Task[None]] = set()
        self._in_hand = 0
        self._more = False  # the last claim was full: more rows are probably due
        self._dirty: set[int] = set()  # alerts whose receipt is to be refreshed
        self._flusher: asyncio.Task[None] | None = None
        self._receipts_at = 0.0
        self.receipts = Receipts(core)
        self._seq = itertools.count()  # claim order, for the rows' turns at the rate limit
        # A claim found the rate limit's room taken by rows in hand not yet sent: look again
        # as soon as one of them has taken its slot.
        self._starved = False
        self._rows = RowSender(core, self.settings, self.limiter, self._wake.set, self._started)

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Run in the background on the current event loop.

        On SQLite, which serves this one process, any row still `sending` was left by this
        process's predecessor when it died: it is taken back at once. On PostgreSQL the
        worker takes its liveness lock first (see `_liveness`)."""
        self._stopping = False
        if not self.core.db.is_postgres:
            async with self.core.uow() as uow:
                back = await uow.alerts.take_back(self.core.clock.now(), self._platforms())
                await uow.commit()
            if back:
                log.warning("%d deliveries left sending by a stopped process; queued again", back)
        else:
            await self._liveness()
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
        self._alive_ok = False
        await self._alive.release()

    async def _liveness(self) -> int | None:
        """The key of this worker's advisory lock while it holds it (PostgreSQL, in the
        background), checked before each claim (at most every LIVENESS_EVERY); None otherwise.

        Claims made under the key are safe from other processes while the lock's connection
        lives; once it is gone (the process died) they claim those rows at once. A lock lost
        with its connection (the server restarted) is taken again under the same key, so
        that rows in hand stay ours. Without the lock, rows are claimed under the lease
        alone, as before: slower to recover, never sent twice for it."""
        if not self.core.db.is_postgres or self._stopping:
            return None
        loop = asyncio.get_running_loop()
        if loop.time() - self._alive_checked >= LIVENESS_EVERY or not self._alive_ok:
            self._alive_checked = loop.time()
            try:
                self._alive_ok = await self._alive.try_acquire()
            except Exception as exc:
                log.warning("delivery: liveness lock unavailable (%s)", type(exc).__name__)
                self._alive_ok = False
        return self._alive.key if self._alive_ok else None

    def withdrawn(self, alert_id: int) -> None:
        """An official message was withdrawn here: its rows in hand are not sent after all."""
        self._rows.withdrawn(alert_id)

    def _started(self) -> None:
        """A row in hand took its slot (or settled): if a claim was held back for it, claim."""
        if self._starved:
            self._starved = False
            self._wake.set()

    def receipt_posted(self, alert_id: int, text: str) -> None:
        """The author's receipt was posted with this text (so a refresh that would change
        nothing is not sent)."""
        self.receipts.posted(alert_id, text)

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
        if self._starved:  # woken when a row in hand takes its slot
            return self.settings.poll_interval
        return await self._idle_delay()

    async def _finish(self) -> None:
        """Let the rows in hand settle, then bring their receipts up to date."""
        while self._chat_tasks:
            await asyncio.gather(*list(self._chat_tasks), return_exceptions=True)
        self._receipts_at = 0.0
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)

    async def _idle_delay(self) -> float:
        async with self.core.uow() as uow:
            nxt = await uow.alerts.next_due(self._platforms())
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
            by_chat: dict[int, list[Item]] = {}
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

    async def _claim(self, most: int) -> tuple[list[Item], int]:
        """Claim up to `most` due rows (fewer where the rate limit has less room) and read
        what they need, in one transaction; also returns how many were asked for."""
        async with self._lock:
            platforms = self._platforms()
            if not platforms or most <= 0:
                return [], 0
            lock = await self._liveness() if self._task is not None else None
            # Rows this worker claimed under its key stay its own while it lives, even when
            # its lock's connection has just gone and the claim runs without the lock.
            own = self._alive.key if self.core.db.is_postgres else None
            now = self.core.clock.now()
            token = f"{self.name}#{self._instance}.{next(self._batches)}"
            rows: list[Delivery] = []
            asked = 0
            self._starved = False
            async with self.core.uow() as uow:
                ar = uow.alerts
                for platform in platforms:
                    limit, below = self._room(Platform(platform), now)
                    limit = min(most, limit)
                    if limit:
                        asked += limit
                        stale = now - self.lease
                        rows += await ar.claim(
                            now, token, limit, stale, [platform], lock=lock, below=below, own=own
                        )
                ctx = await ar.context(rows) if rows else None
                await uow.commit()  # a claim that found nothing may still have written
            if ctx is None:
                return [], asked
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
                group = ctx.groups.get(row.group_id)
                bin_lang = ctx.bin_languages.get(group.bin_id) if group is not None else None
                job = Job(alert, zone, group, fu, bin_language=bin_lang, renders=shared)
            items.append(Item(row, token, job, loop.create_future()))
        return items, asked

    def _room(self, platform: Platform, now: datetime) -> tuple[int, int | None]:
        """How many rows of `platform` to claim now, and below which priority (None: any).

        No more than the platform's overall limit lets out within AHEAD, less the rows in
        hand that have not taken their slot yet: a row claimed only to be put back costs two
        transactions. When those rows hold all the room, rows more urgent than the least
        urgent of them are still claimed for the room it holds: they take the slots first
        (`Turns`), and a notice's rows pushed back so go back to the outbox. And no more than
        the limit lets out in AHEAD at its steady pace, so that a second's worth of slots
        freeing at once goes out in small batches that each send promptly, not in one
        crowded one."""
        most = self.settings.concurrency
        room = self.limiter.room(platform, now + AHEAD)
        limits = self.limiter.limits.get(platform)
        if room is None or limits is None or limits.overall_per_second is None:
            return most, None
        most = min(most, math.ceil(limits.overall_per_second * AHEAD.total_seconds()))
        waiting = self._rows.unstarted.get(platform.value)
        held = sum(waiting.values()) if waiting else 0
        if room > held:
            return min(most, room - held), None
        if waiting and room > 0:
            self._starved = True  # woken when one of them takes its slot
            below = max(waiting)
            ahead = held - waiting[below]
            if room > ahead:
                return min(most, room - ahead), below
        return 0, None

    # -- rows in hand ----------------------------------------------------------------------

    def _dispatch(self, items: Sequence[Item]) -> None:
        """Hand claimed rows to their chats: after any rows of the same chat already in hand."""
        self._in_hand += len(items)
        loop = asyncio.get_running_loop()
        for item in items:
            item.seq = next(self._seq)
            self._rows.taken(item)
            chat = self._chats.get(item.row.group_id)
            if chat is None:
                chat = self._chats[item.row.group_id] = ChatRows()
                task = loop.create_task(self._chat(item.row.group_id, chat))
                self._chat_tasks.add(task)
                task.add_done_callback(self._chat_tasks.discard)
            # An urgent row goes before the chat's less urgent rows still waiting in hand; a
            # follow-up has its message's priority, so it never overtakes its original.
            at = len(chat.queue)
            while at > 0 and chat.queue[at - 1].row.priority > item.row.priority:
                at -= 1
            chat.queue.insert(at, item)

    async def _chat(self, group_id: int, chat: ChatRows) -> None:
        """One chat's rows, in order; once one must wait, the rest in hand waits too."""
        try:
            while chat.queue:
                item = chat.queue.popleft()
                later = None
                try:
                    later = await self._rows.settle(item, chat)
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
                    async with self._rows.uow() as uow:
                        for other in rest:
                            await uow.alerts.retry_at(
                                other.row.id, other.token, later, None, count=False
                            )
                        await uow.commit()
                except Exception as exc:
                    log.exception("delivery: putting back the rows of group %s failed", group_id)
                    for other in rest:
                        other.error = exc
                finally:
                    for other in rest:
                        self._settled(other)
        finally:
            del self._chats[group_id]

    def _settled(self, item: Item) -> None:
        self._rows.started(item)
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

    async def refresh_receipt(self, alert_id: int) -> None:
        """Bring the author's receipt of an alert up to date."""
        await self.receipts.refresh(alert_id)


def attach(core: Core, worker: DeliveryWorker) -> DeliveryWorker:
    """Make `worker` the outbox of `core`: composing wakes it, and `core.idle()` waits for the
    rows it has due."""
    core.outbox = worker
    core.idle_hooks.append(worker.drain)
    return worker


def build_worker(core: Core, settings: Settings) -> DeliveryWorker:
    """The worker as `binbot run` and `binbot console` run it, attached to `core`."""
    tg = settings.telegram
    limiter = RateLimiter.telegram(tg.rate_overall, tg.rate_per_chat, tg.rate_per_group_minute)
    console_only = set(core.platforms) == {Platform.CONSOLE}
    worker = DeliveryWorker(
        core, settings.delivery, limiter, name=settings.process_name, parallel=not console_only
    )
    return attach(core, worker)


@routes.periodic("delivery.sweep", seconds=60)
async def sweep(core: Core) -> None:
    """Requeue deliveries stuck in `sending` past their lease, and nudge the worker."""
    now = core.clock.now()
    worker = core.outbox
    lease = (
        worker.lease
        if isinstance(worker, DeliveryWorker)
        else timedelta(seconds=DeliverySettings().lease)
    )
    async with core.uow() as uow:
        stuck = await uow.alerts.requeue_stale(now - lease, now)
        await uow.commit()
    if stuck:
        log.warning("%d deliveries were stuck in sending past their lease; queued again", stuck)
    if isinstance(worker, DeliveryWorker):
        worker.wake()
