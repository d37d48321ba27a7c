"""Sending one claimed delivery row and recording what happened (bot/delivery.py claims the
rows and hands each chat's rows, in order, to `RowSender.settle`).

A row is settled by exactly one outcome: `sent` (with the platform's message id, committed
on its own right after the platform took it), `failed` with a reason, `cancelled` (withdrawn,
or a follow-up whose original never went out), or put back with a time to try again: without
spending an attempt for rate limits, 429s and a moved chat, with back-off and jitter for
transient errors.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot import metrics
from bot.delivery_photo import PhotoSender
from bot.model import ChatRef, MessageRef, Outgoing, Platform
from bot.ports import (
    BotRemoved,
    ChatMoved,
    MissingRights,
    PermanentError,
    PlatformError,
    PlatformPort,
    RetryLater,
)
from bot.ratelimit import RateLimiter
from bot.services import alert_render as render
from bot.services import alerts, group_rights, linking
from config.settings import DeliverySettings
from storage.alerts import CANCELLED, FAILED, SENT
from storage.sent import SentWriter

if TYPE_CHECKING:
    from bot.dispatch import Core
    from storage.tables import Alert, Delivery, FollowUp, Group, Zone
    from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

# A follow-up waits this long for its original when another process is still sending it.
ORIGINAL_WAIT = timedelta(seconds=2)
MIN_RETRY = 0.5
# A row behind more urgent ones looks again after at most this long (seconds).
MIN_TURN = 0.005
# A batch takes the rows whose overall-limit slot frees within this time, and each waits for
# its slot in the batch: claiming and reading then overlap the wait instead of adding to it.
AHEAD = timedelta(seconds=0.25)


@dataclass
class Job:
    """Everything one send needs, read with its claim (the original just before sending)."""

    alert: Alert
    zone: Zone
    group: Group | None
    followup: FollowUp | None
    original: Delivery | None = None
    # The language of the group's BIN, where it has its own.
    bin_language: str | None = None
    # The message as rendered for (language, platform, buttons), shared by the jobs of one
    # alert in one claim: a fan-out renders it once per language, not once per group.
    renders: dict[tuple[str, str, bool], Outgoing] = field(default_factory=dict)


@dataclass
class Item:
    """A claimed row in hand: its claim token, what it needs, and when it has settled."""

    row: Delivery
    token: str
    job: Job | None  # None: the alert (or its zone) is gone
    done: asyncio.Future[None]
    receipt: bool = False  # refresh the receipt in the background once settled
    error: BaseException | None = None
    seq: int = 0  # claim order: with the priority, the row's place in the queue for slots
    started: bool = False  # its send has taken its slot in the rate limit (or settled)

    @property
    def turn(self) -> tuple[int, int]:
        """Its place among the rows waiting to send: most urgent first, then claim order."""
        return (self.row.priority, self.seq)


@dataclass
class Go:
    """A row cleared to be sent: its job, its group, and the message it replies to."""

    job: Job
    group: Group
    reply_to: str | None


class InFlight:
    """The sends of one rate-limited platform under way at once.

    As many as its rate needs at the latency measured (Little's law), and a little more: the
    limiter counts a send from its answer, so at latency L at most `rate * L / (1 + L)` are
    under way on average. More would not send faster, and each is a message a crash may show
    twice on Telegram, which has no idempotency key. A send is under way from the moment it
    leaves until its `sent` row is committed: that is the window a crash doubles."""

    START_LATENCY = 0.1  # seconds, until sends have been measured
    SMOOTHING = 0.3
    SPARE = 2

    def __init__(self, per_second: float, most: int) -> None:
        self.per_second = per_second
        self.most = max(1, most)
        self.latency = self.START_LATENCY
        self.under_way = 0
        self._waiting: list[tuple[tuple[int, int], int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @property
    def cap(self) -> int:
        """How many sends may be under way now."""
        need = self.per_second * self.latency / (1 + self.latency)
        return min(self.most, max(2, math.ceil(need) + self.SPARE))

    async def acquire(self, turn: tuple[int, int]) -> None:
        """Wait for room, most urgent first, then count one more send under way."""
        loop = asyncio.get_running_loop()
        while self.under_way >= self.cap or (self._waiting and self._waiting[0][0] < turn):
            waiter = (turn, next(self._order), loop.create_future())
            heapq.heappush(self._waiting, waiter)
            try:
                await waiter[2]
            except BaseException:
                if waiter in self._waiting:
                    self._waiting.remove(waiter)
                    heapq.heapify(self._waiting)
                else:  # it had been let go: pass that on
                    self._next()
                raise
        self.under_way += 1
        self._next()

    def release(self, took: float) -> None:
        """One send is over after `took` seconds: learn from it, let the next go."""
        self.under_way -= 1
        self.latency += self.SMOOTHING * (took - self.latency)
        self._next()

    def _next(self) -> None:
        """Let the most urgent waiter look again if there is room for it."""
        if self.under_way < self.cap and self._waiting:
            _, _, waiter = heapq.heappop(self._waiting)
            if not waiter.done():
                waiter.set_result(None)


class Turns:
    """The rows of one rate-limited platform waiting for a slot in its overall limit: the
    slots go most urgent first, then in claim order, so that an urgent row claimed while a
    notice's rows are in hand overtakes those not yet sent. A row whose own chat must wait
    (its per-chat limit, a 429) keeps no one else waiting."""

    def __init__(self, limiter: RateLimiter, platform: Platform) -> None:
        self.limiter = limiter
        self.platform = platform
        self._waiting: dict[tuple[int, int], tuple[str, asyncio.Future[None]]] = {}

    def wait(self, turn: tuple[int, int], chat_id: str, now: datetime) -> float:
        """Seconds until the row in `turn` may send to `chat_id` (0: go ahead, counted)."""
        ahead = sum(
            1
            for other, (chat, _) in self._waiting.items()
            if other < turn and self.limiter.chat_wait(self.platform, chat, now) <= 0
        )
        if ahead:
            room = self.limiter.room(self.platform, now) or 0
            if ahead >= room:  # the slots freeing next are theirs
                return self.limiter.free_in(self.platform, now, ahead + 1) or MIN_TURN
        return self.limiter.wait(self.platform, chat_id, now)

    def enter(self, turn: tuple[int, int], chat_id: str) -> None:
        """The row in `turn` waits for a slot, to send to `chat_id`."""
        _, waiter = self._waiting.get(turn, ("", None))
        self._waiting[turn] = (chat_id, waiter or asyncio.get_running_loop().create_future())

    async def sleep(self, turn: tuple[int, int], seconds: float) -> None:
        """Wait `seconds`, or less if a row ahead took its slot or left."""
        chat_id, waiter = self._waiting[turn]
        if waiter.done():
            waiter = asyncio.get_running_loop().create_future()
            self._waiting[turn] = (chat_id, waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), seconds)
        except TimeoutError:
            pass

    def leave(self, turn: tuple[int, int]) -> None:
        """The row took its slot or goes back to the outbox: those behind it look again."""
        self._waiting.pop(turn, None)
        for other, (_, waiter) in self._waiting.items():
            if other > turn and not waiter.done():
                waiter.set_result(None)


@dataclass
class ChatRows:
    """The rows in hand for one chat, sent one after another in the order claimed."""

    queue: deque[Item] = field(default_factory=deque)
    regroup: bool = False  # the group changed under us (bot removed): read it again


class RowSender:
    """Settles the rows a worker has in hand: checks, waits for the rate limit, sends,
    records the outcome. Row updates share `settings.connections` pooled connections rather
    than each taking its own: rows sent together settle together, and more at once only makes
    the pool open (and close again) overflow connections."""

    def __init__(
        self,
        core: Core,
        settings: DeliverySettings,
        limiter: RateLimiter,
        wake: Callable[[], None],
        started: Callable[[], None] = lambda: None,
    ) -> None:
        self.core = core
        self.settings = settings
        self.limiter = limiter
        self._wake = wake  # a row put back may be due again at once: the worker looks
        self._on_start = started  # a row took its slot: room for the worker to claim
        self._slots = asyncio.Semaphore(settings.connections)
        self._writer = SentWriter(core.db, settings.connections)
        self._flights = {
            platform: InFlight(limits.overall_per_second, settings.concurrency)
            for platform, limits in limiter.limits.items()
            if limits.overall_per_second is not None
        }
        self._turns = {
            platform: Turns(limiter, platform)
            for platform, limits in limiter.limits.items()
            if limits.overall_per_second is not None
        }
        # Rows in hand that have not yet taken their slot (`Item.started`), per platform and
        # priority.
        self.unstarted: dict[str, Counter[int]] = {}
        # Official messages withdrawn in this process since their rows were claimed: those
        # rows in hand are cancelled rather than sent.
        self._withdrawn: set[int] = set()
        self._photos = PhotoSender(core)

    def taken(self, item: Item) -> None:
        """A claimed row is in hand: it counts against its platform's room until it starts."""
        self.unstarted.setdefault(item.row.platform, Counter())[item.row.priority] += 1
        turns = self._turns.get(Platform(item.row.platform))
        if turns is not None and item.job is not None and item.job.group is not None:
            turns.enter(item.turn, item.job.group.chat_id)  # in the queue from now on

    def started(self, item: Item) -> None:
        """The row took its slot, or settled without one: no longer waiting to start."""
        if not item.started:
            item.started = True
            waiting = self.unstarted[item.row.platform]
            waiting[item.row.priority] -= 1
            if not waiting[item.row.priority]:
                del waiting[item.row.priority]
            turns = self._turns.get(Platform(item.row.platform))
            if turns is not None:
                turns.leave(item.turn)
            self._on_start()

    def withdrawn(self, alert_id: int) -> None:
        """An official message was withdrawn here: its rows in hand are not sent after all."""
        if len(self._withdrawn) >= 10_000:
            self._withdrawn.clear()
        self._withdrawn.add(alert_id)

    @asynccontextmanager
    async def uow(self) -> AsyncIterator[UnitOfWork]:
        """A unit of work for one row's outcome, on one of the connection slots."""
        async with self._slots, self.core.uow() as uow:
            yield uow

    async def _original(self, row: Delivery, alert: Alert) -> Delivery | None:
        async with self.uow() as uow:
            return await uow.alerts.original_in(alert.id, row.group_id)

    async def settle(self, item: Item, chat_state: ChatRows) -> datetime | None:
        """Settle one row. Returns when to try this chat again if it must wait, else None."""
        go = await self._check(item, chat_state)
        if not isinstance(go, Go):
            return go
        row, token = item.row, item.token
        port = self.core.platforms[Platform(row.platform)]
        # Read the clock again: the row may have waited behind the rest of its chat, and the
        # limiter must count the send when it leaves, not when its row was picked up.
        wait, now = await self._slot(port.platform, go.group.chat_id, item.turn)
        self.started(item)
        if wait > 0:
            return await self._later(row, token, now + timedelta(seconds=wait))
        flight = self._flights.get(port.platform)
        if flight is None:
            return await self._send(item, chat_state, port, go, now)
        # A rate-limited platform (Telegram) has no more sends under way than its rate needs:
        # a crash can show twice only a message whose send had not been answered.
        await flight.acquire(item.turn)
        loop = asyncio.get_running_loop()
        began = loop.time()
        try:
            return await self._send(item, chat_state, port, go, now)
        finally:
            flight.release(loop.time() - began)

    async def _check(self, item: Item, chat_state: ChatRows) -> Go | datetime | None:
        """Whether the row is to be sent now (what to send it with); if not, settle it or put
        it back: None once settled, else when to try again."""
        row, token, job = item.row, item.token, item.job
        if job is None:
            await self._fail(row, token, None, "alert_missing")
            return None
        if chat_state.regroup:
            async with self.uow() as uow:
                job.group = await uow.alerts.group(row.group_id)
        group = job.group
        if group is None or not group.active:
            why = (group.inactive_reason if group else None) or ("unlinked" if group else "gone")
            await self._fail(row, token, job, f"group_inactive:{why}")
            return None
        withdrawn = job.alert.state == "withdrawn" or job.alert.id in self._withdrawn
        if job.followup is None and withdrawn:
            await self._fail(row, token, job, "withdrawn", status=CANCELLED)
            return None
        if job.followup is None:
            return Go(job, group, None)
        # Read now, not with the claim: the original may have gone out just before.
        job.original = original = await self._original(row, job.alert)
        if original is None or original.status in (FAILED, CANCELLED):
            await self._fail(row, token, job, "original_not_delivered", status=CANCELLED)
            return None
        if original.status != SENT:
            now = self.core.clock.now()
            return await self._later(
                row, token, max(now + ORIGINAL_WAIT, original.next_attempt_at)
            )
        return Go(job, group, original.platform_message_id)

    async def _slot(
        self, platform: Platform, chat_id: str, turn: tuple[int, int]
    ) -> tuple[float, datetime]:
        """(seconds until the rate limit lets this send out, as of when): 0 once it has, and
        then it counted the send at that time.

        A slot about to free is waited for here, in turn: the rows in hand take the slots
        most urgent first, then in claim order (`Turns`, which holds them from their claim
        until `started`); a row that finds none soon enough goes back to the outbox, where a
        more urgent row is claimed before it."""
        turns = self._turns.get(platform)
        now = self.core.clock.now()
        if turns is None:
            return self.limiter.wait(platform, chat_id, now), now
        ahead, loop = AHEAD.total_seconds(), asyncio.get_running_loop()
        deadline = loop.time() + 2 * ahead
        turns.enter(turn, chat_id)  # its chat as it is now (the group may have moved)
        wait = turns.wait(turn, chat_id, now)
        while 0 < wait <= ahead and loop.time() + wait < deadline:
            await turns.sleep(turn, wait)
            now = self.core.clock.now()
            wait = turns.wait(turn, chat_id, now)
        return wait, now

    async def _send(
        self, item: Item, chat_state: ChatRows, port: PlatformPort, go: Go, now: datetime
    ) -> datetime | None:
        """Send the row's message and record the outcome."""
        row, token, job, group, reply_to = item.row, item.token, go.job, go.group, go.reply_to
        chat = ChatRef(port.platform, group.chat_id, False, group.title)
        msg = self._message(job, group, port, reply_to)
        photo_id = job.followup.photo_id if job.followup is not None else job.alert.photo_id
        loop = asyncio.get_running_loop()
        began = loop.time()
        try:
            photo = await self._photos.photo(photo_id) if photo_id is not None else None
            if photo is not None and port.capabilities.photos:
                with_photo = await self._photos.send(port, chat, msg, row, token, photo)
                sent = with_photo.ref
                for _ in range(with_photo.parts - 1):  # the text after it is a send too
                    self.limiter.sent(port.platform, group.chat_id, now, self.core.clock.now())
            else:
                # A platform without photos gets the text, which says /check REF: the photo
                # is not dropped unseen, the asker gets it there.
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
        except MissingRights as exc:
            # The group needs someone to grant them: the desk lists it until they are back.
            await group_rights.lost(self.core, group.id, exc.rights)
            await self._fail(row, token, job, exc.reason)
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
        await group_rights.posted(self.core, group)
        if job.followup is not None and job.followup.kind == "withdraw" and reply_to:
            await self._delete_original(port, chat, reply_to, row)
            text_part = job.original.text_message_id if job.original is not None else None
            if text_part:  # a photo's text that followed it as a reply goes too
                await self._delete_original(port, chat, text_part, row)
        return None

    def _message(
        self, job: Job, group: Group, port: PlatformPort, reply_to: str | None
    ) -> Outgoing:
        lang = alerts.group_language(group, job.zone, job.bin_language)
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
        job: Job,
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
        self, row: Delivery, token: str, job: Job | None, reason: str, *, status: str = FAILED
    ) -> None:
        now = self.core.clock.now()
        async with self.uow() as uow:
            await uow.alerts.mark_failed(row.id, token, reason, status=status)
            if status == FAILED:
                await uow.audit.record(
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
            await uow.commit()
        if status == FAILED:
            log.warning("delivery %s to group %s failed: %s", row.id, row.group_id, reason)

    async def _later(
        self, row: Delivery, token: str, at: datetime, reason: str | None = None
    ) -> datetime:
        """Put the row back without spending an attempt (rate limit, 429, waiting)."""
        async with self.uow() as uow:
            await uow.alerts.retry_at(row.id, token, at, reason, count=False)
            await uow.commit()
        self._wake()  # it may be due again at once (a moved chat)
        return at

    async def _retry(
        self, row: Delivery, token: str, job: Job, reason: str, now: datetime
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
        async with self.uow() as uow:
            await uow.alerts.retry_at(row.id, token, at, reason, count=True)
            await uow.commit()
        log.info("delivery %s: %s, retrying in %.1fs", row.id, reason, delay)
        return at

    async def _moved(
        self, row: Delivery, token: str, job: Job, group: Group, new_id: str, now: datetime
    ) -> datetime | None:
        """The group got a new id (Telegram supergroup): follow it and send there at once."""
        async with self.uow() as uow:
            moved = await uow.alerts.move_group(group.id, row.platform, new_id)
            if not moved:  # the migration's own update may have moved this group already
                current = await uow.alerts.group(group.id)
                moved = current is not None and current.chat_id == new_id
            await uow.commit()
        if not moved:
            await self._fail(row, token, job, "chat_migrated_conflict")
            return None
        return await self._later(row, token, now, "chat_migrated")


def _kind(job: Job) -> str:
    return job.followup.kind if job.followup is not None else "message"
