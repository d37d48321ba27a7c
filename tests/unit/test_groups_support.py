"""Shared set-up for the group, join, member, nudge, reminder and privacy tests (no tests)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tests.fakes import Harness


async def zone_and_bin(
    h: Harness,
    *,
    zone: str = "Beringen",
    language: str = "nl",
    bin_name: str = "Noord",
    code: str = "noord",
    intake: list[str] | None = None,
    new_zone: bool = True,
) -> None:
    """A zone with its non-urgent number and one BIN (default intake: the street)."""
    if new_zone:
        await h.admin(f'zone add {zone} --non-urgent "011 27 95 79" --language {language}')
    extra = ""
    if intake is not None:
        extra = " --no-intake" if not intake else "".join(f' --intake "{q}"' for q in intake)
    await h.admin(f"bin add {bin_name} --zone {zone} --code {code}{extra}")


async def coordinator(h: Harness, name: str, code: str = "noord") -> None:
    """`name` redeems a coordinator invite for BIN `code`."""
    await h.admin(f"invite coordinator --bin {code}")
    await h.say(name, "/redeem " + h.code)
    h.new(name)


async def linked_group(h: Harness, chat: str = "buurt", by: str = "an", code: str = "") -> None:
    """The bot added to `chat` and the group linked by coordinator `by`."""
    await h.add_bot(chat, by)
    await h.say(by, f"/link {code}".strip(), chat=chat)
    h.new(chat)
    h.new(by)


async def ready(h: Harness, **kwargs: Any) -> None:
    """Zone, BIN Noord, coordinator An, group "buurt" linked."""
    await zone_and_bin(h, **kwargs)
    await coordinator(h, "an")
    await linked_group(h)


async def member(
    h: Harness, name: str, chat: str = "buurt", by: str = "an", approve: str = "Goedkeuren"
) -> None:
    """`name` asks to join in `chat`, answers the street question and `by` approves."""
    await h.ask_join(name, chat)
    await h.say(name, "Kerkstraat")
    await h.press(by, approve)
    h.new(name)
    h.new(by)
    h.new(chat)


async def rows(h: Harness, table: Any, *where: Any) -> list[Any]:
    """Rows of a table, read straight from the database."""
    async with h.db.session() as s:
        return list((await s.execute(select(table).where(*where))).scalars().all())


async def audit(h: Harness, action: str | None = None) -> list[Any]:
    """Audit entries, optionally of one action."""
    from storage.tables import AuditEntry

    found = await rows(h, AuditEntry)
    return [e for e in found if action is None or e.action == action]
