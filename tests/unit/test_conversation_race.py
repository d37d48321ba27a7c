"""Two steps racing on one stored conversation: one applies, the other is answered and
changes nothing (a double tap, or two processes behind a load balancer)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from bot.commands import Registry, Where
from bot.context import Ctx
from bot.conversation import Answer, Conversation
from bot.dispatch import Core
from bot.events import CommandIssued, MessagePosted
from bot.handlers import build_registry
from storage.uow import UnitOfWork
from tests.fakes import Harness

GATE: dict[str, asyncio.Event] = {}


@dataclass
class Count(Conversation):
    """Counts the answers it was given; the first answer waits at a gate in its step."""

    kind: ClassVar[str] = "test.count"
    steps: ClassVar[Mapping[str, str]] = {"count": "_on_count"}
    answers: list[str] = field(default_factory=list)

    async def _on_count(self, ctx: Ctx, uow: UnitOfWork, answer: Answer) -> str | None:
        if answer.value == "slow":
            GATE["entered"].set()
            await GATE["slow"].wait()  # the other step runs and commits meanwhile
        await uow.audit.record(ctx.core.clock.now(), ctx.actor, "test.count", n=answer.value)
        self.answers.append(answer.value)
        await ctx.reply("core.cancelled")
        return "count"


def registry() -> Registry:
    routes = Registry()
    routes.conversation(Count)

    @routes.command("count", help="help.help", where=Where.PRIVATE)
    async def count(ctx: Ctx, args: str) -> None:
        async with ctx.core.uow() as uow:
            await ctx.core.conversations.begin(ctx, uow, Count("count", ctx.core.clock.now()))
            await uow.commit()

    return build_registry(routes)


async def racing(h: Harness, other: Core) -> None:
    await h.event(CommandIssued(h.chat(None, "jan"), h.user("jan"), "count", "", "1"))
    GATE["slow"], GATE["entered"] = asyncio.Event(), asyncio.Event()
    slow = asyncio.create_task(
        h.core.handle(MessagePosted(h.chat(None, "jan"), h.user("jan"), "slow", "2"))
    )
    await asyncio.wait_for(GATE["entered"].wait(), 10)  # it has read the conversation
    await other.handle(MessagePosted(h.chat(None, "jan"), h.user("jan"), "fast", "3"))
    GATE["slow"].set()
    await asyncio.wait_for(slow, 10)
    await h.core.idle()


async def check(h: Harness) -> None:
    answers = h.new("jan")
    assert answers.count("Gestopt. Er is niets verstuurd of veranderd.") == 1
    assert any("al beantwoord" in a for a in answers), answers
    async with h.core.uow() as uow:
        entries = [e.detail for e in await uow.audit.entries() if e.action == "test.count"]
        stored = await uow.conversations.get("telegram", "jan", "jan")
    assert entries == [{"n": "fast"}]  # the losing step's effects went with it
    assert stored is not None and stored.data["answers"] == ["fast"]


async def test_a_step_racing_another_loses_cleanly_and_is_answered(tmp_path: Path) -> None:
    h = await Harness.create(tmp_path)
    h.core = Core(h.db, h.core.platforms, clock=h.clock, registry=registry(), rng=h.core.rng)
    other = Core(h.db, h.core.platforms, clock=h.clock, registry=registry())
    try:
        await racing(h, other)
        await check(h)
    finally:
        await h.close()


async def test_the_same_race_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    h = await Harness.create(tmp_path, url=pg_url)
    h.core = Core(h.db, h.core.platforms, clock=h.clock, registry=registry(), rng=h.core.rng)
    other = Core(h.db, h.core.platforms, clock=h.clock, registry=registry())
    try:
        await racing(h, other)
        await check(h)
    finally:
        await h.close()
