"""One Matrix account's session: the nio client, its login, and the sync loop.

Credentials and the sync token live in the core's KeyValueStore, namespaced by the bot's user
id. nio's own `store_sync_tokens` is off on purpose: nio saves a token *before* anyone has
handled the sync, so a crash would skip events; here the token is saved only once the events
of that sync have been handed to the core, so a restart neither misses nor replays them.

Encryption keys live in nio's store under `data_dir/matrix/`, named by user and device, so a
restart with the stored device id keeps its keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from nio import (
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    LoginResponse,
    SyncResponse,
    WhoamiResponse,
)
from nio.crypto import ENCRYPTION_ENABLED

from adapters.matrix.errors import check, is_rate_limited, retry_after, transport_errors
from bot.ports import KeyValueStore, PermanentError, TransientError
from config.settings import MatrixSettings

log = logging.getLogger(__name__)

# Handles one sync; `initial` is True for the very first sync of an account (no token yet).
SyncHandler = Callable[[SyncResponse, bool], Awaitable[None]]

AUTH_ERRORS = ("M_UNKNOWN_TOKEN", "M_MISSING_TOKEN")
BACKOFF_MAX = 60.0
# How many timeline events per room one sync may carry: enough for a restart after a long
# outage in a neighbourhood group, so that the core misses nothing.
TIMELINE_LIMIT = 200
SYNC_FILTER: dict[str, Any] = {"room": {"timeline": {"limit": TIMELINE_LIMIT}}}
# The first sync of a new account hands no timeline to the core: one event per room is enough.
INITIAL_FILTER: dict[str, Any] = {"room": {"timeline": {"limit": 1}}}
FIRST_SYNC_TIMEOUT = 300.0


def store_key(user_id: str, name: str) -> str:
    """The KeyValueStore key of one piece of this account's state."""
    return f"matrix:{user_id}:{name}"


def make_client(settings: MatrixSettings, data_dir: Path) -> AsyncClient:
    """An nio client for the account; 429s come back as errors (the core retries per room)."""
    assert settings.homeserver and settings.user_id
    store_path = data_dir / "matrix"
    store_path.mkdir(parents=True, exist_ok=True)
    config = AsyncClientConfig(
        # 0: hand a 429 back at once, so one slow room never holds the others up.
        max_limit_exceeded=0,
        max_timeouts=settings.max_retries,
        request_timeout=30,
        encryption_enabled=settings.encryption and ENCRYPTION_ENABLED,
        store_sync_tokens=False,
    )
    return AsyncClient(
        settings.homeserver.rstrip("/"),
        settings.user_id,
        device_id=settings.device_id or "",
        store_path=str(store_path),
        config=config,
    )


async def authenticate(
    client: AsyncClient, settings: MatrixSettings, store: KeyValueStore
) -> None:
    """Restore the stored login (or the configured token), else log in by password once."""
    user_id = client.user
    token = await store.get(store_key(user_id, "access_token"))
    device_id = await store.get(store_key(user_id, "device_id"))
    if token is None and settings.access_token is not None:
        token, device_id = settings.access_token.get_secret_value(), settings.device_id
    if token is not None:
        client.access_token = token
        with transport_errors("whoami"):
            who = await client.whoami()
        if isinstance(who, WhoamiResponse):
            client.restore_login(user_id, device_id or who.device_id or "", token)
            log.info("matrix: restored session of device %s", client.device_id)
            return
        if not (isinstance(who, ErrorResponse) and who.status_code in AUTH_ERRORS):
            check(who, action="whoami")
        client.access_token = ""
        # Logging in again as the same device keeps its encryption keys.
        client.device_id = device_id or client.device_id
        log.warning("matrix: the stored access token was refused; logging in again")
    await login(client, settings, store)


async def login(client: AsyncClient, settings: MatrixSettings, store: KeyValueStore) -> None:
    """Log in by password and persist the access token and device id."""
    if settings.password is None:
        raise PermanentError("no_password")
    with transport_errors("login"):
        resp = await client.login(
            settings.password.get_secret_value(), device_name=settings.device_name
        )
    if not isinstance(resp, LoginResponse):
        check(resp, action="login")
        raise PermanentError("login_failed")
    await store.put(store_key(client.user_id, "access_token"), resp.access_token)
    await store.put(store_key(client.user_id, "device_id"), resp.device_id)
    log.info("matrix: logged in as device %s", resp.device_id)


