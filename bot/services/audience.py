"""Who hears about a BIN's groups and members, and in which language: the coordinators, the
person concerned, the group itself."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from bot import texts
from bot.model import LANGUAGES, Button, ChatRef, MessageRef, Outgoing, Platform, Rich, Role
from bot.ports import PlatformError
from storage.repo import Repo
from storage.tables import Bin, Group, Zone

if TYPE_CHECKING:
    from bot.dispatch import Core

log = logging.getLogger(__name__)

# A catalogue key, or a function of (language, command prefix) giving the text.
Body = str | Callable[[str, str], Rich]
# Buttons labelled in the reader's language.
Buttons = Callable[[str], Sequence[Sequence[Button]]]


def prefix_for(platform: Platform | str) -> str:
    """How commands are written on a platform (Matrix clients keep `/` for themselves)."""
    return "!" if Platform(platform) == Platform.MATRIX else "/"


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


async def coordinator_ids(repo: Repo, bin_id: int) -> list[int]:
    """The persons coordinating a BIN, each once."""
    seen: list[int] = []
    for g in await repo.grants(role=Role.COORDINATOR.value, bin_id=bin_id):
        if g.person_id not in seen:
            seen.append(g.person_id)
    return seen


async def bin_and_zone(repo: Repo, bin_id: int) -> tuple[Bin, Zone]:
    """A BIN and its zone (both exist: a BIN cannot outlive its zone)."""
    b = await repo.bin(bin_id)
    assert b is not None
    zone = await repo.zone(b.zone_id)
    assert zone is not None
    return b, zone


async def group_language(repo: Repo, group: Group) -> str:
    """The language the bot writes in a group: its own choice, else its zone's."""
    if group.language in LANGUAGES:
        return group.language
    _, zone = await bin_and_zone(repo, group.bin_id)
    return zone.language if zone.language in LANGUAGES else "nl"


async def display_name(repo: Repo, person_id: int, platform: str | None = None) -> str:
    """How a person appears to coordinators: their display name on the platform concerned."""
    idents = await repo.identities_of(person_id)
    for ident in sorted(idents, key=lambda i: i.platform != platform):
        if ident.display_name:
            return ident.display_name
    return idents[0].user_id if idents else "?"


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
    """Write to a person privately, on the first of their platforms that works."""
    told = await _tell(core, person_id, body, lang, buttons, values)
    return told[0] if told else None


async def tell_rich(
    core: Core,
    person_id: int,
    body: Body,
    /,
    *,
    lang: str | None = None,
    buttons: Buttons | None = None,
    **values: object,
) -> tuple[MessageRef, Rich] | None:
    """As `tell`, also giving the text as it was written (to edit the message later)."""
    return await _tell(core, person_id, body, lang, buttons, values)


async def _tell(
    core: Core,
    person_id: int,
    body: Body,
    lang: str | None,
    buttons: Buttons | None,
    values: dict[str, object],
) -> tuple[MessageRef, Rich] | None:
    async with core.tx() as repo:
        lang = lang or await core.person_language(repo, person_id)
        idents = [i for i in await repo.identities_of(person_id) if i.platform in core.platforms]
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
            return ref, rich
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
) -> list[tuple[MessageRef, Rich]]:
    """Write to every coordinator of a BIN privately; the messages that went out."""
    async with core.tx() as repo:
        people = [p for p in await coordinator_ids(repo, bin_id) if p not in skip]
    refs = []
    for pid in people:
        told = await _tell(core, pid, body, None, buttons, values)
        if told is not None:
            refs.append(told)
    return refs


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
    """Post in a group in its language; raises PlatformError when the platform refuses."""
    if lang is None:
        async with core.tx() as repo:
            lang = await group_language(repo, group)
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
