"""A failure while handling an update, answered (STYLE 13): the person gets a short reference
and what was already done and committed for them; the log has the same reference with the
traceback (bot/dispatch.py)."""

from __future__ import annotations

import contextvars
import logging
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot import texts
from bot.events import ButtonPressed, CommandIssued, Event, MessagePosted
from bot.model import Outgoing, Platform, Rich

if TYPE_CHECKING:
    from bot.context import Ctx
    from bot.dispatch import Core

log = logging.getLogger(__name__)

ERROR_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


@dataclass
class Attempt:
    """The handling of one event: whose it is, and what was done and committed so far (told
    to the person if the rest fails)."""

    ctx: Ctx | None = None
    done: list[tuple[str, dict[str, object]]] = field(default_factory=list)


ATTEMPT: contextvars.ContextVar[Attempt | None] = contextvars.ContextVar(
    "binbot_attempt", default=None
)


def new_ref() -> str:
    """A short reference for one failure, for the person and the log alike."""
    return "E-" + "".join(secrets.choice(ERROR_ALPHABET) for _ in range(4))


async def answer(core: Core, event: Event, attempt: Attempt, ref: str) -> None:
    """Tell the person whose update failed: the reference, and what was done anyway."""
    if not isinstance(event, CommandIssued | ButtonPressed | MessagePosted):
        return  # a platform event (a join request, a member leaving): nobody is waiting
    if isinstance(event, MessagePosted) and not event.chat.is_private:
        return  # group chatter: nobody asked the bot anything
    ctx = attempt.ctx
    lang = ctx.lang if ctx is not None else core.config.default_language
    prefix = "!" if event.chat.platform == Platform.MATRIX else "/"
    done = [texts.rich(key, lang, p=prefix, **values) for key, values in attempt.done]
    if not done:
        done = [texts.rich("core.failed_nothing_done", lang, p=prefix)]
    body = Rich.join([texts.rich("core.failed", lang, p=prefix, ref=ref), *done])
    try:
        if isinstance(event, ButtonPressed) and not event.chat.is_private:
            if event.acknowledge is not None:
                await event.acknowledge(body.plain)
                return
            await core.platform(event.chat.platform).send_direct(
                event.sender.user_id, Outgoing(body)
            )
            return
        await core.platform(event.chat.platform).send(event.chat, Outgoing(body))
    except Exception:
        log.exception("answering failure %s failed too", ref)
