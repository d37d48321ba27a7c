"""The first steps of `/alert` (bot/services/alert_compose.py): which BINs it goes to, and
the question after them (which category). A mixin of the composer, whose fields it names."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import TYPE_CHECKING

from bot import texts
from bot.args import parse_number
from bot.conversation import Answer, Conversation
from bot.model import Button, MessageRef, Outgoing, Rich
from bot.ports import PlatformError
from bot.services import alert_render as render
from bot.services import alerts
from storage.names import name_key

if TYPE_CHECKING:
    from bot.context import Ctx
    from storage.tables import Bin, Zone
    from storage.uow import UnitOfWork

ALL_WORDS = frozenset({"all", "alle", "alles", "tout", "toutes", "tous", "zone", "gesamte"})
_SPLIT = re.compile(r"[\s,;]+")

Rows = list[list[Button]]


class State(StrEnum):
    """The steps of the composer."""

    ZONE = "zone"
    TARGETS = "targets"
    CATEGORY = "category"
    TEXT = "text"
    PHOTO = "photo"
    CONFIRM = "confirm"


class TargetSteps(Conversation):
    """Choosing the BINs of an official message; the composer's dataclass holds the fields."""

    role: str
    zones: list[int]
    zone_id: int
    choices: list[int]
    chosen: list[int]

    @staticmethod
    def _buttons(ctx: Ctx) -> bool:
        return ctx.core.platform(ctx.platform).capabilities.buttons

    def _hint(self, ctx: Ctx) -> Rich:
        return ctx.t("alerts.hint_tap" if self._buttons(ctx) else "alerts.hint_number")

    def intro(self, ctx: Ctx) -> Rich:
        """What is being written, as whom; the first message's opening line."""
        urgency = render.urgency_name(alerts.urgency_of(self.role).value, ctx.lang)
        role = texts.text(f"role.{self.role}", ctx.lang)
        return ctx.t("alerts.compose_intro", urgency=urgency, role=role)

    async def _zone(self, ctx: Ctx, uow: UnitOfWork) -> Zone:
        zone = await ctx.core.zone(self.zone_id, uow)
        assert zone is not None
        return zone

    # -- targets ---------------------------------------------------------------------------

    async def ask_targets(
        self, ctx: Ctx, uow: UnitOfWork, lead: Rich | None = None
    ) -> State | None:
        """Offer the BINs of the zone (after `lead`, if any); None when the zone has none."""
        rows = await alerts.zone_bins(uow, self.zone_id)
        if not rows:
            zone = await self._zone(ctx, uow)
            await ctx.reply("alerts.compose_no_bins", zone=zone.name)
            return None
        self.choices = [b.id for b, _ in rows]
        body, buttons = self._targets_prompt(ctx, rows, lead)
        await ctx.send_rich(body, buttons=buttons)
        return State.TARGETS

    def _targets_prompt(
        self, ctx: Ctx, rows: list[tuple[Bin, int]], lead: Rich | None
    ) -> tuple[Rich, Rows]:
        names = {b.id: b.name for b, _ in rows}
        lines = [lead] if lead is not None else []
        lines.append(ctx.t("alerts.compose_targets"))
        lines += [
            ctx.t("alerts.choice_groups", n=i, name=b.name, count=n)
            for i, (b, n) in enumerate(rows, 1)
        ]
        if self.chosen:
            chosen = ", ".join(names.get(i, "?") for i in self.chosen)
            lines.append(ctx.t("alerts.compose_targets_chosen", bins=chosen))
        tap = self._buttons(ctx)
        lines.append(ctx.t("alerts.compose_targets_tap" if tap else "alerts.compose_targets_type"))
        buttons: Rows = []
        if tap:
            buttons = [[self.button(b.name, State.TARGETS, f"bin:{b.id}")] for b, _ in rows]
            buttons.append(
                [
                    self.button(texts.text("alerts.btn_all", ctx.lang), State.TARGETS, "all"),
                    self.button(texts.text("alerts.btn_done", ctx.lang), State.TARGETS, "done"),
                ]
            )
        return Rich.join(lines), buttons

    async def _toggle(self, ctx: Ctx, uow: UnitOfWork, bin_id: int) -> None:
        """Add or drop a BIN and show the prompt again: the message whose button was pressed
        is edited where the platform edits (once the step is committed), else sent anew."""
        if bin_id in self.chosen:
            self.chosen.remove(bin_id)
        else:
            self.chosen.append(bin_id)
        rows = await alerts.zone_bins(uow, self.zone_id)
        port = ctx.core.platform(ctx.platform)
        if ctx.message_id is None or not port.capabilities.edit:
            body, buttons = self._targets_prompt(ctx, rows, None)
            await ctx.send_rich(body, buttons=buttons)
            return
        # The intro opened that message when there was no zone to ask first.
        lead = self.intro(ctx) if len(self.zones) == 1 else None
        body, buttons = self._targets_prompt(ctx, rows, lead)
        pressed = MessageRef(ctx.chat, ctx.message_id)
        edited = Outgoing(body, tuple(tuple(r) for r in buttons))

        async def edit() -> None:
            try:
                await port.edit(pressed, edited)
            except PlatformError:  # too old to edit, say: show it again instead
                again, rows_again = self._targets_prompt(ctx, rows, None)
                await ctx.send_rich(again, buttons=rows_again)

        uow.after_commit(edit)

    async def _on_targets(self, ctx: Ctx, uow: UnitOfWork, answer: Answer) -> str | None:
        word = answer.value.strip().lower()
        if answer.pressed:
            if word == "all":
                self.chosen = list(self.choices)
                return await self._targets_done(ctx, uow)
            if word == "done":
                if not self.chosen:
                    await ctx.reply("alerts.compose_targets_empty")
                    return State.TARGETS
                return await self._targets_done(ctx, uow)
            if word[:4] == "bin:" and (n := parse_number(word[4:])) in self.choices:
                await self._toggle(ctx, uow, int(n))
                return State.TARGETS
            await ctx.reply("alerts.compose_targets_invalid")
            return State.TARGETS
        if word in ALL_WORDS:
            self.chosen = list(self.choices)
            return await self._targets_done(ctx, uow)
        picked = await self._parse_bins(uow, word)
        if not picked:
            await ctx.reply("alerts.compose_targets_invalid")
            return State.TARGETS
        self.chosen = picked
        return await self._targets_done(ctx, uow)

    async def _parse_bins(self, uow: UnitOfWork, typed: str) -> list[int]:
        """`1 3`, `1,3`, or BIN codes/names; empty when any part is not understood."""
        bins = [b for b in await uow.directory.bins(self.zone_id) if b.id in self.choices]
        picked: list[int] = []
        for part in (p for p in _SPLIT.split(typed) if p):
            found = None
            if isinstance(n := parse_number(part, high=len(self.choices)), int):
                found = self.choices[n - 1]
            else:
                key = name_key(part)
                found = next((b.id for b in bins if part == b.code or key == b.name_key), None)
            if found is None:
                return []
            if found not in picked:
                picked.append(found)
        return picked

    async def _targets_done(self, ctx: Ctx, uow: UnitOfWork) -> State:
        if not await alerts.groups_of(uow, self.chosen):
            self.chosen = []
            await ctx.reply("alerts.compose_no_groups")
            return State.TARGETS
        lines = [ctx.t("alerts.compose_category")]
        names = [render.category_name(c, ctx.lang) for c in alerts.CATEGORIES]
        lines += [Rich.of(f"{i}. {n}") for i, n in enumerate(names, 1)]
        lines.append(self._hint(ctx))
        buttons = [
            [self.button(n, State.CATEGORY, c)]
            for c, n in zip(alerts.CATEGORIES, names, strict=True)
        ]
        await ctx.send_rich(Rich.join(lines), buttons=buttons if self._buttons(ctx) else ())
        return State.CATEGORY
