"""Test doubles and people for Matrix tests: a memory KeyValueStore, an event inbox, and
`MatrixUser`, a resident's own Matrix client (real matrix-nio, its own key store)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from nio import (
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    RoomCreateResponse,
    RoomGetStateEventResponse,
    RoomMessagesResponse,
    RoomPreset,
    RoomSendResponse,
    UploadResponse,
)

from bot.events import Event

from .synapse import RegisteredUser, SynapseServer

T = TypeVar("T")
E = TypeVar("E")


class MemoryStore:
    """A KeyValueStore in a dict."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    async def get(self, key: str) -> str | None:
        """The value under `key`, or None."""
        return self.data.get(key)

    async def put(self, key: str, value: str) -> None:
        """Store `value` under `key`."""
        self.data[key] = value


class Inbox:
    """An EventSink that records the core events and lets a test wait for one."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._changed = asyncio.Condition()

    async def __call__(self, event: Event) -> None:
        async with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def of(self, kind: type[E]) -> list[E]:
        """The recorded events of one type."""
        return [e for e in self.events if isinstance(e, kind)]

    async def wait_for(
        self, kind: type[E], where: Callable[[E], bool] = lambda e: True, within: float = 15.0
    ) -> E:
        """The first recorded event of `kind` matching `where`, waiting up to `within` s."""

        def found() -> E | None:
            return next((e for e in self.of(kind) if where(e)), None)

        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait_for(lambda: found() is not None), within)
        event = found()
        if event is None:
            seen = [type(e).__name__ for e in self.events]
            raise AssertionError(f"no {kind.__name__} within {within}s; saw {seen}")
        return event


async def eventually(
    probe: Callable[[], Awaitable[T]], within: float = 15.0, interval: float = 0.1
) -> T:
    """Call `probe` until it returns something truthy; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s (last: {value!r})")
        await asyncio.sleep(interval)


def _ok(resp: Any) -> Any:
    if isinstance(resp, ErrorResponse):
        raise AssertionError(f"homeserver refused: {resp}")
    return resp


