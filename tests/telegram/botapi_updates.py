"""The fake Bot API's update queue: getUpdates long polling, and pushing to a webhook.

Semantics follow the Bot API:
- `allowed_updates` is remembered from the last getUpdates/setWebhook that named it, and an
  update of a type not asked for is dropped when it happens (by default every type but
  chat_member, message_reaction and message_reaction_count is delivered);
- an update is confirmed, and forgotten, once getUpdates is called with a higher offset;
- a getUpdates waits up to `timeout` seconds for an update, and a second getUpdates ends a
  waiting one with 409 Conflict;
- while a webhook is set, getUpdates answers 409 and updates are POSTed to the webhook.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from tests.telegram.botapi_state import JSON, ApiError, bad_request

log = logging.getLogger(__name__)

UPDATE_TYPES: tuple[str, ...] = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "message_reaction",
    "message_reaction_count",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
)
DEFAULT_ALLOWED: frozenset[str] = frozenset(UPDATE_TYPES) - {
    "chat_member",
    "message_reaction",
    "message_reaction_count",
}


@dataclass
class Webhook:
    """A webhook set with setWebhook."""

    url: str
    secret_token: str | None = None
    max_connections: int = 40


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class UpdateQueue:
    """Pending updates, long polling and webhook delivery."""

    next_update_id: int = 100_000
    allowed: frozenset[str] = DEFAULT_ALLOWED
    pending: list[JSON] = field(default_factory=list)
    delivered: list[JSON] = field(default_factory=list)
    dropped: list[JSON] = field(default_factory=list)
    _delivered_ids: set[int] = field(default_factory=set)
    webhook: Webhook | None = None
    webhook_retry_delay: float = 0.05
    webhook_failures: int = 0
    _changed: asyncio.Event | None = None
    _poll_generation: int = 0
    _pusher: asyncio.Task[None] | None = None
    _closing: bool = False

    def _event(self) -> asyncio.Event:
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed

    def _wake(self) -> None:
        event = self._event()
        event.set()
        self._changed = asyncio.Event()

    def push(self, kind: str, payload: JSON) -> JSON | None:
        """Queue one update of `kind`, or drop it when the bot did not ask for that type."""
        update = {"update_id": self.next_update_id, kind: payload}
        self.next_update_id += 1
        if kind not in self.allowed:
            self.dropped.append(update)
            return None
        self.pending.append(update)
        self._wake()
        return update

    def set_allowed(self, allowed: list[str] | None) -> None:
        """Remember `allowed_updates`; an empty list means the default set."""
        if allowed is None:
            return
        self.allowed = frozenset(allowed) & frozenset(UPDATE_TYPES) if allowed else DEFAULT_ALLOWED

    def confirm(self, offset: int) -> None:
        """Forget what getUpdates with this offset confirms."""
        if offset > 0:
            self.pending = [u for u in self.pending if u["update_id"] >= offset]
        elif offset < 0:
            self.pending = self.pending[offset:]

    async def get(self, offset: int, limit: int, wait: float) -> list[JSON]:
        """getUpdates: confirm, then answer at once or wait up to `wait` s for an update."""
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        self._poll_generation += 1
        generation = self._poll_generation
        self._wake()  # ends an older waiting getUpdates
        self.confirm(offset)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, wait)
        while not self.pending and not self._closing:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event().wait(), remaining)
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
        batch = self.pending[: max(1, min(limit, 100))]
        for update in batch:
            self._mark_delivered(update)
        return batch

    def _mark_delivered(self, update: JSON) -> None:
        if update["update_id"] not in self._delivered_ids:
            self._delivered_ids.add(update["update_id"])
            self.delivered.append(update)

    def set_webhook(self, url: str, secret_token: str | None, max_connections: int) -> None:
        """setWebhook: only loopback URLs, since the fake server must not reach out."""
        if not url:
            self.delete_webhook(drop_pending=False)
            return
        if not _loopback(url):
            raise bad_request("bad webhook: the fake server only calls loopback addresses")
        self.webhook = Webhook(url, secret_token, max_connections)
        if self._pusher is None or self._pusher.done():
            self._pusher = asyncio.get_running_loop().create_task(self._push_loop())
        self._wake()

    def delete_webhook(self, drop_pending: bool) -> None:
        """deleteWebhook; polling works again afterwards."""
        self.webhook = None
        if drop_pending:
            self.pending.clear()
        self._wake()

    async def _push_loop(self) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            while self.webhook is not None and not self._closing:
                if not self.pending:
                    await self._event().wait()
                    continue
                hook, update = self.webhook, self.pending[0]
                headers = {"Content-Type": "application/json"}
                if hook.secret_token:
                    headers["X-Telegram-Bot-Api-Secret-Token"] = hook.secret_token
                ok = False
                try:
                    async with http.post(hook.url, json=update, headers=headers) as response:
                        ok = 200 <= response.status < 300
                except (aiohttp.ClientError, TimeoutError) as exc:
                    log.debug("fake Bot API: webhook delivery failed: %r", exc)
                if ok and self.pending and self.pending[0] is update:
                    self.pending.pop(0)
                    self._mark_delivered(update)
                elif not ok:
                    self.webhook_failures += 1
                    await asyncio.sleep(self.webhook_retry_delay)

    async def close(self) -> None:
        """Wake every waiting getUpdates and stop pushing to the webhook."""
        self._closing = True
        self._wake()
        if self._pusher is not None:
            self._pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pusher

    def info(self) -> dict[str, Any]:
        """getWebhookInfo's answer."""
        return {
            "url": self.webhook.url if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self.pending),
            "max_connections": self.webhook.max_connections if self.webhook else 40,
            "allowed_updates": sorted(self.allowed),
        }
