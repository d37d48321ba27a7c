"""Fixtures: one real Synapse per test session, bots (real MatrixPlatform) and people.

Another test folder reuses them (and the same homeserver) with, in its conftest.py:

    from tests.matrix.conftest import make_bot, make_user, synapse  # noqa: F401
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.matrix.inbound import IsLinked
from adapters.matrix.platform import MatrixPlatform
from config.settings import MatrixSettings

from .harness import Inbox, MatrixUser, MemoryStore
from .synapse import SynapseError, SynapseServer, shared_synapse, synapse_missing

BotFactory = Callable[..., Awaitable[tuple[MatrixPlatform, Inbox]]]
UserFactory = Callable[..., Awaitable[MatrixUser]]


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SynapseServer]:
    """A Synapse on 127.0.0.1 for the whole session (skipped when not installed)."""
    reason = synapse_missing()
    if reason:
        pytest.skip(reason)
    try:
        server = shared_synapse(tmp_path_factory.mktemp("synapse"))
    except SynapseError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()


def bot_settings(
    server: SynapseServer, user_id: str, password: str, **extra: Any
) -> MatrixSettings:
    """Settings for a bot account on the test homeserver."""
    return MatrixSettings(
        homeserver=server.base_url,
        user_id=user_id,
        password=password,
        max_retries=2,
        **extra,
    )


@pytest.fixture
async def make_bot(synapse: SynapseServer, tmp_path: Path) -> AsyncIterator[BotFactory]:
    """Start bots: `platform, inbox = await make_bot()`; stopped after the test."""
    running: list[MatrixPlatform] = []

    async def make(
        *,
        account: Any = None,
        store: MemoryStore | None = None,
        data_dir: Path | None = None,
        is_linked: IsLinked | None = None,
        **settings: Any,
    ) -> tuple[MatrixPlatform, Inbox]:
        account = account or await synapse.create_user("bot", displayname="binbot")
        platform = MatrixPlatform(
            bot_settings(synapse, account.user_id, account.password, **settings),
            store if store is not None else MemoryStore(),
            data_dir or tmp_path / "bot",
            sync_timeout_ms=5000,
            is_linked=is_linked,
        )
        inbox = Inbox()
        await platform.start(inbox)
        running.append(platform)
        return platform, inbox

    yield make
    for platform in running:
        await platform.stop()


@pytest.fixture
async def make_user(synapse: SynapseServer, tmp_path: Path) -> AsyncIterator[UserFactory]:
    """People with their own client: `jan = await make_user("jan")`."""
    made: list[MatrixUser] = []

    async def make(name: str = "user", *, encryption: bool = False) -> MatrixUser:
        account = await synapse.create_user(name, displayname=name.capitalize())
        store_dir = tmp_path / f"store-{account.localpart}" if encryption else None
        user = MatrixUser(synapse, account, store_dir)
        made.append(user)
        return user

    yield make
    for user in made:
        await user.close()
