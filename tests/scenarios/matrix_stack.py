"""The whole bot on a real Synapse, wired as `binbot run` wires it (bot/app.py), for scenario
tests and the Matrix fan-out benchmark.

Settings -> SQLite file -> `build_platforms` (the real MatrixPlatform on matrix-nio) -> Core ->
the services `bot.app.assemble` builds (the DeliveryWorker) started in the background. The
scheduler and the HTTP health endpoint are left out: the scenarios drive what they need.
Residents are `MatrixUser`s (tests/matrix/harness.py): their own nio client, and what they
see is read back from the homeserver (`/messages`), never from the bot's side.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import shlex
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.matrix.platform import MatrixPlatform
from bot.admin import run_admin
from bot.app import assemble, build_platforms, publish_commands
from bot.cli import admin_parser
from bot.delivery import DeliveryWorker
from bot.dispatch import Core
from bot.model import Platform
from config.settings import DeliverySettings, HttpSettings, MatrixSettings, Settings
from storage.db import Database, open_database
from tests.matrix.harness import MatrixUser, eventually
from tests.matrix.synapse import RegisteredUser, SynapseServer

Probe = Callable[[], Awaitable[Any]]


@dataclass
class MatrixStack:
    """One running bot: its settings, database, core, Matrix platform and delivery worker."""

    server: SynapseServer
    account: RegisteredUser
    settings: Settings
    db: Database
    core: Core
    platform: MatrixPlatform
    worker: DeliveryWorker
    services: list[Any] = field(default_factory=list)
    _running: bool = False

    @classmethod
    async def start(
        cls,
        server: SynapseServer,
        workdir: Path,
        *,
        account: RegisteredUser | None = None,
        encryption: bool = False,
        matrix: dict[str, Any] | None = None,
        delivery: dict[str, Any] | None = None,
        seed: int | None = None,
    ) -> MatrixStack:
        """Register a bot account (unless given) and start the bot on it."""
        account = account or await server.create_user("binbot", displayname="binbot")
        workdir.mkdir(parents=True, exist_ok=True)
        settings = Settings(
            database_url=str(workdir / "binbot.db"),
            data_dir=workdir / "data",
            process_name="scenario",
            run_scheduler=False,
            http=HttpSettings(port=0),
            matrix=MatrixSettings(
                homeserver=server.base_url,
                user_id=account.user_id,
                password=account.password,
                encryption=encryption,
                max_retries=2,
                **(matrix or {}),
            ),
            delivery=DeliverySettings(
                **{
                    "poll_interval": 0.2,
                    "backoff_base": 0.2,
                    "backoff_max": 2.0,
                    **(delivery or {}),
                }
            ),
        )
        db = await open_database(settings.database_url)
        platforms = build_platforms(settings, db)
        bot = assemble(
            settings, db, platforms, rng=random.Random(seed) if seed is not None else None
        )
        core, services, worker = bot.core, bot.services, bot.worker
        platform = platforms[Platform.MATRIX]
        assert isinstance(worker, DeliveryWorker) and isinstance(platform, MatrixPlatform)
        stack = cls(server, account, settings, db, core, platform, worker, services)
        try:
            await platform.start(core.handle)
            stack._running = True
            await publish_commands(core)
            for service in services:
                await service.start()
        except BaseException:
            await stack.stop()
            raise
        return stack

    @property
    def bot_id(self) -> str:
        """The bot's Matrix user id."""
        return self.account.user_id

    async def stop(self) -> None:
        """Stop the worker, then the platform, wait for the core's background work, close."""
        for service in reversed(self.services):
            await service.stop()
        self.services = []
        if self._running:
            await self.platform.stop()
            self._running = False
        tasks = list(self.core._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.db.dispose()

    async def admin(self, line: str) -> list[str]:
        """Run an admin command as `binbot LINE` would; its output lines (fails on error)."""
        out: list[str] = []
        args = admin_parser().parse_args(shlex.split(line))
        code = await run_admin(args, self.db, out.append, self.core.clock, self.core.rng)
        assert code == 0, f"binbot {line}: {out}"
        return out

    async def invite_code(self, line: str) -> str:
        """`binbot invite ...`: the code, alone on the last line."""
        return (await self.admin(line))[-1].strip()


# -- what a resident's client sees ------------------------------------------------------------


async def direct_room(user: MatrixUser, stack: MatrixStack, *, encrypted: bool = False) -> str:
    """The person opens a direct chat with the bot; returns once the bot has joined it."""
    room = await user.create_room(
        None, invite=(stack.bot_id,), is_direct=True, encrypted=encrypted
    )
    await eventually(lambda: _is_member(user, room, stack.bot_id), within=20)
    return room


async def group_room(
    user: MatrixUser, stack: MatrixStack, name: str, *, encrypted: bool = False
) -> str:
    """A coordinator's room with the bot invited at power 50 (enough for every right it needs);
    returns once the bot has joined it."""
    room = await user.create_room(
        name, invite=(stack.bot_id,), power={stack.bot_id: 50}, encrypted=encrypted
    )
    await eventually(lambda: _is_member(user, room, stack.bot_id), within=20)
    return room


async def _is_member(user: MatrixUser, room: str, user_id: str) -> bool:
    return await user.membership(room, user_id) == "join"


async def accept_invite(user: MatrixUser, *, within: float = 20.0) -> str:
    """Wait for an invite to the person (e.g. the bot opening a direct chat), join, its room."""
    accepted = _accepted.setdefault(user.user_id, set())
    deadline = time.monotonic() + within
    while True:
        if user._sync_task is None:
            await user.client.sync(timeout=500)
        else:
            await asyncio.sleep(0.2)  # the client's own sync loop brings the invites
        waiting = [r for r in user.client.invited_rooms if r not in accepted]
        if waiting:
            accepted.add(waiting[0])
            await user.join(waiting[0])
            return waiting[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"{user.user_id} got no invite within {within}s")


_accepted: dict[str, set[str]] = {}


def body(event: dict[str, Any]) -> str:
    """The text of a message event as it reads now (edits are separate events)."""
    return str((event.get("content") or {}).get("body", ""))


async def from_bot(
    user: MatrixUser, room: str, stack: MatrixStack, limit: int = 50
) -> list[dict[str, Any]]:
    """The bot's messages in a room as the person's client reads them, oldest first, edits
    left out (their text is in `latest`)."""
    return [
        e
        for e in await user.messages(room, limit)
        if e.get("sender") == stack.bot_id and "m.new_content" not in e.get("content", {})
    ]


async def latest(user: MatrixUser, room: str, event_id: str) -> str:
    """The text of a message after its edits (`m.replace`), as clients show it."""
    text = ""
    for e in await user.messages(room):
        content = e.get("content") or {}
        if e.get("event_id") == event_id and not text:
            text = body(e)
        relates = content.get("m.relates_to") or {}
        if relates.get("rel_type") == "m.replace" and relates.get("event_id") == event_id:
            text = str(content["m.new_content"]["body"])
    return text


async def sees(
    user: MatrixUser,
    room: str,
    stack: MatrixStack,
    needle: str,
    *,
    within: float = 20.0,
    after: str | None = None,
) -> dict[str, Any]:
    """Wait until the bot wrote something containing `needle` in the room (after the event
    `after`, when given); that message event."""

    async def probe() -> dict[str, Any] | None:
        events = await user.messages(room)
        ids = [e["event_id"] for e in events]
        if after is not None and after in ids:
            events = events[ids.index(after) + 1 :]
        return next(
            (
                e
                for e in reversed(events)
                if e.get("sender") == stack.bot_id
                and "m.new_content" not in e.get("content", {})
                and needle in body(e)
            ),
            None,
        )

    try:
        return await eventually(probe, within=within, interval=0.2)
    except AssertionError:
        said = [body(e)[:120] for e in await from_bot(user, room, stack)]
        raise AssertionError(
            f"the bot never wrote {needle!r} in {room}; it wrote {said}"
        ) from None


async def says(user: MatrixUser, room: str, stack: MatrixStack, text: str, needle: str) -> str:
    """The person writes `text`; returns the bot's answer containing `needle`."""
    mark = await user.say(room, text)
    return body(await sees(user, room, stack, needle, after=mark))


async def wait_until(probe: Probe, within: float = 20.0) -> Any:
    """`eventually` with the scenarios' default patience."""
    return await eventually(probe, within=within, interval=0.1)


@contextlib.asynccontextmanager
async def running(server: SynapseServer, workdir: Path, **options: Any) -> Any:
    """`async with running(server, tmp_path) as stack:` a bot that is stopped afterwards."""
    stack = await MatrixStack.start(server, workdir, **options)
    try:
        yield stack
    finally:
        await stack.stop()
