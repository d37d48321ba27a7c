"""What the desk does: compose an official message, post a follow-up, decide a join request.

Each goes through the same service functions as the chat commands (`alerts.store`,
`alerts.follow_up`, `membership.decide` and `carry_out`), in one unit of work with its audit
entry, and acts on the platforms only after the commit. Each returns an outcome; the web
adapter decides what to show.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from bot import media, texts
from bot.model import ChatRef, Outgoing, Platform, Rich
from bot.ports import PlatformError
from bot.services import alert_limits, alerts, desk_photos, membership, photos
from bot.services import alert_render as render
from bot.services.audience import status_word, tell_coordinators
from bot.services.desk import Viewer, may_compose, may_decide, refused
from bot.services.desk_photos import DeskPhoto

if TYPE_CHECKING:
    from bot.dispatch import Core
    from storage.tables import Zone
    from storage.uow import UnitOfWork

MAX_TEXT = 10_000  # anything longer is refused before it is measured


@dataclass(frozen=True)
class Choice:
    """A role and zone this person may write as, with the zone's BINs (id, name, groups)."""

    role: str
    zone_id: int
    zone: str
    bins: list[tuple[int, str, int]]


async def choices(core: Core, who: Viewer) -> list[Choice]:
    """Every (role, zone) this person may compose in, as the /alert wizard offers them."""
    found: list[Choice] = []
    async with core.uow() as uow:
        for g in who.roles.grants:
            if g.zone_id is None or not may_compose(who, g.role.value, g.zone_id):
                continue
            zone = await core.zone(g.zone_id, uow)
            if zone is None:
                continue
            rows = await alerts.zone_bins(uow, zone.id)
            found.append(
                Choice(g.role.value, zone.id, zone.name, [(b.id, b.name, n) for b, n in rows])
            )
    return sorted(found, key=lambda c: (c.zone, c.role))


@dataclass(frozen=True)
class Draft:
    """What the compose form sent (untrusted)."""

    role: str
    zone_id: int
    bin_ids: list[int]
    category: str
    text: str
    photo: str = ""  # the signed reference of an uploaded photo (bot/services/desk_photos.py)

    def tidy(self) -> Draft:
        """The text as it is checked and stored."""
        return replace(self, text=self.text.strip()[:MAX_TEXT])


@dataclass(frozen=True)
class Preview:
    """A checked draft: where it goes and the message exactly as residents will read it."""

    draft: Draft
    ref: str
    signature: str
    body: Rich
    groups: int
    bins: list[str]
    held_until: str | None
    limit: int
    photo: DeskPhoto | None = None


async def _check(
    core: Core, uow: UnitOfWork, who: Viewer, d: Draft
) -> tuple[Zone | None, list[str], int]:
    """The zone and what is wrong with a draft (catalogue keys), and the text limit."""
    if not may_compose(who, d.role, d.zone_id):
        return None, ["desk.compose_not_allowed"], 0
    zone = await core.zone(d.zone_id, uow)
    if zone is None:
        return None, ["desk.compose_not_allowed"], 0
    errors: list[str] = []
    active = list(await uow.directory.bins(zone.id, active=True))
    zone_bins = {b.id for b in active}
    if not d.bin_ids or not set(d.bin_ids) <= zone_bins:
        errors.append("alerts.compose_targets_empty")
    groups = await alerts.groups_of(uow, [i for i in d.bin_ids if i in zone_bins])
    if d.bin_ids and not groups:
        errors.append("alerts.compose_no_groups")
    if d.category not in alerts.CATEGORIES:
        errors.append("desk.compose_pick_category")
    here = next(iter(core.platforms)).value if core.platforms else "console"
    category = d.category if d.category in alerts.CATEGORIES else "other"
    room = alert_limits.text_room(core, zone, d.role, category, groups, here, d.text, active)
    if not alerts.visible(d.text):  # empty, or only spaces and zero-width characters
        errors.append("alerts.compose_text_empty")
    elif not room.fits:
        errors.append("desk.compose_too_long")
    return zone, errors, room.limit


