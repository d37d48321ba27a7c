"""The author's receipt: delivery progress of an official message, edited in place where the
platform allows, and the final figures once every delivery has settled."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.model import ChatRef, MessageRef, Outgoing, Platform, Rich
from bot.ports import PlatformError, PlatformPort
from bot.services import alert_render as render
from storage.alerts import PENDING, SENDING

if TYPE_CHECKING:
    from bot.context import Ctx
    from bot.dispatch import Core
    from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

# Live progress is edited at most this often; the final figures always go out.
EVERY = timedelta(seconds=2)
# Receipts remembered (to skip edits that change nothing); old ones are rarely edited.
KEEP = 1000


async def start(ctx: Ctx, alert_id: int, body: Rich) -> None:
    """Once an official message is committed: start the fan-out, then post the author's
    receipt and remember its id, so the outbox keeps it up to date."""
    outbox = ctx.core.outbox
    outbox.wake()
    sent = await ctx.sent(body)
    async with ctx.core.uow() as uow:
        await uow.alerts.set_receipt_message(alert_id, sent.message_id)
        await uow.commit()
    outbox.receipt_posted(alert_id, body.plain)
    # The deliveries may all have settled before the receipt's id was known.
    await outbox.refresh_receipt(alert_id)


class Receipts:
    """Keeps each author's receipt up to date."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self._last: dict[int, tuple[str, datetime | None]] = {}

    def posted(self, alert_id: int, text: str) -> None:
        """The receipt as first posted: the next change is shown at once."""
        self._remember(alert_id, text, None)

    async def refresh(self, alert_id: int) -> None:
        """Edit the receipt with the current figures (where the platform edits); elsewhere
        post the final figures once, when everything has settled.

        The figures are one aggregate query; the rest of the receipt is read only when it is
        going to be shown (not while an edit is held back, nor before the end without edit).
        """
        now = self.core.clock.now()
        async with self.core.uow() as uow:
            shown = await self._read(uow, alert_id, now)
            if shown is None:
                return
            port, chat, body, message_id = shown
            if message_id is None:
                # Without edit the final figures are posted once: claimed before sending.
                if not await uow.alerts.finalise_receipt(alert_id, now):
                    return
                await uow.commit()
        try:
            if message_id is not None:
                last = self._last.get(alert_id)
                if last is not None and last[0] == body.plain:
                    return
                await port.edit(MessageRef(chat, message_id), Outgoing(body))
                self._remember(alert_id, body.plain, now)
            else:
                await port.send(chat, Outgoing(body))
        except PlatformError as exc:  # a receipt is a courtesy; the figures stay in /status
            log.info("receipt of alert %s not updated: %s", alert_id, exc.reason)

    async def _read(
        self, uow: UnitOfWork, alert_id: int, now: datetime
    ) -> tuple[PlatformPort, ChatRef, Rich, str | None] | None:
        """The port, chat, text and message id (None: post, not edit) of a receipt that is
        due to be shown now; None when there is nothing to show yet."""
        ar = uow.alerts
        alert = await ar.alert(alert_id)
        if alert is None or alert.receipt_platform is None or alert.author_id is None:
            return None
        port = self.core.platforms.get(Platform(alert.receipt_platform))
        if port is None or alert.receipt_chat_id is None:
            return None
        rows = await ar.figures(alert.id)
        settled = all(status not in (PENDING, SENDING) for _, _, status, _, _ in rows)
        if port.capabilities.edit and not alert.receipt_message_id:
            return None  # being posted (after the fan-out began): its author refreshes it then
        edit = bool(port.capabilities.edit and alert.receipt_message_id)
        last = self._last.get(alert_id)
        if edit and not settled and last is not None and last[1] is not None:
            if now - last[1] < EVERY:
                return None
        if not edit and not settled:
            return None
        zone = await self.core.zone(alert.zone_id, uow)
        if zone is None:
            return None
        lang = alert.receipt_language or await self.core.person_language(uow, alert.author_id)
        prefix = render.prefix_of(alert.receipt_platform)
        fus = list(await ar.followups(alert.id))
        seen = await ar.seen_count(alert.id)
        body = render.status(
            alert, zone, fus, render.figures(rows), seen, lang, prefix, now, receipt=True
        )
        chat = ChatRef(port.platform, alert.receipt_chat_id, True)
        return port, chat, body, alert.receipt_message_id if edit else None

    def _remember(self, alert_id: int, text: str, now: datetime | None) -> None:
        self._last[alert_id] = (text, now)
        if len(self._last) > KEEP:
            for key in sorted(self._last)[: KEEP // 2]:
                self._last.pop(key, None)
