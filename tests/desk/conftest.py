"""Fixtures of the desk tests: the two-zone world with the desk served on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.desk.world import DeskWorld, desk_world
from tests.fakes import Harness


@pytest.fixture
async def dw(h: Harness) -> AsyncIterator[DeskWorld]:
    found = await desk_world(h)
    yield found
    await found.server.stop()
