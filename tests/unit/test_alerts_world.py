"""A small world for the official-message tests: one zone, three BINs, linked groups, people.

Groups are linked straight through the ORM, so these tests do not depend on `/link`.
(This module holds helpers only; its name keeps it beside the tests that use it.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import select

from bot.delivery import DeliveryWorker, attach
from bot.ratelimit import RateLimiter
from config.settings import DeliverySettings
from storage.tables import Bin, Delivery, Group
from tests.fakes import Harness

REF = re.compile(r"\b[A-Z]-[0-9A-Z]{4}\b")
GROUPS = {"noord": ["noord-1", "noord-2"], "zuid": ["zuid-1"], "oost": []}


@dataclass
class World:
    """The harness, its delivery worker and the ids tests refer to."""

    h: Harness
    worker: DeliveryWorker
    bins: dict[str, int] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)


async def make_world(
    h: Harness,
    *,
    language: str = "en",
    groups: dict[str, list[str]] | None = None,
    limiter: RateLimiter | None = None,
    settings: DeliverySettings | None = None,
    zone: str = "Beringen",
    platform: str | None = None,
) -> World:
    """Zone `zone` with BINs Noord, Zuid and Oost (no group), and a worker attached."""
    await h.admin(f"zone add {zone} --language {language} --non-urgent '011 27 95 79'")
    worker = attach(h.core, DeliveryWorker(h.core, settings or DeliverySettings(), limiter))
    world = World(h, worker)
    await add_bins(world, zone, groups if groups is not None else GROUPS, platform=platform)
    return world


async def add_bins(
    world: World, zone: str, groups: dict[str, list[str]], *, platform: str | None = None
) -> None:
    """Add BINs to `zone`, each with its linked groups."""
    h = world.h
    for code, chats in groups.items():
        await h.admin(f"bin add {code.capitalize()} --zone {zone} --code {code}")
        async with h.db.session() as session:
            b = (await session.execute(select(Bin).where(Bin.code == code))).scalar_one()
            world.bins[code] = b.id
            for chat in chats:
                g = Group(
                    bin_id=b.id,
                    platform=platform or h.platform.platform.value,
                    chat_id=chat,
                    title=chat,
                    linked_at=h.clock.now(),
                    active=True,
                )
                session.add(g)
                await session.flush()
                world.groups[chat] = g.id


async def official(h: Harness, name: str, role: str = "police", zone: str = "Beringen") -> None:
    """`name` redeems a police (or prevention) invite for `zone`."""
    await h.admin(f"invite {role} --zone {zone}")
    await h.say(name, "/redeem " + h.code)
    h.new(name)


async def member(h: Harness, name: str, bin_code: str) -> None:
    """`name` becomes a member of a BIN (the join flow is not what these tests are about)."""
    await h.say(name, "/help")
    h.new(name)
    async with h.core.uow() as uow:
        ident = await uow.people.identity(h.platform.platform.value, name.lower())
        b = await uow.directory.bin_by_code(bin_code)
        assert ident is not None and b is not None
        await uow.groups.admit(b.id, ident.person_id, h.clock.now())
        await uow.commit()


async def compose(
    h: Harness,
    name: str,
    *,
    targets: tuple[str, ...] = ("Noord",),
    category: str = "Suspicious vehicle",
    text: str = "A grey van drives slowly past the houses in the Stationsstraat.",
) -> str:
    """Walk the /alert wizard with buttons and confirm; returns the new reference."""
    await h.say(name, "/alert")
    for target in targets:
        await h.press(name, target)
    await h.press(name, "Done")
    await h.press(name, category)
    await h.say(name, text)
    await h.press(name, "Confirm")
    receipt = h.last(name)
    found = REF.search(receipt)
    assert found, receipt
    h.new(name)
    return found.group(0)


async def deliveries(h: Harness) -> list[Delivery]:
    """Every outbox row, oldest first."""
    async with h.db.session() as session:
        rows = await session.execute(select(Delivery).order_by(Delivery.id))
        return list(rows.scalars().all())


def posted(h: Harness, chat: str, needle: str = "") -> list[str]:
    """What the bot posted in a group that contains `needle`."""
    return [t for t in h.texts(chat) if needle in t]
