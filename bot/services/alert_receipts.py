"""The author's receipt: delivery progress of an official message, edited in place where the
platform allows, and the final figures once every delivery has settled."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.model import ChatRef, MessageRef, Outgoing, Platform
from bot.ports import PlatformError
from bot.services import alert_render as render
from bot.services import alerts
from storage.alerts import AlertRepo

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
        post the final figures once, when everything has settled."""
        now = self.core.clock.now()
        async with self.core.tx() as repo:
            alert = await AlertRepo(repo.session).alert(alert_id)
            if alert is None or alert.receipt_platform is None or alert.author_id is None:
                return
            port = self.core.platforms.get(Platform(alert.receipt_platform))
            if port is None or alert.receipt_chat_id is None:
                return
            lang = alert.receipt_language or await self.core.person_language(repo, alert.author_id)
            prefix = render.prefix_of(alert.receipt_platform)
            body, settled = await alerts.status_of(repo, alert, lang, prefix, now, receipt=True)
        chat = ChatRef(port.platform, alert.receipt_chat_id, True)
        try:
            if port.capabilities.edit and alert.receipt_message_id:
                last = self._last.get(alert_id)
                if last is not None and (
                    last[0] == body.plain
                    or (not settled and last[1] is not None and now - last[1] < EVERY)
                ):
                    return
                await port.edit(MessageRef(chat, alert.receipt_message_id), Outgoing(body))
                self._remember(alert_id, body.plain, now)
            elif settled:
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
