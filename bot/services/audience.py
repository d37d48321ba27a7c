"""Who hears about a BIN's groups and members, and in which language: the coordinators, the
person concerned, the group itself."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot import texts
from bot.model import LANGUAGES, Button, ChatRef, MessageRef, Outgoing, Platform, Rich, Role
from bot.ports import PlatformError
from bot.services import bin_settings
from storage import uow as units

if TYPE_CHECKING:
    from bot.dispatch import Core
    from storage.tables import Bin, Group, Zone
    from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

# A catalogue key, or a function of (language, command prefix) giving the text.
Body = str | Callable[[str, str], Rich]
# Buttons labelled in the reader's language.
Buttons = Callable[[str], Sequence[Sequence[Button]]]


@dataclass(frozen=True)
class Told:
    """A private message that went out, and the language it was written in."""

    ref: MessageRef
    lang: str


def prefix_for(platform: Platform | str) -> str:
    """How commands are written on a platform (Matrix clients keep `/` for themselves)."""
    return "!" if Platform(platform) == Platform.MATRIX else "/"


def title_of(group: Group) -> str:
    """A linked group's title as the bot shows it."""
    return shorten(group.title or group.chat_id, MAX_SHOWN_WORD)


def chat_of(group: Group) -> ChatRef:
    """The platform chat of a linked group."""
    return ChatRef(Platform(group.platform), group.chat_id, False, group.title)


def render(body: Body, lang: str, prefix: str, values: dict[str, object]) -> Rich:
    """A body as rich text in one language."""
    if callable(body):
        return body(lang, prefix)
    return texts.rich(body, lang, p=prefix, **values)


def label(key: str, lang: str) -> str:
    """A button label in one language."""
    return texts.text(key, lang, p="/")


async def coordinator_ids(uow: UnitOfWork, bin_id: int) -> list[int]:
    """The persons coordinating a BIN, each once."""
    seen: list[int] = []
    for g in await uow.people.grants(role=Role.COORDINATOR.value, bin_id=bin_id):
        if g.person_id not in seen:
            seen.append(g.person_id)
    return seen


async def bin_and_zone(uow: UnitOfWork, bin_id: int) -> tuple[Bin, Zone]:
    """A BIN and its zone (both exist: a BIN cannot outlive its zone)."""
    b = await uow.directory.bin(bin_id)
    assert b is not None
    zone = await uow.directory.zone(b.zone_id)
    assert zone is not None
    return b, zone


async def group_language(uow: UnitOfWork, group: Group) -> str:
    """The language the bot writes in a group: its own choice, else its BIN's, else its
    zone's."""
    if group.language in LANGUAGES:
        return group.language
    b, zone = await bin_and_zone(uow, group.bin_id)
    lang = bin_settings.language(zone, b)
    return lang if lang in LANGUAGES else "nl"


# Display names are the platform's, and some allow thousands of characters (Matrix): each
# is shown cut to this many, so that a list, a notice or a request copy stays one message.
MAX_SHOWN_NAME = 64
# Other text a person chose that the bot shows (a group title, a word they typed).
MAX_SHOWN_WORD = 100


def shorten(text: str, limit: int = MAX_SHOWN_NAME) -> str:
    """Text a person chose as the bot shows it: on one line, at most `limit` characters, with
    an ellipsis where it was cut."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def shown_name(name: str | None) -> str:
    """A display name as the bot shows it ("?" when there is none)."""
    return shorten(name) if name and name.strip() else "?"


async def display_name(uow: UnitOfWork, person_id: int, platform: str | None = None) -> str:
    """How a person appears to coordinators: their display name on the platform concerned,
    shortened (`shown_name`)."""
    idents = await uow.people.identities_of(person_id)
    for ident in sorted(idents, key=lambda i: i.platform != platform):
        if ident.display_name and ident.display_name.strip():
            return shown_name(ident.display_name)
    return shorten(idents[0].user_id) if idents else "?"


async def tell(
    core: Core,
    person_id: int,
    body: Body,
    /,
    *,
    lang: str | None = None,
    buttons: Buttons | None = None,
    **values: object,
) -> MessageRef | None:
    """Write to a person privately, on the first of their platforms that works. Inside a unit
    of work the message waits until it is over (and None is returned)."""
    if (open_uow := units.current()) is not None:

        async def later() -> None:
            await _tell(core, person_id, body, lang, buttons, values)

        open_uow.after_commit(later)
        return None
    told = await _tell(core, person_id, body, lang, buttons, values)
    return told.ref if told else None


async def _tell(
    core: Core,
    person_id: int,
    body: Body,
    lang: str | None,
    buttons: Buttons | None,
    values: dict[str, object],
) -> Told | None:
    async with core.uow() as uow:
        lang = lang or await core.person_language(uow, person_id)
        idents = [
            i for i in await uow.people.identities_of(person_id) if i.platform in core.platforms
        ]
    for ident in idents:
        platform = core.platform(ident.platform)
        rich = render(body, lang, prefix_for(ident.platform), values)
        # Without buttons (Matrix) the text already says which command to type instead.
        rows = (
            tuple(tuple(r) for r in buttons(lang))
            if buttons and platform.capabilities.buttons
            else ()
        )
        try:
            ref = await platform.send_direct(ident.user_id, Outgoing(rich, rows))
            return Told(ref, lang)
        except PlatformError as exc:
            log.warning("private message to person %s failed: %s", person_id, exc.reason)
    return None


async def tell_coordinators(
    core: Core,
    bin_id: int,
    body: Body,
    /,
    *,
    buttons: Buttons | None = None,
    skip: Sequence[int] = (),
    **values: object,
) -> list[Told]:
    """Write to every coordinator of a BIN privately; the messages that went out. Inside a
    unit of work they wait until it is over (and none is returned)."""
    if (open_uow := units.current()) is not None:

        async def later() -> None:
            await tell_coordinators(core, bin_id, body, buttons=buttons, skip=skip, **values)

        open_uow.after_commit(later)
        return []
    async with core.uow() as uow:
        people = [p for p in await coordinator_ids(uow, bin_id) if p not in skip]
    told = []
    for pid in people:
        one = await _tell(core, pid, body, None, buttons, values)
        if one is not None:
            told.append(one)
    return told


async def post(
    core: Core,
    group: Group,
    body: Body,
    /,
    *,
    lang: str | None = None,
    buttons: Buttons | None = None,
    silent: bool = False,
    reply_to: str | None = None,
    **values: object,
) -> tuple[MessageRef, Rich]:
    """Post in a group in its language (never inside a unit of work); raises PlatformError
    when the platform refuses."""
    if lang is None:
        async with core.uow() as uow:
            lang = await group_language(uow, group)
    rich = render(body, lang, prefix_for(group.platform), values)
    rows = tuple(tuple(r) for r in buttons(lang)) if buttons else ()
    msg = Outgoing(rich, rows, silent=silent, reply_to=reply_to)
    return await core.platform(group.platform).send(chat_of(group), msg), rich


def status_word(status: str, lang: str) -> str:
    """A request's or membership's status as a word (`approved` -> "goedgekeurd")."""
    return texts.text(f"groups.status.{status}", lang)


def rights_text(missing: Sequence[str], lang: str) -> str:
    """Rights the bot lacks, named in the reader's language (unknown ones as the platform said)."""
    names = []
    for right in missing:
        key = "groups.right." + right.strip().lower().replace(" ", "_")
        names.append(texts.text(key, lang) if key in texts.keys("en") else right)
    return ", ".join(dict.fromkeys(names))
