"""`/alert`: composing an official message, as a stored conversation (STYLE 5).

zone (only for someone serving several zones) -> targets -> category -> text -> confirm.
On platforms with buttons every choice is a button; elsewhere (Matrix, typing in the
console) the same choices are numbers or words. The conversation is stored, so after a
restart, or on another process, the officer goes on where they were; its buttons carry its
token and the step they answer, and the framework refuses any other press
(bot/conversation.py).

Each step answers with one message, so an officer's private chat stays well below a
platform's per-chat rate (Telegram: about one message a second): the targets prompt is
edited in place, and the preview carries its own Confirm and Cancel buttons.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from bot import texts
from bot.args import parse_number
from bot.commands import Registry
from bot.conversation import Answer
from bot.model import Outgoing, Rich, Role
from bot.services import alert_limits, alert_receipts, alerts, photos
from bot.services import alert_render as render
from bot.services.alert_targets import Rows, State, TargetSteps

if TYPE_CHECKING:
    from bot.context import Ctx
    from storage.uow import UnitOfWork

routes = Registry()

URGENT_WORDS = frozenset({"urgent", "dringend", "urgente", "warm"})
NON_URGENT_WORDS = frozenset(
    {"non-urgent", "nonurgent", "non_urgent", "niet-dringend", "nicht-dringend", "cold", "koud"}
)

# After the text, these ask for a photo (or Skip). Any message may carry one, sent with the
# text as its caption or in place of Confirm (a wanted vehicle, say).
PHOTO_CATEGORIES = frozenset({"missing_person"})


@routes.conversation
@dataclass
class AlertComposer(TargetSteps):
    """One official message being written by one police officer or prevention worker."""

    kind: ClassVar[str] = "alert"
    steps: ClassVar[Mapping[str, str]] = {
        State.ZONE: "_on_zone",
        State.TARGETS: "_on_targets",
        State.CATEGORY: "_on_category",
        State.TEXT: "_on_text",
        State.PHOTO: "_on_photo",
        State.CONFIRM: "_on_confirm",
    }
    photo_states: ClassVar[frozenset[str]] = frozenset({State.TEXT, State.PHOTO, State.CONFIRM})
    role: str = ""
    zones: list[int] = field(default_factory=list)
    zone_id: int = 0
    choices: list[int] = field(default_factory=list)
    chosen: list[int] = field(default_factory=list)
    category: str = ""
    text: str = ""
    ref: str = ""
    photo_id: int = 0
    photo_size: list[int] = field(default_factory=list)  # [width, height]

    # -- plumbing --------------------------------------------------------------------------

    async def on_cancel(self, ctx: Ctx, uow: UnitOfWork) -> None:
        """Nothing was sent; the attempt is in the audit log."""
        await ctx.audit("alert.compose", outcome="cancelled", zone_id=self.zone_id or None)
        await ctx.reply("core.cancelled")

    async def on_timeout(self, ctx: Ctx, uow: UnitOfWork) -> None:
        """Nothing was sent; the attempt is in the audit log."""
        await ctx.audit("alert.compose", outcome="timeout", zone_id=self.zone_id or None)
        await ctx.reply("core.conversation_timeout")

    # -- zone ------------------------------------------------------------------------------

    async def ask_zone(self, ctx: Ctx, uow: UnitOfWork, lead: Rich) -> State:
        """Ask which zone, for someone who serves several."""
        zones = [z for z in await uow.directory.zones() if z.id in self.zones]
        self.zones = [z.id for z in zones]  # in the order shown, for typed numbers
        lines = [lead, ctx.t("alerts.compose_pick_zone")]
        lines += [Rich.of(f"{i}. {z.name}") for i, z in enumerate(zones, 1)]
        lines.append(self._hint(ctx))
        rows = [[self.button(z.name, State.ZONE, f"z{z.id}")] for z in zones]
        await ctx.send_rich(Rich.join(lines), buttons=rows if self._buttons(ctx) else ())
        return State.ZONE

    async def _on_zone(self, ctx: Ctx, uow: UnitOfWork, answer: Answer) -> str | None:
        value, picked = answer.value, None
        if answer.pressed:
            if value[:1] == "z" and (n := parse_number(value[1:])) in self.zones:
                picked = int(n)
        elif isinstance(n := parse_number(value, high=len(self.zones)), int):
            picked = self.zones[n - 1]
        if picked is None:
            await ctx.reply("alerts.compose_invalid_choice")
            return State.ZONE
        self.zone_id = picked
        return await self.ask_targets(ctx, uow)

    # -- category --------------------------------------------------------------------------

    async def _on_category(self, ctx: Ctx, uow: UnitOfWork, answer: Answer) -> str | None:
        word = answer.value.strip().lower()
        names = {render.category_name(c, ctx.lang).lower(): c for c in alerts.CATEGORIES}
        category = None
        if answer.pressed:
            category = word if word in alerts.CATEGORIES else None
        elif isinstance(n := parse_number(word, high=len(alerts.CATEGORIES)), int):
            category = alerts.CATEGORIES[n - 1]
        else:
            category = names.get(word)
        if category is None:
            await ctx.reply("alerts.compose_category_invalid", count=len(alerts.CATEGORIES))
            return State.CATEGORY
        self.category = category
        room = await self.room(ctx, uow, "")
        ask = ctx.t("alerts.compose_text", limit=room.limit)
        if ctx.core.platform(ctx.platform).capabilities.photos:
            ask = Rich.join([ask, ctx.t("media.compose_text_photo")], " ")
        await ctx.send_rich(ask)
        return State.TEXT

    # -- text ------------------------------------------------------------------------------

    async def room(self, ctx: Ctx, uow: UnitOfWork, text: str) -> alert_limits.Room:
        """Whether `text` fits every target group's platform once framed, measured as each
        platform measures it, and the limit in characters."""
        groups = await alerts.groups_of(uow, self.chosen)
        zone = await self._zone(ctx, uow)
        bins = [b for b in await uow.directory.bins(zone.id) if b.id in self.chosen]
        return alert_limits.text_room(
            ctx.core, zone, self.role, self.category, groups, ctx.platform.value, text, bins
        )

    async def _on_text(self, ctx: Ctx, uow: UnitOfWork, answer: Answer) -> str | None:
        text = "" if answer.pressed else answer.value.strip()
        if answer.photo_id is not None:
            await self._attach(uow, answer.photo_id)
        if not alerts.visible(text):  # empty, or only spaces and zero-width characters
            await ctx.reply("alerts.compose_text_empty")
            return State.TEXT
        room = await self.room(ctx, uow, text)
        if not room.fits:
            await ctx.audit(
                "alert.compose", outcome="refused", reason="too_long", zone_id=self.zone_id
            )
            await ctx.reply("alerts.compose_too_long", limit=room.limit, length=room.length)
            return State.TEXT
        self.text = text
        self.ref = await alerts.new_ref(uow.alerts, ctx.core.rng)
        if not self.photo_id and self.category in PHOTO_CATEGORIES:
            if ctx.core.platform(ctx.platform).capabilities.photos:
                return await self._ask_photo(ctx)
        await self._preview(ctx, uow)
        return State.CONFIRM

    # -- photo -----------------------------------------------------------------------------

    async def _attach(self, uow: UnitOfWork, photo_id: int) -> None:
        """Take a stored photo for the message (one: a second replaces the first)."""
        photo = await uow.media.photo(photo_id)
        if photo is not None:
            self.photo_id = photo.id
            self.photo_size = [photo.width, photo.height]

    async def _ask_photo(self, ctx: Ctx) -> State:
        lines = [ctx.t("media.compose_photo_ask")]
        buttons: Rows = []
        if self._buttons(ctx):
            skip = texts.text("media.btn_skip", ctx.lang)
            buttons = [[self.button(skip, State.PHOTO, "skip")]]
        else:
            lines.append(ctx.t("media.compose_photo_type"))
        await ctx.send_rich(Rich.join(lines), buttons=buttons)
        return State.PHOTO

    async def _on_photo(self, ctx: Ctx, uow: UnitOfWork, answer: Answer) -> str | None:
        if answer.photo_id is not None:
            await self._attach(uow, answer.photo_id)
        elif not (
            (answer.pressed and answer.value == "skip")
            or (not answer.pressed and texts.fold(answer.value) in texts.words("words.skip"))
        ):
            await ctx.reply("media.compose_photo_invalid")
            return State.PHOTO
        await self._preview(ctx, uow)
        return State.CONFIRM

    def _show_photo(self, ctx: Ctx, uow: UnitOfWork) -> Rich | None:
        """After the commit, send the officer the photo as residents will get it; the line the
        preview says it with."""
        if not self.photo_id:
            return None
        width, height = self.photo_size
        port = ctx.core.platform(ctx.platform)
        if not port.capabilities.photos:
            return ctx.t("media.no_photos_here", width=width, height=height)
        photo_id, chat, caption = self.photo_id, ctx.chat, ctx.t("media.preview_caption")

        async def show() -> None:
            async with ctx.core.uow() as reading:
                photo = await reading.media.photo(photo_id)
            if photo is not None:
                pic = photos.picture(ctx.core, photo, ctx.platform.value)
                await port.send_photo(chat, pic, Outgoing(caption))

        uow.after_commit(show)
        return ctx.t("media.preview_photo", width=width, height=height)

    async def _preview(self, ctx: Ctx, uow: UnitOfWork) -> None:
        """One message: where it goes, the message exactly as residents will read it, and
        Confirm / Cancel under it (or how to answer, where there are no buttons)."""
        groups = await alerts.groups_of(uow, self.chosen)
        chosen = [b for b in await uow.directory.bins(self.zone_id) if b.id in self.chosen]
        bins = [b.name for b in chosen]
        zone = await self._zone(ctx, uow)
        now = ctx.core.clock.now()
        probe = alert_limits.probe(
            zone, self.role, now, self.text, ref=self.ref, category=self.category, bins=chosen
        )
        tap = self._buttons(ctx)
        head = ctx.t("alerts.compose_preview", groups=len(groups), bins=", ".join(bins))
        blocks = [head, render.official(probe, zone, zone.language, ctx.prefix, buttons=tap)]
        tail: list[Rich] = []
        shown = self._show_photo(ctx, uow)
        if shown is not None:
            tail.append(shown)
        if probe.release_at > now:
            held = render.when(probe.release_at, zone, ctx.lang)
            tail.append(ctx.t("alerts.compose_preview_held", time=held))
        buttons: Rows = []
        if tap:
            confirm = texts.text("alerts.btn_confirm", ctx.lang)
            cancel = texts.text("alerts.btn_cancel", ctx.lang)
            buttons = [
                [
                    self.button(confirm, State.CONFIRM, "confirm"),
                    self.button(cancel, State.CONFIRM, "cancel"),
                ]
            ]
        else:
            tail.append(ctx.t("alerts.compose_confirm_type"))
        if tail:
            blocks.append(Rich.join(tail, "\n\n"))
        silent = probe.urgency != "urgent"
        *first, last = self._pack(ctx, blocks, buttons)
        for body in first:
            await ctx.send_rich(body, silent=silent)
        await ctx.send_rich(last, buttons=buttons, silent=silent)

    @staticmethod
    def _pack(ctx: Ctx, blocks: list[Rich], buttons: Rows) -> list[Rich]:
        """As few messages as the platform takes: a text at the limit fills a message by
        itself, and the line before it (or the note after it) goes in one of its own. The
        text itself always fits: its limit counted the officer's own platform."""
        caps = ctx.core.platform(ctx.platform).capabilities
        rows = tuple(tuple(r) for r in buttons)
        messages: list[list[Rich]] = [[]]
        for block in blocks:
            trial = [*messages[-1], block]
            if messages[-1] and not caps.fits(Outgoing(Rich.join(trial, "\n\n"), rows)):
                messages.append([block])
            else:
                messages[-1] = trial
        return [Rich.join(m, "\n\n") for m in messages]

    # -- confirm ---------------------------------------------------------------------------

    async def _on_confirm(self, ctx: Ctx, uow: UnitOfWork, answer: Answer) -> str | None:
        if answer.photo_id is not None:  # a photo in place of Confirm: shown again with it
            await self._attach(uow, answer.photo_id)
            await self._preview(ctx, uow)
            return State.CONFIRM
        if answer.pressed:
            yes, no = answer.value == "confirm", answer.value == "cancel"
        else:
            word = texts.fold(answer.value)
            yes, no = word in texts.words("words.yes"), word in texts.words("words.no")
        if yes:
            await self._send(ctx, uow)
            return None
        if no:
            await self.on_cancel(ctx, uow)
            return None
        await ctx.reply("alerts.compose_confirm_invalid")
        return State.CONFIRM

    async def _send(self, ctx: Ctx, uow: UnitOfWork) -> None:
        """Store the message and its deliveries with this step; once that is committed, wake
        the outbox first and then post the officer's receipt."""
        held = any(
            g.role.value == self.role and g.zone_id == self.zone_id for g in ctx.roles.grants
        )
        if not held:
            await ctx.audit(
                "alert.compose", outcome="refused", reason="role", zone_id=self.zone_id
            )
            await ctx.reply("alerts.compose_lost_role")
            return
        if not await alerts.groups_of(uow, self.chosen):
            await ctx.reply("alerts.compose_no_groups")
            return
        now = ctx.core.clock.now()
        draft = alerts.Draft(
            self.zone_id,
            self.role,
            self.chosen,
            self.category,
            self.text,
            self.ref,
            ctx.person.id,
            ctx.platform.value,
            ctx.chat.chat_id,
            ctx.lang,
            photo_id=self.photo_id or None,
        )
        alert, _ = await alerts.store(uow, draft, now, ctx.core.rng)
        # Once committed, an error answer must say the message is on its way.
        ctx.done("alerts.failed_after_store", ref=alert.ref)
        alert_id = alert.id

        async def deliver_and_receipt() -> None:
            # The fan-out starts before the receipt is even read: its figures are four
            # queries the groups need not wait for.
            ctx.core.outbox.wake()
            async with ctx.core.uow() as reader:
                stored = await reader.alerts.alert(alert_id)
                assert stored is not None
                body, _ = await alerts.status_of(
                    reader, stored, ctx.lang, ctx.prefix, ctx.core.clock.now(), receipt=True
                )
            await alert_receipts.start(ctx, alert_id, body)

        uow.after_commit(deliver_and_receipt)


async def start(ctx: Ctx, role: Role, zones: list[int]) -> None:
    """Open the composer for `role` in one of `zones` and ask the first question (in one
    message with the intro)."""
    conv = AlertComposer(
        state=State.ZONE, expires_at=ctx.core.clock.now(), role=role.value, zones=zones
    )
    conv.token = ctx.core.conversations.new_token()  # the first question's buttons carry it
    async with ctx.core.uow() as uow:
        if len(zones) == 1:
            conv.zone_id = zones[0]
            nxt = await conv.ask_targets(ctx, uow, lead=conv.intro(ctx))
        else:
            nxt = await conv.ask_zone(ctx, uow, lead=conv.intro(ctx))
        if nxt is not None:  # else nothing to write to: the conversation never begins
            conv.state = nxt
            await ctx.core.conversations.begin(ctx, uow, conv)
            await uow.commit()
