"""The author's receipt: delivery progress of an official message, edited in place where the
platform allows, and the final figures once every delivery has settled."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.model import ChatRef, MessageRef, Outgoing, Platform
from bot.ports import PlatformError
from bot.services import alert_render as render
from storage.alerts import PENDING, SENDING, AlertRepo

if TYPE_CHECKING:
    from bot.dispatch import Core

log = logging.getLogger(__name__)

# Live progress is edited at most this often; the final figures always go out.
EVERY = timedelta(seconds=2)
# Receipts remembered (to skip edits that change nothing); old ones are rarely edited.
KEEP = 1000


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
        async with self.core.tx() as repo:
            ar = AlertRepo(repo.session)
            alert = await ar.alert(alert_id)
            if alert is None or alert.receipt_platform is None or alert.author_id is None:
                return
            port = self.core.platforms.get(Platform(alert.receipt_platform))
            if port is None or alert.receipt_chat_id is None:
                return
            rows = await ar.figures(alert.id)
            settled = all(status not in (PENDING, SENDING) for _, _, status, _, _ in rows)
            if port.capabilities.edit and not alert.receipt_message_id:
                return  # being posted (after the fan-out began): its author refreshes it then
            edit = bool(port.capabilities.edit and alert.receipt_message_id)
            last = self._last.get(alert_id)
            if edit and not settled and last is not None and last[1] is not None:
                if now - last[1] < EVERY:
                    return
            if not edit and not settled:
                return
            zone = await repo.zone(alert.zone_id)
            if zone is None:
                return
            lang = alert.receipt_language or await self.core.person_language(repo, alert.author_id)
            prefix = render.prefix_of(alert.receipt_platform)
            fus = list(await ar.followups(alert.id))
            seen = await ar.seen_count(alert.id)
            body = render.status(
                alert, zone, fus, render.figures(rows), seen, lang, prefix, now, receipt=True
            )
        chat = ChatRef(port.platform, alert.receipt_chat_id, True)
        try:
            if edit:
                assert alert.receipt_message_id is not None
                if last is not None and last[0] == body.plain:
                    return
                await port.edit(MessageRef(chat, alert.receipt_message_id), Outgoing(body))
                self._remember(alert_id, body.plain, now)
            else:
                async with self.core.tx() as repo:
                    if not await AlertRepo(repo.session).finalise_receipt(alert_id, now):
                        return
                await port.send(chat, Outgoing(body))
        except PlatformError as exc:  # a receipt is a courtesy; the figures stay in /status
            log.info("receipt of alert %s not updated: %s", alert_id, exc.reason)

    def _remember(self, alert_id: int, text: str, now: datetime | None) -> None:
        self._last[alert_id] = (text, now)
        if len(self._last) > KEEP:
            for key in sorted(self._last)[: KEEP // 2]:
                self._last.pop(key, None)