async def _photo(
    core: Core, uow: UnitOfWork, who: Viewer, d: Draft, errors: list[str]
) -> DeskPhoto | None:
    """The draft's photo; a reference this session was not given (forged, from another
    session, or its photo gone) adds an error and is audited."""
    if not d.photo:
        return None
    found = await desk_photos.carried(uow, who, d.photo)
    if found is None:
        errors.append("media.desk_photo_stale")
        await refused(core, who, "alert.compose", "photo_ref", zone_id=d.zone_id)
    return found


async def preview(core: Core, who: Viewer, d: Draft) -> Preview | list[str]:
    """Check a draft as the wizard does, and show it as residents will read it."""
    d = d.tidy()
    async with core.uow() as uow:
        zone, errors, limit = await _check(core, uow, who, d)
        photo = await _photo(core, uow, who, d, errors)
        if errors or zone is None:
            if errors == ["desk.compose_not_allowed"]:
                await refused(core, who, "alert.compose", "role", zone_id=d.zone_id)
            await uow.commit()  # the refusals audited, if any
            return errors
        ref = await alerts.new_ref(uow.alerts, core.rng)
        groups = await alerts.groups_of(uow, d.bin_ids)
        chosen = [b for b in await uow.directory.bins(zone.id) if b.id in d.bin_ids]
        bins = [b.name for b in chosen]
    now = core.clock.now()
    probe = alert_limits.probe(
        zone, d.role, now, d.text, ref=ref, category=d.category, bins=chosen
    )
    body = render.official(probe, zone, zone.language, "/", buttons=True)
    held = render.when(probe.release_at, zone, who.lang) if probe.release_at > now else None
    return Preview(d, ref, who.sign(ref), body, len(groups), bins, held, limit, photo)


@dataclass(frozen=True)
class Sent:
    """The message is stored with its deliveries and on its way."""

    ref: str
    groups: int


async def send(core: Core, who: Viewer, d: Draft, ref: str, signature: str) -> Sent | list[str]:
    """Store a confirmed draft through `alerts.store` (checked again: the role may have gone
    since the preview), then start the fan-out and post the author's receipt in chat."""
    d = d.tidy()
    good_ref = alerts.normalise_ref(ref) == ref and hmac.compare_digest(who.sign(ref), signature)
    now = core.clock.now()
    async with core.uow() as uow:
        zone, errors, _ = await _check(core, uow, who, d)
        photo = await _photo(core, uow, who, d, errors)
        if not good_ref:
            errors = [*errors, "desk.compose_stale"]
        if errors or zone is None:
            reason = "role" if "desk.compose_not_allowed" in errors else "invalid"
            await refused(core, who, "alert.compose", reason, zone_id=d.zone_id)
            await uow.commit()
            return errors
        receipt = await _receipt_chat(core, uow, who.person_id)
        draft = alerts.Draft(
            d.zone_id,
            d.role,
            d.bin_ids,
            d.category,
            d.text,
            ref,
            who.person_id,
            receipt.platform.value if receipt else Platform.CONSOLE.value,
            receipt.chat_id if receipt else "",
            who.lang,
            photo_id=photo.photo_id if photo is not None else None,
        )
        alert, groups = await alerts.store(uow, draft, now, core.rng)
        if receipt is None:  # no private chat to post it in: the desk shows the figures
            alert.receipt_platform = alert.receipt_chat_id = None
        body, _ = await alerts.status_of(uow, alert, who.lang, "/", now, receipt=True)
        alert_id, stored_ref = alert.id, alert.ref
        await uow.commit()
    core.outbox.wake()
    if receipt is not None:
        await _post_receipt(core, alert_id, receipt, body)
    return Sent(stored_ref, groups)


async def _receipt_chat(core: Core, uow: UnitOfWork, person_id: int) -> ChatRef | None:
    """The author's private chat on a running platform, where the receipt goes."""
    for ident in await uow.people.identities_of(person_id):
        if ident.dm_chat_id and Platform(ident.platform) in core.platforms:
            return ChatRef(Platform(ident.platform), ident.dm_chat_id, True)
    return None


