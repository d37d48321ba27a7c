"""Reusing a recent context for read-only commands (as `binbot run` does): fewer statements,
and nothing that grants or refuses anything ever relies on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import event

from bot.dispatch import CoreConfig
from bot.events import CommandIssued
from bot.model import Platform, UserRef
from tests.fakes import Harness
from tests.unit.test_core import officer_and_coordinator


@pytest.fixture
async def hr(tmp_path: Path) -> AsyncIterator[Harness]:
    """The harness with context reuse on, as under `binbot run`."""
    harness = await Harness.create(tmp_path, config=CoreConfig(context_reuse_seconds=60))
    yield harness
    await harness.close()


@contextmanager
def statements(h: Harness) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        seen.append(statement)

    event.listen(h.db.engine.sync_engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(h.db.engine.sync_engine, "before_cursor_execute", count)


async def test_a_second_help_reads_nothing_about_the_person(hr: Harness) -> None:
    await officer_and_coordinator(hr)
    await hr.say("jan", "/help")
    with statements(hr) as seen:
        await hr.say("jan", "/help")
    assert not [s for s in seen if "identities" in s or "role_grants" in s]
    assert hr.texts("jan")[0] == hr.texts("jan")[1]


async def test_without_reuse_every_command_reads_the_person(h: Harness) -> None:
    await h.say("jan", "/help")
    with statements(h) as seen:
        await h.say("jan", "/help")
    assert [s for s in seen if "identities" in s]


async def test_any_other_command_of_the_person_ends_the_reuse(hr: Harness) -> None:
    await hr.say("marie", "/help")
    await hr.say("marie", "/language fr")
    await hr.say("marie", "/numbers")
    assert "Appelez d'abord la police" in hr.last("marie")


async def test_privileged_commands_never_reuse_a_context(hr: Harness) -> None:
    police, _ = await officer_and_coordinator(hr)
    await hr.say("jan", f"/redeem {police}")
    await hr.say("jan", "/help")
    assert "Jouw rollen: politie" in hr.last("jan")
    await hr.admin("revoke role 1")  # the admin's shell: another process, as far as the core knows
    await hr.say("jan", "/help")  # may still list the role for a few seconds ...
    await hr.say("jan", "/alerts")  # ... but what needs the role is refused at once
    assert hr.last("jan").startswith("/alerts is voorbehouden aan: ")


async def test_a_new_display_name_is_read_afresh(hr: Harness) -> None:
    await hr.say("jan", "/help")
    renamed = UserRef(Platform.TELEGRAM, "jan", display_name="Jan P.")
    with statements(hr) as seen:
        await hr.event(CommandIssued(hr.chat(None, "jan"), renamed, "help", "", "9"))
    assert [s for s in seen if "identities" in s]
