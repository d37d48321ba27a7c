"""Matrix fixtures for the scenario tests: the session's one Synapse and its people, shared
with tests/matrix (importing them here reuses the same homeserver), and a running bot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.matrix.conftest import make_user, synapse  # noqa: F401
from tests.matrix.synapse import SynapseServer

from .matrix_stack import MatrixStack


@pytest.fixture
async def stack(synapse: SynapseServer, tmp_path: Path) -> AsyncIterator[MatrixStack]:  # noqa: F811
    """The bot on the session's Synapse: a fresh account, SQLite file and delivery worker."""
    running = await MatrixStack.start(synapse, tmp_path / "bot", seed=7)
    yield running
    await running.stop()
