"""Links people follow from a desk page, a printed poster or a forwarded message: to redeem
an invite, or to ask to join a BIN. Built from the bot's accounts in CoreConfig; a platform
whose account is unknown gives no link (its instructions still name the command to type).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from bot.core_config import CoreConfig
from bot.services.join_find import DEEP_LINK_PREFIX


@dataclass(frozen=True)
class Links:
    """Where a code takes people on each platform ("" where the account is not known), and
    what to type where no link works."""

    telegram: str
    matrix: str
    command: str


def _matrix_to(user_id: str, text: str) -> str:
    """A matrix.to link to the bot's account; clients that support it prefill `text`."""
    if not user_id:
        return ""
    return f"https://matrix.to/#/{quote(user_id, safe='@:')}?text={quote(text, safe='')}"


def invite(config: CoreConfig, code: str) -> Links:
    """The links that redeem invite `code` (Telegram `/start CODE`, Matrix `!redeem CODE`)."""
    telegram = (
        f"https://t.me/{config.telegram_username}?start={code}" if config.telegram_username else ""
    )
    return Links(telegram, _matrix_to(config.matrix_user_id, f"!redeem {code}"), f"/redeem {code}")


def join(config: CoreConfig, bin_code: str) -> Links:
    """The public links that start a request to join the BIN with code `bin_code`."""
    start = f"{DEEP_LINK_PREFIX}{bin_code}"
    telegram = (
        f"https://t.me/{config.telegram_username}?start={start}"
        if config.telegram_username
        else ""
    )
    return Links(
        telegram, _matrix_to(config.matrix_user_id, f"!join {bin_code}"), f"/join {bin_code}"
    )
