"""`MatrixPlatform`: the core's PlatformPort on matrix-nio's AsyncClient, on the caller's loop.

- Sends use the caller's `txn_id` as the Matrix transaction id: Synapse answers a repeated
  `PUT /send/{txnId}` from the same device with the first event, so a retry never posts twice.
- `msgtype` follows `Outgoing.silent` (see render.py): quiet notices are `m.notice`, urgent
  official messages `m.text` so they notify.
- Encrypted rooms just work: nio encrypts for every member's devices (unverified devices get
  the keys too: residents do not verify the bot's devices), and keys stay under `data_dir`.
- Matrix has no command menu, so `set_commands` does nothing; it has no buttons, so
  `capabilities.buttons` is False and render.py lists button labels as a plain line.
- `is_linked(room_id)`, when given, is asked `leave_unlinked_after` seconds after the bot joined
  a group; the bot leaves when the answer is False. The timer does not survive a restart.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from nio import (
    AsyncClient,
    LocalProtocolError,
    MatrixRoom,
    RoomGetStateEventError,
    RoomGetStateEventResponse,
    RoomGetStateResponse,
    RoomSendResponse,
)

from adapters.matrix import rights
from adapters.matrix.direct import DirectRooms
from adapters.matrix.errors import already_done, check, transport_errors
from adapters.matrix.inbound import Inbound, IsLinked
from adapters.matrix.photos import Uploads, image_content
from adapters.matrix.render import edit_content, event_size, send_content
from adapters.matrix.session import SyncLoop, authenticate, make_client
from bot.model import (
    BotRights,
    Capabilities,
    ChatRef,
    MessageRef,
    Outgoing,
    Picture,
    Platform,
)
from bot.ports import (
    BotRemoved,
    EventSink,
    GroupSetup,
    KeyValueStore,
    PermanentError,
    PlatformError,
    SentPhoto,
)
from config.settings import MatrixSettings

log = logging.getLogger(__name__)

# Synapse refuses events over 65,536 bytes. A message goes out twice (body and HTML); in an
# encrypted room nio serialises it with \u escapes (6 bytes for an accented letter, 12 for an
# emoji) and base64 adds a third: about 3,900 accented letters or 1,900 emoji fit in 63,000
# bytes, which leaves room for the envelope. The core measures a message as `event_size` does
# (the encrypted case, the heavier one) before it composes or sends it; a longer one is
# refused before sending with PermanentError("message_too_long").
MAX_EVENT_BYTES = 63_000
# A text under a photo goes in the image event itself (plain and formatted): at most four
# bytes a character twice over stays within MAX_EVENT_BYTES; a longer one follows as a reply.
MAX_CAPTION_CHARS = 7_000
ROOM_WAIT = 15.0
_SAFE_TXN = re.compile(r"^[A-Za-z0-9._~-]{1,128}$")

CAPABILITIES = Capabilities(
    max_text_length=MAX_EVENT_BYTES,
    buttons=False,
    edit=True,
    delete=True,
    pin=True,
    join_requests=True,
    reactions=True,
    measure=event_size,
    photos=True,
    max_caption_length=MAX_CAPTION_CHARS,
)


def transaction_id(txn_id: str | None) -> str | None:
    """The core's idempotency key as a Matrix transaction id (hashed when not URL-safe)."""
    if txn_id is None or _SAFE_TXN.match(txn_id):
        return txn_id
    return "h" + hashlib.sha256(txn_id.encode()).hexdigest()[:40]