class MatrixUser:
    """A person's own client: real matrix-nio logged in with the registration token."""

    def __init__(
        self, server: SynapseServer, account: RegisteredUser, store_dir: Path | None = None
    ) -> None:
        self.server = server
        self.account = account
        self.user_id = account.user_id
        config = AsyncClientConfig(encryption_enabled=store_dir is not None, max_timeouts=3)
        if store_dir is not None:
            store_dir.mkdir(parents=True, exist_ok=True)
        self.client = AsyncClient(
            server.base_url,
            account.user_id,
            device_id=account.device_id,
            store_path=str(store_dir) if store_dir else "",
            config=config,
        )
        self.client.restore_login(account.user_id, account.device_id, account.access_token)
        self._sync_task: asyncio.Task[None] | None = None

    async def start_sync(self) -> None:
        """Sync in the background (needed to receive encryption keys and room state)."""
        await self.client.sync(timeout=0, full_state=True)
        if self.client.should_upload_keys:
            _ok(await self.client.keys_upload())
        self._sync_task = asyncio.create_task(self.client.sync_forever(timeout=1000))

    async def sync_once(self) -> None:
        """One more sync, so the client knows the latest room state and keys."""
        if self._sync_task is not None:
            # Never sync beside the background loop: two syncs at once confuse nio's keys.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.client.synced.wait(), 5)
            return
        _ok(await self.client.sync(timeout=0))
        if self.client.olm is not None:
            await self.client.send_to_device_messages()
            if self.client.should_query_keys:
                await self.client.keys_query()

    async def close(self) -> None:
        """Stop syncing and close the connection."""
        if self._sync_task is not None:
            self._sync_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sync_task
        await self.client.close()

    # -- rooms -----------------------------------------------------------------------------

    async def create_room(
        self,
        name: str | None = "BIN Noord",
        *,
        invite: tuple[str, ...] = (),
        join_rule: str | None = None,
        encrypted: bool = False,
        power: dict[str, int] | None = None,
        is_direct: bool = False,
    ) -> str:
        """Create a room; `power` raises users' levels (never list the creator in v12)."""
        state: list[dict[str, Any]] = []
        if join_rule:
            state.append({"type": "m.room.join_rules", "content": {"join_rule": join_rule}})
        if encrypted:
            state.append(
                {
                    "type": "m.room.encryption",
                    "state_key": "",
                    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
                }
            )
        resp = _ok(
            await self.client.room_create(
                name=name,
                invite=invite,
                is_direct=is_direct,
                preset=RoomPreset.private_chat,
                initial_state=state,
                power_level_override={"users": power} if power else None,
            )
        )
        assert isinstance(resp, RoomCreateResponse)
        return str(resp.room_id)

    async def invite(self, room_id: str, user_id: str) -> None:
        """Invite someone."""
        _ok(await self.client.room_invite(room_id, user_id))

    async def join(self, room_id: str) -> None:
        """Join a room (after an invite)."""
        _ok(await self.client.join(room_id))

    async def knock(self, room_id: str) -> None:
        """Ask to join a knock-only room."""
        _ok(await self.client.room_knock(room_id))

    async def kick(self, room_id: str, user_id: str) -> None:
        """Remove someone."""
        _ok(await self.client.room_kick(room_id, user_id))

    async def leave(self, room_id: str) -> None:
        """Leave a room."""
        _ok(await self.client.room_leave(room_id))

    async def set_power(self, room_id: str, user_id: str, level: int) -> None:
        """Give `user_id` a power level in the room."""
        levels = await self.state(room_id, "m.room.power_levels") or {}
        levels.setdefault("users", {})[user_id] = level
        _ok(await self.client.room_put_state(room_id, "m.room.power_levels", levels))

    async def state(self, room_id: str, event_type: str, key: str = "") -> dict[str, Any] | None:
        """A state event's content, or None."""
        resp = await self.client.room_get_state_event(room_id, event_type, key)
        if isinstance(resp, RoomGetStateEventResponse):
            return dict(resp.content)
        return None

    async def membership(self, room_id: str, user_id: str) -> str | None:
        """`join`, `invite`, `knock`, `leave`, `ban`, or None."""
        content = await self.state(room_id, "m.room.member", user_id) or {}
        membership = content.get("membership")
        return str(membership) if membership else None

    # -- messages --------------------------------------------------------------------------

    async def say(self, room_id: str, text: str, *, reply_to: str | None = None) -> str:
        """Post a text message (encrypted where the room is); its event id."""
        content: dict[str, Any] = {"msgtype": "m.text", "body": text}
        if reply_to:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
        resp = _ok(
            await self.client.room_send(
                room_id, "m.room.message", content, ignore_unverified_devices=True
            )
        )
        assert isinstance(resp, RoomSendResponse)
        return str(resp.event_id)

    async def send_image(
        self,
        room_id: str,
        data: bytes,
        *,
        caption: str = "",
        name: str = "IMG_0412.jpg",
        mime: str = "image/jpeg",
        encrypted: bool | None = None,
    ) -> str:
        """Post an image as Element does: uploaded (encrypted in an encrypted room) and sent as
        `m.image`, the caption in `body` beside `filename`; its event id."""
        if encrypted is None:
            room = self.client.rooms.get(room_id)
            encrypted = bool(room is not None and room.encrypted)
        resp, keys = await self.client.upload(
            io.BytesIO(data),
            content_type=mime,
            filename=name,
            encrypt=encrypted,
            filesize=len(data),
        )
        assert isinstance(resp, UploadResponse), resp
        content: dict[str, Any] = {
            "msgtype": "m.image",
            "body": caption or name,
            "filename": name,
            "info": {"mimetype": mime, "size": len(data)},
        }
        if encrypted:
            assert keys is not None
            content["file"] = keys | {"url": resp.content_uri, "mimetype": mime}
        else:
            content["url"] = resp.content_uri
        sent = _ok(
            await self.client.room_send(
                room_id, "m.room.message", content, ignore_unverified_devices=True
            )
        )
        assert isinstance(sent, RoomSendResponse)
        return str(sent.event_id)

    async def react(self, room_id: str, event_id: str, key: str) -> str:
        """React to a message."""
        content = {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}}
        resp = _ok(await self.client.room_send(room_id, "m.reaction", content))
        return str(resp.event_id)

    async def timeline(self, room_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The room's recent events, oldest first, as JSON (decrypted where keys allow)."""
        resp = _ok(await self.client.room_messages(room_id, limit=limit))
        assert isinstance(resp, RoomMessagesResponse)
        events = []
        for event in reversed(resp.chunk):
            source = dict(event.source)
            if getattr(event, "decrypted", False):
                source["decrypted"] = True
            events.append(source)
        return events

    async def messages(self, room_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The `m.room.message` events of the room, oldest first."""
        return [
            e for e in await self.timeline(room_id, limit) if e.get("type") == "m.room.message"
        ]
