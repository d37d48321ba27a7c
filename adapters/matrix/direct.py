"""The bot's direct chats, kept in its `m.direct` account data as Matrix clients do."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import quote

from nio import AsyncClient, ErrorResponse, RoomCreateResponse, RoomPreset

from adapters.matrix.errors import check, transport_errors
from adapters.matrix.rights import INVITE

log = logging.getLogger(__name__)


async def raw_request(
    client: AsyncClient, method: str, path: str, body: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any], Any]:
    """A JSON request nio has no method for: (status, body, transport response)."""
    headers = {"Authorization": f"Bearer {client.access_token}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    data = json.dumps(body) if body is not None else None
    resp = await client.send(method, path, data, headers)
    try:
        parsed = await resp.json(content_type=None)
    except ValueError:
        parsed = {}
    return resp.status, parsed if isinstance(parsed, dict) else {}, resp


def raise_for_raw(status: int, body: dict[str, Any], transport: Any, action: str) -> None:
    """Raise the core's error for a failed raw request."""
    if status < 400:
        return
    error = ErrorResponse.from_dict(body)
    error.transport_response = transport
    check(error, action=action)


class DirectRooms:
    """Direct rooms per person (`m.direct`), cached; every change is a fresh read-modify-write,
    so that processes sending for the same account do not drop each other's rooms."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client
        self._by_user: dict[str, list[str]] = {}
        self.room_ids: set[str] = set()

    @property
    def _path(self) -> str:
        user = quote(self._client.user_id, safe="")
        return f"/_matrix/client/v3/user/{user}/account_data/m.direct"

    async def load(self) -> None:
        """Read `m.direct` from the homeserver (none yet is fine)."""
        with transport_errors("load_direct"):
            status, body, transport = await raw_request(self._client, "GET", self._path)
        if status == 404:
            body = {}
        else:
            raise_for_raw(status, body, transport, "load_direct")
        self._by_user = {
            user: [r for r in rooms if isinstance(r, str)]
            for user, rooms in body.items()
            if isinstance(rooms, list)
        }
        self.room_ids = {r for rooms in self._by_user.values() for r in rooms}

    def rooms_of(self, user_id: str) -> list[str]:
        """The direct rooms with `user_id`, newest last."""
        return list(self._by_user.get(user_id, ()))

    async def remember(self, user_id: str, room_id: str) -> None:
        """Record `room_id` as the direct room with `user_id` and save `m.direct`."""
        await self.load()
        rooms = self._by_user.setdefault(user_id, [])
        self.room_ids.add(room_id)
        if room_id not in rooms:
            rooms.append(room_id)
            await self._save()

    async def create(self, user_id: str) -> str:
        """Open a direct room with `user_id` (encrypted when the bot can) and remember it."""
        state = []
        if self._client.olm is not None:
            state.append(
                {
                    "type": "m.room.encryption",
                    "state_key": "",
                    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
                }
            )
        with transport_errors("create_direct"):
            resp = await self._client.room_create(
                is_direct=True,
                invite=[user_id],
                preset=RoomPreset.trusted_private_chat,
                initial_state=state,
            )
        check(resp, action="create_direct", right=INVITE)
        assert isinstance(resp, RoomCreateResponse)
        room_id = str(resp.room_id)
        await self.remember(user_id, room_id)
        log.info("matrix: created direct room %s", room_id)
        return room_id

    async def forget(self, room_id: str) -> None:
        """Drop a room the bot left from `m.direct`."""
        if room_id not in self.room_ids:
            return
        await self.load()
        self.room_ids.discard(room_id)
        if not any(room_id in rooms for rooms in self._by_user.values()):
            return
        self._by_user = {
            user: [r for r in rooms if r != room_id] for user, rooms in self._by_user.items()
        }
        self._by_user = {user: rooms for user, rooms in self._by_user.items() if rooms}
        await self._save()

    async def _save(self) -> None:
        with transport_errors("save_direct"):
            status, body, transport = await raw_request(
                self._client, "PUT", self._path, self._by_user
            )
        raise_for_raw(status, body, transport, "save_direct")
