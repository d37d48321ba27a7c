"""Reusing a recent context for read-only commands (as `binbot run` does): fewer statements,
and nothing that grants or refuses anything ever relies on it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import event, select

from bot.core_config import CoreConfig
from bot.events import CommandIssued
from bot.model import Platform, UserRef
from storage.db import Database
from storage.groups import GroupRepo
from storage.repo import AuditRepo
from storage.tables import RoleGrant, Zone
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


async def test_a_role_revoked_in_this_process_shows_at_once(hr: Harness) -> None:
    police, _ = await officer_and_coordinator(hr)
    await hr.say("jan", f"/redeem {police}")
    await hr.say("jan", "/help")
    assert "Jouw rollen: politie" in hr.last("jan")
    await hr.admin("revoke role 1")  # through this process's database handle
    await hr.say("jan", "/help")
    assert "politie" not in hr.last("jan") and "/alert" not in hr.last("jan")


async def test_a_change_made_elsewhere_shows_in_help_later_but_governs_at_once(
    tmp_path: Path,
) -> None:
    h = await Harness.create(tmp_path, config=CoreConfig(context_reuse_seconds=0.5))
    try:
        police, _ = await officer_and_coordinator(h)
        await h.say("jan", f"/redeem {police}")
        await h.say("jan", "/help")
        assert "Jouw rollen: politie" in h.last("jan")
        # The admin's shell: another process with its own connection to the same database.
        shell = Database(h.db.url)
        try:
            async with shell.session() as s:
                grant = (await s.execute(select(RoleGrant))).scalar_one()
                grant.revoked_at = h.core.clock.now()
        finally:
            await shell.dispose()
        await h.say("jan", "/help")  # may still list the role for the reuse window ...
        assert "Jouw rollen: politie" in h.last("jan")
        await h.say("jan", "/alerts")  # ... but what needs the role is refused at once
        assert h.last("jan").startswith("/alerts is voorbehouden aan: ")
        await asyncio.sleep(0.6)
        await h.say("jan", "/help")
        assert "politie" not in h.last("jan")
    finally:
        await h.close()


async def test_zone_numbers_changed_in_this_process_show_at_once(hr: Harness) -> None:
    await officer_and_coordinator(hr)
    await hr.admin("invite coordinator --bin noord")
    await hr.say("mia", f"/redeem {hr.code}")
    await hr.say("mia", "/numbers")
    assert "011 27 95 79" in hr.last("mia")
    async with hr.db.session() as s:
        zone = (await s.execute(select(Zone))).scalar_one()
        zone.non_urgent_number = "011 00 00 01"
    await hr.say("mia", "/numbers")
    assert "011 00 00 01" in hr.last("mia")


async def test_writes_that_concern_nobody_keep_contexts(hr: Harness) -> None:
    """A nudge's cooldown, the audit log and deliveries change nothing a context holds."""
    await hr.say("jan", "/help")
    async with hr.db.session() as s:
        await GroupRepo(s).claim_nudge(1, hr.core.clock.now(), hr.core.clock.now())
        await AuditRepo(s).record(hr.core.clock.now(), "admin", "test")
    with statements(hr) as seen:
        await hr.say("jan", "/help")
    assert not [q for q in seen if "identities" in q]


async def test_a_new_display_name_is_read_afresh(hr: Harness) -> None:
    await hr.say("jan", "/help")
    renamed = UserRef(Platform.TELEGRAM, "jan", display_name="Jan P.")
    with statements(hr) as seen:
        await hr.event(CommandIssued(hr.chat(None, "jan"), renamed, "help", "", "9"))
    assert [s for s in seen if "identities" in s]
