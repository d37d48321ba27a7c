"""Hands each sync's events to the core, in order: invites, timelines, rooms the bot left.

Invites are accepted here (the join then arrives as `BotAddedToChat`). A group that the core has
not linked within `leave_unlinked_after` seconds is left again, asked through `is_linked`
(0 or no `is_linked`: never). The bot leaving a group, on its own or removed, arrives as
`BotRemovedFromChat`, as on Telegram. Encrypted events nio could not decrypt yet are kept (the
last 500), their keys requested from the bot's and the sender's devices, and handed over once
decrypted. A photo sent to the bot is downloaded from the media repository only when the core
asks for it (`PhotoPosted.fetch`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable

from nio import (
    AsyncClient,
    JoinError,
    MatrixRoom,
    MegolmEvent,
    MemoryDownloadResponse,
    RoomMemberEvent,
    SyncResponse,
)
from nio import Event as NioEvent
from nio.exceptions import EncryptionError, LocalProtocolError

from adapters.matrix.direct import DirectRooms
from adapters.matrix.errors import check, transport_errors
from adapters.matrix.translate import InviteReceived, translate
from bot.events import BotAddedToChat, BotRemovedFromChat, Event
from bot.model import ChatRef, UserRef
from bot.ports import EventSink, PermanentError

log = logging.getLogger(__name__)

IsLinked = Callable[[str], Awaitable[bool]]
LeaveRoom = Callable[[ChatRef], Awaitable[None]]

MAX_UNDECRYPTED = 500
DOWNLOAD_TIMEOUT = 60.0


class Inbound:
    """Turns synced rooms into core events and hands them to the sink."""

    def __init__(
        self,
        client: AsyncClient,
        sink: EventSink,
        direct: DirectRooms,
        *,
        leave: LeaveRoom,
        is_linked: IsLinked | None = None,
        leave_unlinked_after: float = 0.0,
    ) -> None:
        self._client = client
        self._sink = sink
        self._direct = direct
        self._leave = leave
        self._is_linked = is_linked
        self._leave_after = leave_unlinked_after
        self._inviters: dict[str, UserRef] = {}
        self._undecrypted: list[tuple[str, MegolmEvent]] = []
        self._requested: set[str] = set()
        self._timers: dict[str, asyncio.Task[None]] = {}

    async def close(self) -> None:
        """Cancel the pending leave timers."""
        for task in self._timers.values():
            task.cancel()
        for task in list(self._timers.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._timers.clear()

    async def handle(self, resp: SyncResponse, initial: bool) -> None:
        """Handle one sync; on an account's very first sync only invites are acted on."""
        for room_id, info in resp.rooms.invite.items():
            room = self._client.invited_rooms.get(room_id) or MatrixRoom(
                room_id, self._client.user_id
            )
            for event in info.invite_state:
                await self._signal(translate(event, room, self._client.user_id))
        if initial:
            return
        for room_id, info in resp.rooms.join.items():
            room = self._client.rooms.get(room_id)
            if room is None:
                continue
            if info.timeline.limited and not self._joined_now(info.timeline.events):
                # More happened than one sync carries (a long outage); older events are gone.
                log.warning("matrix: %s had a gap in its timeline", room_id)
            for event in info.timeline.events:
                await self._timeline_event(event, room)
        for room_id, info in resp.rooms.leave.items():
            room = self._client.rooms.get(room_id) or MatrixRoom(room_id, self._client.user_id)
            for event in info.timeline.events:
                await self._timeline_event(event, room)
        await self._retry_undecrypted()

    def _joined_now(self, events: list[NioEvent]) -> bool:
        """Whether the bot's own join is in these events (a new room's timeline starts there)."""
        me = self._client.user_id
        return any(
            isinstance(e, RoomMemberEvent) and e.state_key == me and e.membership == "join"
            for e in events
        )

    async def _timeline_event(self, event: NioEvent, room: MatrixRoom) -> None:
        if isinstance(event, MegolmEvent):
            await self._request_key(event, room.room_id)
            return
        await self._signal(self._translate(event, room))

    def _translate(self, event: NioEvent, room: MatrixRoom) -> Event | InviteReceived | None:
        return translate(
            event, room, self._client.user_id, self._direct.room_ids, download=self.download
        )

    async def download(self, mxc: str) -> bytes:
        """The content of an `mxc://` URI from the media repository, in memory."""
        if not mxc.startswith("mxc://"):
            raise PermanentError("not_mxc")
        with transport_errors("download"):
            # nio sets no timeout on downloads; a stalled one must not hold the person's turn.
            resp = await asyncio.wait_for(self._client.download(mxc=mxc), DOWNLOAD_TIMEOUT)
        check(resp, action="download")
        if not isinstance(resp, MemoryDownloadResponse) or not isinstance(resp.body, bytes):
            raise PermanentError("download_failed")
        return resp.body

    async def _signal(self, item: Event | InviteReceived | None) -> None:
        if item is None:
            return
        if isinstance(item, InviteReceived):
            await self._accept(item)
            return
        if isinstance(item, BotAddedToChat):
            item = dataclasses.replace(item, by=self._inviters.pop(item.chat.chat_id, None))
            self._schedule_leave(item.chat)
        elif isinstance(item, BotRemovedFromChat):
            self._cancel_leave(item.chat.chat_id)
            with contextlib.suppress(Exception):
                await self._direct.forget(item.chat.chat_id)
        await self._dispatch(item)

    async def _dispatch(self, event: Event) -> None:
        try:
            await self._sink(event)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("matrix: the core failed on %s", type(event).__name__)

    async def _accept(self, invite: InviteReceived) -> None:
        try:
            resp = await self._client.join(invite.room_id)
        except Exception as exc:
            log.warning("matrix: joining %s failed: %s", invite.room_id, type(exc).__name__)
            return
        if isinstance(resp, JoinError):
            log.warning("matrix: joining %s failed: %s", invite.room_id, resp.status_code)
            return
        log.info("matrix: accepted the invite to %s", invite.room_id)
        self._inviters[invite.room_id] = invite.inviter
        if invite.is_direct:
            try:
                await self._direct.remember(invite.inviter.user_id, invite.room_id)
            except Exception as exc:
                log.warning("matrix: could not record direct room: %s", type(exc).__name__)

    # -- groups nobody links ---------------------------------------------------------------

    def _schedule_leave(self, chat: ChatRef) -> None:
        if self._is_linked is None or self._leave_after <= 0 or chat.is_private:
            return
        self._cancel_leave(chat.chat_id)
        self._timers[chat.chat_id] = asyncio.create_task(self._leave_if_unlinked(chat))

    def _cancel_leave(self, room_id: str) -> None:
        task = self._timers.pop(room_id, None)
        if task is not None:
            task.cancel()

    async def _leave_if_unlinked(self, chat: ChatRef) -> None:
        assert self._is_linked is not None
        await asyncio.sleep(self._leave_after)
        self._timers.pop(chat.chat_id, None)
        try:
            if await self._is_linked(chat.chat_id):
                return
            log.info("matrix: leaving %s, not linked in time", chat.chat_id)
            await self._leave(chat)
        except Exception as exc:
            log.warning("matrix: leaving unlinked %s failed: %s", chat.chat_id, type(exc).__name__)

    # -- encrypted events without keys -----------------------------------------------------

    async def _request_key(self, event: MegolmEvent, room_id: str) -> None:
        if len(self._undecrypted) >= MAX_UNDECRYPTED:
            self._undecrypted.pop(0)
        event.room_id = event.room_id or room_id
        self._undecrypted.append((room_id, event))
        if event.session_id in self._requested:
            return
        self._requested.add(event.session_id)
        try:
            # nio asks the bot's own devices; the sender's devices hold the key too.
            with contextlib.suppress(LocalProtocolError):
                await self._client.request_room_key(event)
            await self._client.to_device(
                event.as_key_request(event.sender, self._client.device_id)
            )
        except Exception as exc:
            log.info("matrix: key request in %s failed: %s", room_id, type(exc).__name__)

    async def _retry_undecrypted(self) -> None:
        if not self._undecrypted or self._client.olm is None:
            return
        waiting: list[tuple[str, MegolmEvent]] = []
        for room_id, event in self._undecrypted:
            room = self._client.rooms.get(room_id)
            try:
                decrypted = self._client.decrypt_event(event)
            except EncryptionError:
                waiting.append((room_id, event))
                continue
            if room is not None:
                await self._signal(self._translate(decrypted, room))
        self._undecrypted = waiting