class MatrixPlatform:
    """One Matrix bot account, as the core's Platform."""

    platform = Platform.MATRIX
    capabilities = CAPABILITIES

    def __init__(
        self,
        settings: MatrixSettings,
        store: KeyValueStore,
        data_dir: Path,
        *,
        is_linked: IsLinked | None = None,
        sync_timeout_ms: int = 30_000,
    ) -> None:
        if not settings.enabled:
            raise ValueError("Matrix needs BINBOT_MATRIX__HOMESERVER and BINBOT_MATRIX__USER_ID")
        self._settings = settings
        self._store = store
        self._data_dir = Path(data_dir)
        self._is_linked = is_linked
        self._sync_timeout_ms = sync_timeout_ms
        self._client: AsyncClient | None = None
        self._loop: SyncLoop | None = None
        self._inbound: Inbound | None = None
        self._direct: DirectRooms | None = None
        self._limit = asyncio.Semaphore(settings.concurrency)
        self._dm_locks: dict[str, asyncio.Lock] = {}
        self.uploads = Uploads()

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def client(self) -> AsyncClient:
        """The nio client (after `start`)."""
        if self._client is None:
            raise PermanentError("not_started")
        return self._client

    @property
    def user_id(self) -> str:
        """The bot's Matrix id."""
        return str(self._settings.user_id)

    @property
    def device_id(self) -> str | None:
        """The bot's device id, once logged in."""
        return self._client.device_id if self._client else None

    async def start(self, sink: EventSink) -> None:
        """Log in (or restore the stored login), do the first sync and keep syncing."""
        client = make_client(self._settings, self._data_dir)
        try:
            await authenticate(client, self._settings, self._store)
            direct = DirectRooms(client)
            await direct.load()
            inbound = Inbound(
                client,
                sink,
                direct,
                leave=self.leave,
                is_linked=self._is_linked,
                leave_unlinked_after=self._settings.leave_unlinked_after,
            )
            loop = SyncLoop(
                client,
                self._settings,
                self._store,
                inbound.handle,
                timeout_ms=self._sync_timeout_ms,
            )
            self._client, self._direct, self._inbound = client, direct, inbound
            await loop.start()
            self._loop = loop
        except BaseException:
            self._client = self._direct = self._inbound = None
            await client.close()
            raise
        log.info("matrix: running as device %s", client.device_id)

    async def stop(self) -> None:
        """Stop syncing, finish handling what was received, and close the connection."""
        if self._loop is not None:
            await self._loop.stop()
        if self._inbound is not None:
            await self._inbound.close()
        if self._client is not None:
            await self._client.close()
        self._client = self._loop = self._inbound = self._direct = None

    async def wait_sync(self, within: float = ROOM_WAIT) -> bool:
        """Wait for the next sync from the homeserver (tests and benchmarks use this)."""
        return self._loop is not None and await self._loop.wait_sync(within)

    # -- messages --------------------------------------------------------------------------

    async def send(
        self, chat: ChatRef, message: Outgoing, *, txn_id: str | None = None
    ) -> MessageRef:
        """Post a message; the same `txn_id` twice posts it once."""
        event_id = await self._room_send(chat.chat_id, send_content(message), txn_id, "send")
        return MessageRef(chat, event_id)

    async def send_photo(
        self, chat: ChatRef, photo: Picture, caption: Outgoing, *, txn_id: str | None = None
    ) -> SentPhoto:
        """Post an `m.image`: uploaded once (encrypted once for encrypted rooms) and then
        referenced; the same `txn_id` twice posts it once."""
        await self._known_room(chat.chat_id)
        room = self.client.rooms.get(chat.chat_id)
        encrypted = bool(room is not None and room.encrypted)
        refs = await self.uploads.refs(self.client, photo, encrypted)
        content = image_content(photo, refs, encrypted, send_content(caption))
        event_id = await self._room_send(chat.chat_id, content, txn_id, "send")
        return SentPhoto(MessageRef(chat, event_id), self.uploads.handle(photo))

    async def send_direct(self, user_id: str, message: Outgoing) -> MessageRef:
        """Post in the direct room with `user_id`, creating it (and inviting them) once."""
        return await self.send(await self.direct_chat(user_id), message)

    async def direct_chat(self, user_id: str) -> ChatRef:
        """The direct room with `user_id`, created (and they invited) if there is none."""
        return ChatRef(Platform.MATRIX, await self._direct_room(user_id), is_private=True)

    async def edit(self, ref: MessageRef, message: Outgoing) -> None:
        """Replace a message's text with an `m.replace` edit."""
        await self._room_send(
            ref.chat.chat_id, edit_content(ref.message_id, message), None, "edit"
        )

    async def delete(self, ref: MessageRef) -> None:
        """Redact a message."""
        async with self._limit:
            with transport_errors("redact"):
                resp = await self.client.room_redact(ref.chat.chat_id, ref.message_id)
        check(resp, action="redact", right=rights.DELETE_MESSAGES)

    async def pin(self, ref: MessageRef) -> None:
        """Add a message to the room's pinned events (a state event: no notification)."""
        room_id = ref.chat.chat_id
        content = await self._state_content(room_id, "m.room.pinned_events", "pin")
        pinned = [e for e in (content or {}).get("pinned", []) if isinstance(e, str)]
        if ref.message_id in pinned:
            return
        await self._put_state(
            room_id, "m.room.pinned_events", {"pinned": [*pinned, ref.message_id]}, rights.PIN
        )

    # -- members ---------------------------------------------------------------------------

    async def approve_join(self, chat: ChatRef, user_id: str) -> None:
        """Let a knocking person in: invite them."""
        async with self._limit:
            with transport_errors("invite"):
                resp = await self.client.room_invite(chat.chat_id, user_id)
        if not already_done(resp):
            check(resp, action="invite", right=rights.INVITE)

    async def decline_join(self, chat: ChatRef, user_id: str) -> None:
        """Turn a knock down: kick the knocking membership."""
        await self._kick(chat.chat_id, user_id, "decline")

    async def remove_member(self, chat: ChatRef, user_id: str) -> None:
        """Remove a member (kick, not ban: they may knock again)."""
        await self._kick(chat.chat_id, user_id, "kick")

    async def _kick(self, room_id: str, user_id: str, action: str) -> None:
        async with self._limit:
            with transport_errors(action):
                resp = await self.client.room_kick(room_id, user_id)
        if not already_done(resp):
            check(resp, action=action, right=rights.REMOVE_MEMBERS)

    # -- groups ----------------------------------------------------------------------------

    async def check_rights(self, chat: ChatRef) -> BotRights:
        """The rights the bot needs in the room (power levels) and lacks."""
        state = await self._room_state(chat.chat_id)
        return BotRights(rights.missing_in_state(state, self.user_id))

    async def secure_group(self, chat: ChatRef) -> GroupSetup:
        """Make the room knock-only when the bot may change join rules; name what it lacks."""
        room_id = chat.chat_id
        state = await self._room_state(room_id)
        missing = rights.missing_in_state(state, self.user_id)
        target = rights.join_rule_to_set(state)
        if target is not None and rights.CHANGE_JOIN_RULES not in missing:
            content = {"join_rule": target}
            await self._put_state(room_id, "m.room.join_rules", content, rights.CHANGE_JOIN_RULES)
            log.info("matrix: join rule of %s set to %s", room_id, target)
        link = rights.room_link(state, room_id, self.user_id.split(":", 1)[-1])
        return GroupSetup(BotRights(missing), invite_link=link)

    async def leave(self, chat: ChatRef) -> None:
        """Leave a room (already gone is fine)."""
        async with self._limit:
            with transport_errors("leave"):
                resp = await self.client.room_leave(chat.chat_id)
        try:
            check(resp, action="leave")
        except BotRemoved:
            pass
        if self._direct is not None:
            await self._direct.forget(chat.chat_id)

    async def set_commands(self, commands: Mapping[str, Sequence[tuple[str, str]]]) -> None:
        """Matrix has no command menu: nothing to publish (`!help` lists the commands)."""
        return None

    # -- helpers ---------------------------------------------------------------------------

    async def _room_state(self, room_id: str) -> dict[tuple[str, str], dict[str, Any]]:
        async with self._limit:
            with transport_errors("state"):
                resp = await self.client.room_get_state(room_id)
        check(resp, action="state")
        assert isinstance(resp, RoomGetStateResponse)
        return {
            (e.get("type", ""), e.get("state_key", "")): e
            for e in resp.events
            if isinstance(e, dict)
        }

    async def _state_content(
        self, room_id: str, event_type: str, action: str
    ) -> dict[str, Any] | None:
        async with self._limit:
            with transport_errors(action):
                resp = await self.client.room_get_state_event(room_id, event_type)
        if isinstance(resp, RoomGetStateEventError) and resp.status_code == "M_NOT_FOUND":
            return None
        check(resp, action=action)
        assert isinstance(resp, RoomGetStateEventResponse)
        return dict(resp.content)

    async def _put_state(
        self, room_id: str, event_type: str, content: dict[str, Any], right: str
    ) -> None:
        async with self._limit:
            with transport_errors("put_state"):
                resp = await self.client.room_put_state(room_id, event_type, content)
        check(resp, action="put_state", right=right)

    def _event_bytes(self, room_id: str, content: dict[str, Any]) -> float:
        """The size the homeserver will weigh: encrypted payloads are escaped and base64'd."""
        room = self.client.rooms.get(room_id)
        if self.client.olm is not None and room is not None and room.encrypted:
            return len(json.dumps(content)) * 4 / 3
        return len(json.dumps(content, ensure_ascii=False).encode())

    async def _known_room(
        self, room_id: str, ready: Callable[[MatrixRoom], bool] | None = None
    ) -> None:
        """Encrypting needs the room's members: wait until a fresh room has been synced
        (and, with `ready`, until its synced state passes that check)."""
        client = self.client
        if client.olm is None:
            return

        def synced() -> bool:
            room = client.rooms.get(room_id)
            return room is not None and (ready is None or ready(room))

        loop = asyncio.get_running_loop()
        deadline = loop.time() + ROOM_WAIT
        while not synced() and self._loop is not None:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await self._loop.wait_sync(remaining)
        if room_id not in client.rooms:
            raise BotRemoved("unknown_room")

    async def _room_send(
        self, room_id: str, content: dict[str, Any], txn_id: str | None, action: str
    ) -> str:
        await self._known_room(room_id)
        if self._event_bytes(room_id, content) > MAX_EVENT_BYTES:
            raise PermanentError("message_too_long")
        async with self._limit:
            with transport_errors(action):
                resp = await self._nio_send(room_id, content, transaction_id(txn_id))
        check(resp, action=action, right=rights.SEND_MESSAGES)
        assert isinstance(resp, RoomSendResponse)
        return str(resp.event_id)

    async def _nio_send(self, room_id: str, content: dict[str, Any], tx_id: str | None) -> Any:
        for attempt in (1, 2):
            try:
                return await self.client.room_send(
                    room_id, "m.room.message", content, tx_id=tx_id, ignore_unverified_devices=True
                )
            except LocalProtocolError as exc:
                # The sync loop's key query finished between nio's check and its own query:
                # the keys are known now, so the second attempt goes through.
                if attempt == 2 or "key query" not in str(exc):
                    raise
        raise AssertionError("unreachable")

    async def _direct_room(self, user_id: str) -> str:
        lock = self._dm_locks.setdefault(user_id, asyncio.Lock())
        async with lock:
            assert self._direct is not None
            room_id = await self._usable_direct(user_id)
            if room_id is None:
                await self._direct.load()  # another process may have opened one meanwhile
                room_id = await self._usable_direct(user_id)
            if room_id is not None:
                return room_id
            async with self._limit:
                room_id = await self._direct.create(user_id)
            # A sync can catch the new room half made: wait for encryption and the invite, or
            # the first message would be shared with nobody but the bot.
            await self._known_room(room_id, lambda room: room.encrypted and user_id in room.users)
            return room_id

    async def _usable_direct(self, user_id: str) -> str | None:
        """A known direct room the bot and `user_id` are both in; leaves ones they left."""
        assert self._direct is not None
        client = self.client
        for room_id in reversed(self._direct.rooms_of(user_id)):
            room = client.rooms.get(room_id)
            if room is None or client.user_id not in room.users:
                continue
            if user_id in room.users:
                return room_id
            # They left this one: do not stay alone in it; a new room invites them again.
            try:
                await self.leave(ChatRef(Platform.MATRIX, room_id, is_private=True))
            except PlatformError as exc:
                log.info("matrix: leaving old direct room %s failed: %s", room_id, exc.reason)
        return None