class SyncLoop:
    """Syncs forever, hands each sync to `handler` in order, then saves its `next_batch`.

    Syncing and handling run as two tasks joined by a queue, so that the core may call the
    platform (and wait for a later sync) while it handles an event without blocking syncs.
    """

    def __init__(
        self,
        client: AsyncClient,
        settings: MatrixSettings,
        store: KeyValueStore,
        handler: SyncHandler,
        *,
        timeout_ms: int = 30_000,
    ) -> None:
        self.client = client
        self._settings = settings
        self._store = store
        self._handler = handler
        self._timeout_ms = timeout_ms
        self._queue: asyncio.Queue[tuple[SyncResponse, bool]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._synced = asyncio.Condition()
        self._sync_count = 0

    @property
    def _token_key(self) -> str:
        return store_key(self.client.user_id, "next_batch")

    async def start(self) -> None:
        """Do the first sync (raising if the homeserver cannot be reached), then run."""
        since = await self._store.get(self._token_key)
        initial = since is None
        with transport_errors("sync"):
            # nio sets no client timeout on a full-state sync; a homeserver that hangs must not
            # hang start-up forever.
            resp = await asyncio.wait_for(
                self.client.sync(
                    timeout=0,
                    since=since,
                    full_state=True,
                    sync_filter=INITIAL_FILTER if initial else SYNC_FILTER,
                ),
                FIRST_SYNC_TIMEOUT,
            )
        if not isinstance(resp, SyncResponse):
            check(resp, action="sync")
            raise TransientError("sync_failed")
        await self._crypto()
        self._queue.put_nowait((resp, initial))
        await self._notify()
        self._tasks = [
            asyncio.create_task(self._sync_forever(), name="matrix-sync"),
            asyncio.create_task(self._dispatch_forever(), name="matrix-dispatch"),
        ]

    async def stop(self, drain_timeout: float = 5.0) -> None:
        """Stop syncing; let the syncs already received be handled (for a while), then stop."""
        if not self._tasks:
            return
        sync_task, dispatch_task = self._tasks
        sync_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sync_task
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), drain_timeout)
        dispatch_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await dispatch_task
        self._tasks = []

    async def wait_sync(self, within: float) -> bool:
        """Wait until one more sync has been received; False on timeout."""
        async with self._synced:
            seen = self._sync_count
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._synced.wait_for(lambda: self._sync_count > seen), within
                )
            return self._sync_count > seen

    async def _notify(self) -> None:
        async with self._synced:
            self._sync_count += 1
            self._synced.notify_all()

    async def _sync_forever(self) -> None:
        failures = 0
        while True:
            delay = await self._sync_once()
            if delay is None:
                failures = 0
                continue
            failures += 1
            backoff = min(BACKOFF_MAX, delay or 2.0 ** min(failures - 1, 6))
            await asyncio.sleep(backoff * random.uniform(0.8, 1.2))

    async def _sync_once(self) -> float | None:
        """One sync; None on success, else seconds to wait (0 for "use the back-off")."""
        try:
            resp = await self.client.sync(
                timeout=self._timeout_ms, sync_filter=SYNC_FILTER, since=self.client.next_batch
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("matrix: sync failed: %s; retrying", type(exc).__name__)
            return 0.0
        if isinstance(resp, ErrorResponse):
            if is_rate_limited(resp):
                return retry_after(resp)
            if resp.status_code in AUTH_ERRORS and self._settings.password is not None:
                log.warning("matrix: access token refused during sync; logging in again")
                with contextlib.suppress(Exception):
                    await login(self.client, self._settings, self._store)
                return 0.0
            log.warning("matrix: sync failed: %s; retrying", resp.status_code)
            return 0.0
        self._queue.put_nowait((resp, False))
        await self._notify()
        try:
            await self._crypto()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("matrix: key exchange failed: %s", type(exc).__name__)
        return None

    async def _crypto(self) -> None:
        """Upload, query and claim keys, and send queued to-device messages (sync_forever's)."""
        client = self.client
        if client.olm is None:
            return
        await client.send_to_device_messages()
        if client.should_upload_keys:
            await client.keys_upload()
        if client.should_query_keys:
            await client.keys_query()
        if client.should_claim_keys:
            await client.keys_claim(client.get_users_for_key_claiming())

    async def _dispatch_forever(self) -> None:
        while True:
            resp, initial = await self._queue.get()
            try:
                await self._handle(resp, initial)
            finally:
                self._queue.task_done()

    async def _handle(self, resp: SyncResponse, initial: bool) -> None:
        try:
            await self._handler(resp, initial)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The core's failure on one event must not stop the bot; the token moves on so
            # that a poison event is not replayed forever.
            log.exception("matrix: handling a sync failed")
        try:
            await self._store.put(self._token_key, resp.next_batch)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("matrix: could not save the sync token")
