"""The unit of work: nothing written without a commit, replies only after one, and a failure
answered with a reference that the log carries too."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.commands import Registry, Where
from bot.context import Ctx
from bot.dispatch import Core
from bot.events import CommandIssued
from bot.handlers import build_registry
from bot.model import Outgoing
from storage import uow as units
from storage.uow import UncommittedChanges
from tests.fakes import Harness


async def language_of(h: Harness, name: str) -> str | None:
    async with h.core.uow() as uow:
        ident = await uow.people.identity("telegram", name)
        assert ident is not None
        person = await uow.people.person(ident.person_id)
        assert person is not None
        return person.language


async def test_nothing_is_written_without_a_commit(h: Harness) -> None:
    await h.say("jan", "/help")
    with pytest.raises(UncommittedChanges):
        async with h.core.uow() as uow:
            ident = await uow.people.identity("telegram", "jan")
            assert ident is not None
            person = await uow.people.person(ident.person_id)
            assert person is not None
            person.language = "fr"
    assert await language_of(h, "jan") is None


async def test_work_after_commit_waits_for_the_block_and_is_dropped_on_failure(
    h: Harness,
) -> None:
    ran: list[str] = []

    async def note(what: str) -> None:
        assert units.current() is None, "after-commit work ran inside the transaction"
        ran.append(what)

    async with h.core.uow() as uow:
        uow.after_commit(lambda: note("read-only block"))
        assert ran == []
    assert ran == ["read-only block"]

    with pytest.raises(RuntimeError):
        async with h.core.uow() as uow:
            uow.after_commit(lambda: note("released by the commit"))
            await uow.commit()
            uow.after_commit(lambda: note("never committed"))
            raise RuntimeError("later work failed")
    assert ran == ["read-only block", "released by the commit"]


async def test_a_reply_decided_in_a_unit_of_work_is_sent_after_it(h: Harness) -> None:
    ctx = await h.core.context(h.chat(None, "jan"), h.user("jan"))
    async with h.core.uow() as uow:
        assert await ctx.reply("core.cancelled") is None
        await uow.audit.record(h.clock.now(), ctx.actor, "test.action")
        assert h.texts("jan") == []  # not while the transaction is open
        await uow.commit()
    assert h.texts("jan") == ["Gestopt. Er is niets verstuurd of veranderd."]


async def test_a_reply_of_a_failed_unit_of_work_is_never_sent(h: Harness) -> None:
    ctx = await h.core.context(h.chat(None, "jan"), h.user("jan"))
    with pytest.raises(ValueError):
        async with h.core.uow():
            await ctx.reply("core.cancelled")
            raise ValueError("the work failed before its commit")
    assert h.texts("jan") == []


async def test_the_fake_platform_refuses_a_call_inside_a_transaction(h: Harness) -> None:
    ctx = await h.core.context(h.chat(None, "jan"), h.user("jan"))
    async with h.core.uow():
        with pytest.raises(AssertionError, match="unit of work is open"):
            await h.platform.send(ctx.chat, Outgoing(ctx.t("core.cancelled")))


def failing_registry() -> Registry:
    routes = Registry()

    @routes.command("boom", help="help.help", where=Where.PRIVATE)
    async def boom(ctx: Ctx, args: str) -> None:
        async with ctx.core.uow() as uow:
            await ctx.audit("test.boom")
            await ctx.reply("core.cancelled")
            assert uow.has_changes
            raise RuntimeError("storage is down")

    return build_registry(routes)


@pytest.fixture
async def failing(tmp_path: Path) -> Harness:
    harness = await Harness.create(tmp_path)
    harness.core = Core(
        harness.db,
        harness.core.platforms,
        clock=harness.clock,
        registry=failing_registry(),
        rng=harness.core.rng,
    )
    return harness


async def test_a_failure_is_answered_with_a_reference_that_the_log_carries(
    failing: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    h = failing
    with caplog.at_level(logging.ERROR, logger="bot"):
        await h.event(
            CommandIssued(h.chat(None, "jan"), h.user("jan"), "boom", "", "1"), may_fail=True
        )
    (answer,) = h.new("jan")
    assert answer.startswith("Er ging aan mijn kant iets mis (ref E-")
    assert "Er is niets verstuurd of gewijzigd." in answer
    ref = answer.split("(ref ")[1].split(")")[0]
    logged = [r for r in caplog.records if ref in r.getMessage()]
    assert logged and logged[0].exc_info is not None  # the traceback, under the same ref
    async with h.core.uow() as uow:  # the audit entry went with the failed transaction
        assert [e.action for e in await uow.audit.entries()] == []
