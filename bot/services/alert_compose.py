"""`/alert`: composing an official message, as an explicit conversation (STYLE 5).

zone (only for someone serving several zones) -> targets -> category -> text -> confirm.
On platforms with buttons every choice is a button; elsewhere (Matrix, typing in the
console) the same choices are numbers or words. Button payloads carry this conversation's
token and the step they belong to, so a stale button never answers a later question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import ClassVar

from bot import texts
from bot.context import Ctx
from bot.conversation import Conversation, Conversations
from bot.model import Button, MessageRef, Outgoing, Rich, Role
from bot.services import alert_limits, alerts
from bot.services import alert_render as render
from storage.alerts import AlertRepo
from storage.tables import Zone

URGENT_WORDS = frozenset({"urgent", "dringend", "urgente", "warm"})
NON_URGENT_WORDS = frozenset(
    {"non-urgent", "nonurgent", "non_urgent", "niet-dringend", "nicht-dringend", "cold", "koud"}
)
ALL_WORDS = frozenset({"all", "alle", "alles", "tout", "toutes", "tous", "zone", "gesamte"})
YES_WORDS = frozenset(
    {
        "yes",
        "y",
        "ja",
        "j",
        "oui",
        "o",
        "ok",
        "confirm",
        "bevestigen",
        "confirmer",
        "bestätigen",
        "send",
        "verstuur",
        "envoyer",
        "senden",
    }
)
NO_WORDS = frozenset(
    {"no", "n", "nee", "non", "nein", "cancel", "annuleren", "annuler", "abbrechen", "stop"}
)
_SPLIT = re.compile(r"[\s,;]+")


@dataclass
class AlertComposer(Conversation):
    """One official message being written by one police officer or prevention worker."""

    name: ClassVar[str] = "alert"
    token: str = ""
    role: str = ""
    zones: list[int] = field(default_factory=list)
    zone_id: int = 0
    choices: list[int] = field(default_factory=list)
    chosen: list[int] = field(default_factory=list)
    category: str = ""
    text: str = ""
    ref: str = ""
    prompt_id: str | None = None

    # -- plumbing --------------------------------------------------------------------------

    def _button(self, label: str, step: str, value: str) -> Button:
        return Button(label, f"cv:{self.token}.{step}.{value}")

    def _decode(self, answer: str) -> tuple[str, str | None]:
        """(value, step the button belonged to); step None for typed text."""
        if answer.startswith(self.token + "."):
            _, step, value = [*answer.split(".", 2), "", ""][:3]
            return value, step
        return answer, None

    async def answer(self, ctx: Ctx, answer: str) -> str | None:
        """Route an answer to the step it belongs to."""
        value, step = self._decode(answer)
        if step == "preview":
            await ctx.reply("alerts.compose_preview_button")
            return self.state
        if step is not None and step != self.state:
            await ctx.reply("alerts.compose_stale_button")
            return self.state
        steps = {
            "zone": self._on_zone,
            "targets": self._on_targets,
            "category": self._on_category,
            "text": self._on_text,
            "confirm": self._on_confirm,
        }
        return await steps[self.state](ctx, value)

    async def on_cancel(self, ctx: Ctx) -> None:
        """Nothing was sent; the attempt is in the audit log."""
        await ctx.audit("alert.compose", outcome="cancelled", zone_id=self.zone_id or None)
        await ctx.reply("core.cancelled")

    async def on_timeout(self, ctx: Ctx) -> None:
        """Nothing was sent; the attempt is in the audit log."""
        await ctx.audit("alert.compose", outcome="timeout", zone_id=self.zone_id or None)
        await ctx.reply("core.conversation_timeout")

    def _buttons(self, ctx: Ctx) -> bool:
        return ctx.core.platform(ctx.platform).capabilities.buttons

    def _hint(self, ctx: Ctx) -> Rich:
        return ctx.t("alerts.hint_tap" if self._buttons(ctx) else "alerts.hint_number")

    async def _zone(self, ctx: Ctx) -> Zone:
        async with ctx.core.tx() as repo:
            zone = await repo.zone(self.zone_id)
        assert zone is not None
        return zone

    # -- zone ------------------------------------------------------------------------------

    async def ask_zone(self, ctx: Ctx) -> str:
        """Ask which zone, for someone who serves several."""
        async with ctx.core.tx() as repo:
            zones = [z for z in await repo.zones() if z.id in self.zones]
        self.zones = [z.id for z in zones]  # in the order shown, for typed numbers
        lines = [ctx.t("alerts.compose_pick_zone")]
        lines += [Rich.of(f"{i}. {z.name}") for i, z in enumerate(zones, 1)]
        lines.append(self._hint(ctx))
        rows = [[self._button(z.name, "zone", f"z{z.id}")] for z in zones]
        await ctx.send_rich(Rich.join(lines), buttons=rows if self._buttons(ctx) else ())
        return "zone"

    async def _on_zone(self, ctx: Ctx, value: str) -> str | None:
        picked: int | None = None
        if value.startswith("z") and value[1:].isdigit() and int(value[1:]) in self.zones:
            picked = int(value[1:])
        elif value.isdigit() and 1 <= int(value) <= len(self.zones):
            picked = self.zones[int(value) - 1]
        if picked is None:
            await ctx.reply("alerts.compose_invalid_choice")
            return "zone"
        self.zone_id = picked
        return await self.ask_targets(ctx)

    # -- targets ---------------------------------------------------------------------------

    async def ask_targets(self, ctx: Ctx) -> str | None:
        """Offer the BINs of the zone; None when the zone has none."""
        async with ctx.core.tx() as repo:
            zone = await repo.zone(self.zone_id)
            rows = await alerts.zone_bins(repo, self.zone_id)
        assert zone is not None
        if not rows:
            await ctx.reply("alerts.compose_no_bins", zone=zone.name)
            return None
        self.choices = [b.id for b, _ in rows]
        await self._show_targets(ctx)
        return "targets"

    async def _show_targets(self, ctx: Ctx) -> None:
        async with ctx.core.tx() as repo:
            rows = await alerts.zone_bins(repo, self.zone_id)
        names = {b.id: b.name for b, _ in rows}
        lines = [ctx.t("alerts.compose_targets")]
        lines += [
            ctx.t("alerts.choice_groups", n=i, name=b.name, count=n)
            for i, (b, n) in enumerate(rows, 1)
        ]
        if self.chosen:
            chosen = ", ".join(names.get(i, "?") for i in self.chosen)
            lines.append(ctx.t("alerts.compose_targets_chosen", bins=chosen))
        lines.append(
            ctx.t(
                "alerts.compose_targets_tap"
                if self._buttons(ctx)
                else "alerts.compose_targets_type"
            )
        )
        buttons: list[list[Button]] = []
        if self._buttons(ctx):
            buttons = [[self._button(b.name, "targets", f"bin:{b.id}")] for b, _ in rows]
            buttons.append(
                [
                    self._button(texts.text("alerts.btn_all", ctx.lang), "targets", "all"),
                    self._button(texts.text("alerts.btn_done", ctx.lang), "targets", "done"),
                ]
            )
        body = Rich.join(lines)
        platform = ctx.core.platform(ctx.platform)
        if self.prompt_id and platform.capabilities.edit:
            msg = Outgoing(body, tuple(tuple(r) for r in buttons))
            await platform.edit(MessageRef(ctx.chat, self.prompt_id), msg)
        else:
            self.prompt_id = (await ctx.send_rich(body, buttons=buttons)).message_id

    async def _on_targets(self, ctx: Ctx, value: str) -> str | None:
        word = value.strip().lower()
        if word == "all" or word in ALL_WORDS:
            self.chosen = list(self.choices)
            return await self._targets_done(ctx)
        if word == "done":
            if not self.chosen:
                await ctx.reply("alerts.compose_targets_empty")
                return "targets"
            return await self._targets_done(ctx)
        if word.startswith("bin:") and word[4:].isdigit() and int(word[4:]) in self.choices:
            bin_id = int(word[4:])
            if bin_id in self.chosen:
                self.chosen.remove(bin_id)
            else:
                self.chosen.append(bin_id)
            await self._show_targets(ctx)
            return "targets"
        picked = await self._parse_bins(ctx, word)
        if not picked:
            await ctx.reply("alerts.compose_targets_invalid")
            return "targets"
        self.chosen = picked
        return await self._targets_done(ctx)

    async def _parse_bins(self, ctx: Ctx, typed: str) -> list[int]:
        """`1 3`, `1,3`, or BIN codes/names; empty when any part is not understood."""
        async with ctx.core.tx() as repo:
            bins = [b for b in await repo.bins(self.zone_id) if b.id in self.choices]
        picked: list[int] = []
        for part in (p for p in _SPLIT.split(typed) if p):
            found = None
            if part.isdigit() and 1 <= int(part) <= len(self.choices):
                found = self.choices[int(part) - 1]
            else:
                found = next((b.id for b in bins if part in (b.code, b.name.lower())), None)
            if found is None:
                return []
            if found not in picked:
                picked.append(found)
        return picked

    async def _targets_done(self, ctx: Ctx) -> str:
        async with ctx.core.tx() as repo:
            groups = await alerts.groups_of(repo, self.chosen)
        if not groups:
            self.chosen = []
            await ctx.reply("alerts.compose_no_groups")
            return "targets"
        self.prompt_id = None
        lines = [ctx.t("alerts.compose_category")]
        names = [render.category_name(c, ctx.lang) for c in alerts.CATEGORIES]
        lines += [Rich.of(f"{i}. {n}") for i, n in enumerate(names, 1)]
        lines.append(self._hint(ctx))
        buttons = [
            [self._button(n, "category", c)] for c, n in zip(alerts.CATEGORIES, names, strict=True)
        ]
        await ctx.send_rich(Rich.join(lines), buttons=buttons if self._buttons(ctx) else ())
        return "category"

    # -- category --------------------------------------------------------------------------

    async def _on_category(self, ctx: Ctx, value: str) -> str:
        word = value.strip().lower()
        names = {render.category_name(c, ctx.lang).lower(): c for c in alerts.CATEGORIES}
        if word in alerts.CATEGORIES:
            self.category = word
        elif word.isdigit() and 1 <= int(word) <= len(alerts.CATEGORIES):
            self.category = alerts.CATEGORIES[int(word) - 1]
        elif word in names:
            self.category = names[word]
        else:
            await ctx.reply("alerts.compose_category_invalid", count=len(alerts.CATEGORIES))
            return "category"
        await ctx.reply("alerts.compose_text", limit=await self.limit(ctx))
        return "text"

    # -- text ------------------------------------------------------------------------------

    async def limit(self, ctx: Ctx) -> int:
        """The longest text every target group's platform accepts, once framed."""
        async with ctx.core.tx() as repo:
            groups = await alerts.groups_of(repo, self.chosen)
        zone = await self._zone(ctx)
        return alert_limits.text_limit(ctx.core, zone, self.role, groups, ctx.platform.value)

    async def _on_text(self, ctx: Ctx, value: str) -> str:
        text = value.strip()
        if not text:
            await ctx.reply("alerts.compose_text_empty")
            return "text"
        limit = await self.limit(ctx)
        if len(text) > limit:
            await ctx.audit(
                "alert.compose", outcome="refused", reason="too_long", zone_id=self.zone_id
            )
            await ctx.reply("alerts.compose_too_long", limit=limit, length=len(text))
            return "text"
        self.text = text
        async with ctx.core.tx() as repo:
            self.ref = await alerts.new_ref(AlertRepo(repo.session), ctx.core.rng)
            groups = await alerts.groups_of(repo, self.chosen)
            bins = [b.name for b in await repo.bins(self.zone_id) if b.id in self.chosen]
        zone = await self._zone(ctx)
        now = ctx.core.clock.now()
        probe = alert_limits.probe(
            zone, self.role, now, text, ref=self.ref, category=self.category
        )
        # Two messages, not four: the officer's private chat stays within Telegram's burst.
        lines = [ctx.t("alerts.compose_preview", groups=len(groups), bins=", ".join(bins))]
        if probe.release_at > now:
            when = render.when(probe.release_at, zone, ctx.lang)
            lines.append(ctx.t("alerts.compose_preview_held", time=when))
        confirm = (
            "alerts.compose_confirm_tap" if self._buttons(ctx) else "alerts.compose_confirm_type"
        )
        lines.append(ctx.t(confirm))
        await ctx.send_rich(Rich.join(lines))
        preview = render.official(
            probe, zone, zone.language, ctx.prefix, buttons=self._buttons(ctx)
        )
        buttons: list[list[Button]] = []
        if self._buttons(ctx):
            # The preview carries its Seen button, as residents will see it, and under it
            # the officer's Confirm / Cancel.
            seen = texts.text("alerts.btn_seen", zone.language)
            buttons = [
                [self._button(seen, "preview", "seen")],
                [
                    self._button(texts.text("alerts.btn_confirm", ctx.lang), "confirm", "confirm"),
                    self._button(texts.text("alerts.btn_cancel", ctx.lang), "confirm", "cancel"),
                ],
            ]
        await ctx.send_rich(preview, buttons=buttons, silent=probe.urgency != "urgent")
        return "confirm"

    # -- confirm ---------------------------------------------------------------------------

    async def _on_confirm(self, ctx: Ctx, value: str) -> str | None:
        word = value.strip().lower()
        if word in YES_WORDS:
            await self._send(ctx)
            return None
        if word in NO_WORDS:
            await self.on_cancel(ctx)
            return None
        await ctx.reply("alerts.compose_confirm_invalid")
        return "confirm"

    async def _send(self, ctx: Ctx) -> None:
        held = any(
            g.role.value == self.role and g.zone_id == self.zone_id for g in ctx.roles.grants
        )
        if not held:
            await ctx.audit(
                "alert.compose", outcome="refused", reason="role", zone_id=self.zone_id
            )
            await ctx.reply("alerts.compose_lost_role")
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
        )
        async with ctx.core.tx() as repo:
            if not await alerts.groups_of(repo, self.chosen):
                await ctx.reply("alerts.compose_no_groups")
                return
            alert, _ = await alerts.store(repo, draft, now, ctx.core.rng)
            body, _ = await alerts.status_of(repo, alert, ctx.lang, ctx.prefix, now, receipt=True)
        worker = ctx.core.services.get("delivery")
        if worker is not None:
            # The groups first: the fan-out starts as soon as the message is committed, and
            # the receipt (which may have to wait out the officer's chat limit) follows.
            worker.wake()
        sent = await ctx.send_rich(body)
        async with ctx.core.tx() as repo:
            stored = await AlertRepo(repo.session).alert(alert.id)
            assert stored is not None
            stored.receipt_message_id = sent.message_id
        if worker is not None:
            worker.receipts.posted(alert.id, body.plain)
            # The deliveries may all have settled before the receipt's id was known.
            await worker.refresh_receipt(alert.id)


async def start(ctx: Ctx, role: Role, zones: list[int]) -> None:
    """Open the composer for `role` in one of `zones` and ask the first question."""
    timeout = timedelta(minutes=ctx.core.config.conversation_timeout_minutes)
    token = "".join(ctx.core.rng.choice("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(6))
    conv = AlertComposer(
        state="zone",
        expires_at=ctx.core.clock.now() + timeout,
        token=token,
        role=role.value,
        zones=zones,
    )
    ctx.core.conversations.begin(ctx, conv)
    urgency = render.urgency_name(alerts.urgency_of(role.value).value, ctx.lang)
    await ctx.reply(
        "alerts.compose_intro", urgency=urgency, role=texts.text(f"role.{role.value}", ctx.lang)
    )
    if len(zones) == 1:
        conv.zone_id = zones[0]
        nxt = await conv.ask_targets(ctx)
    else:
        nxt = await conv.ask_zone(ctx)
    if nxt is None:  # nothing to write to: the conversation ends before it began
        ctx.core.conversations.open.pop(Conversations.key(ctx), None)
    else:
        conv.state = nxt
