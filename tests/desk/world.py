"""Two zones on the recording platform, the desk served on a free loopback port, and the
people the desk tests speak of.

Beringen: BINs Noord (groups noord-1, noord-2), Zuid (zuid-1), Oost (none); officer Jan,
coordinator An (Noord). Hasselt: BIN Kern (kern-1); officer Piet, coordinator Bert (Kern).
Kim is a resident.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from adapters.http.desk import Desk
from adapters.http.health import HealthServer
from bot.health import Health
from storage.tables import AuditEntry
from tests.fakes import Harness
from tests.unit.test_alerts_world import World, add_bins, make_world, official

LINK = re.compile(r"http://127\.0\.0\.1:\d+/desk/login/[0-9a-f]+")


@dataclass
class DeskWorld:
    """The harness, its world and the running desk."""

    h: Harness
    world: World
    server: HealthServer
    base: str = ""
    bins: dict[str, int] = field(default_factory=dict)

    async def link(self, name: str) -> str:
        """`name` sends /desk privately; the login link the bot answered with."""
        await self.h.say(name, "/desk")
        found = LINK.search(self.h.last(name))
        assert found, self.h.last(name)
        return found.group(0)

    async def audit(self, action: str, outcome: str | None = None) -> list[AuditEntry]:
        async with self.h.db.session() as session:
            q = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
            rows = list((await session.execute(q)).scalars().all())
        return [r for r in rows if outcome is None or r.outcome == outcome]

    async def count(self, table: Any) -> int:
        from sqlalchemy import func

        async with self.h.db.session() as session:
            return int(
                (await session.execute(select(func.count()).select_from(table))).scalar_one()
            )


async def desk_world(h: Harness) -> DeskWorld:
    """Build the two zones and start the desk on a free port."""
    world = await make_world(h)
    await h.admin("zone add Hasselt --language en")
    await add_bins(world, "Hasselt", {"kern": ["kern-1"]})
    await official(h, "jan")
    await official(h, "piet", zone="Hasselt")
    for name, code in (("an", "noord"), ("bert", "kern")):
        await h.admin(f"invite coordinator --bin {code}")
        await h.say(name, "/redeem " + h.code)
        h.new(name)
    await h.say("kim", "/language en")
    h.new("kim")
    server = HealthServer(Health(h.core, process="test"), listen="127.0.0.1", port=0)
    desk = Desk(h.core, "http://127.0.0.1:1")
    server.desk = desk
    await server.start()
    base = f"http://127.0.0.1:{server.port}"
    desk.__init__(h.core, base)  # the port is known only once bound
    h.core.config = dataclasses.replace(h.core.config, desk_url=base)
    return DeskWorld(h, world, server, base, dict(world.bins))