async def _post_receipt(core: Core, alert_id: int, chat: ChatRef, body: Rich) -> None:
    """As `alert_receipts.start` does for the wizard: post, remember, keep it up to date."""
    try:
        sent = await core.platform(chat.platform).send(chat, Outgoing(body))
    except PlatformError:
        return  # a receipt is a courtesy: the desk shows the figures
    async with core.uow() as uow:
        await uow.alerts.set_receipt_message(alert_id, sent.message_id)
        await uow.commit()
    core.outbox.receipt_posted(alert_id, body.plain)
    await core.outbox.refresh_receipt(alert_id)


# -- follow-ups -----------------------------------------------------------------------------


async def follow_up(
    core: Core, who: Viewer, ref: str, kind: str, text: str, photo: media.Clean | None = None
) -> str | None:
    """Post an update (with a cleaned photo, as /update sent as a photo's caption), all-clear
    or withdrawal through `alerts.follow_up`; None when done, else the reason it was refused
    (audited; the photo is stored only once the follow-up is accepted)."""
    text = text.strip()[:MAX_TEXT]
    now = core.clock.now()
    action = f"alert.{kind}" if kind in alerts.FOLLOWUP_KINDS else "alert.followup"
    async with core.uow() as uow:
        found = await uow.alerts.alert_by_ref(ref)
        reason = "unknown_ref" if found is None else None
        if found is not None:
            refusal = await alerts.follow_up_refusal(core, uow, who.roles, found, kind, text)
            reason = refusal.reason if refusal is not None else None
        if reason is not None or found is None:
            zone_id = found.zone_id if found is not None else None
            await refused(core, who, action, reason or "unknown_ref", zone_id=zone_id, ref=ref)
            await uow.commit()
            return reason
        if photo is not None and kind != "update":
            await refused(core, who, action, "photo", zone_id=found.zone_id, ref=ref)
            await uow.commit()
            return "media.desk_photo_update_only"
        photo_id = (await photos.keep(core, uow, photo)).photo_id if photo is not None else None
        await alerts.follow_up(
            uow, found, kind, text or None, who.person_id, now, photo_id=photo_id
        )
        alert_id = found.id
        await uow.commit()
    if kind == "withdraw":
        core.outbox.withdrawn(alert_id)
    core.outbox.wake()
    if kind == "withdraw":  # its photos are not kept a moment longer than needed
        await photos.withdrawn(core, alert_id)
    return None


# -- join requests --------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """What became of a decision: "done", "not_yours" or "closed" (decided before)."""

    outcome: str
    name: str = ""


async def decide(
    core: Core, who: Viewer, request_id: int, approve: bool, reason: str | None
) -> Decision:
    """Approve or decline a join request, as /approve and /decline do."""
    action = "join.approve" if approve else "join.decline"
    platforms = {p.value for p in core.platforms}
    async with core.uow() as uow:
        outcome = await membership.decide(
            uow, who.coordinated, who.person_id, request_id, approve, core.clock.now(), platforms
        )
        if isinstance(outcome, membership.NotYours):
            await refused(
                core, who, action, outcome.reason, bin_id=outcome.bin_id, request=request_id
            )
        elif isinstance(outcome, membership.Decided):
            assert may_decide(who, outcome.bin.id)
            await core.audit(
                who.pseudonym,
                action,
                zone_id=outcome.zone.id,
                bin_id=outcome.bin.id,
                request=request_id,
                with_reason=bool(reason),
                via="desk",
            )
        await uow.commit()
    if isinstance(outcome, membership.NotYours):
        return Decision("not_yours")
    if isinstance(outcome, membership.NotWaiting):
        return Decision("closed", outcome.name)
    await membership.carry_out(core, outcome, reason)
    verdict = "approved" if approve else "declined"
    decided = outcome

    def told(lang: str, p: str) -> Rich:
        return texts.rich(
            "groups.decided_by_other",
            lang,
            p=p,
            n=request_id,
            name=decided.name,
            bin=decided.bin.name,
            by=who.name,
            status=status_word(verdict, lang),
        )

    await tell_coordinators(core, outcome.bin.id, told, skip=[who.person_id])
    return Decision("done", outcome.name)
