"""What a deployment may tune in the core's behaviour (built from Settings in bot/app.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bot.register import Retention


@dataclass(frozen=True)
class CoreConfig:
    """Behaviour the deployment may tune (built from Settings in bot/app.py)."""

    default_language: str = "nl"
    join_request_days: float = 7.0
    # Days after a decline, or the withdrawal of a request the coordinators had received,
    # before the person may ask that BIN again (0: at once).
    join_cooldown_days: float = 7.0
    nudge_cooldown_minutes: float = 30.0
    conversation_timeout_minutes: float = 15.0
    redeem_max_failures: int = 5
    redeem_lockout_minutes: float = 15.0
    # Seconds a person's context may be reused for read-only commands and private chatter
    # (0: never). What this process changes is seen at once; roles and languages changed
    # elsewhere (another process, the admin's shell) show that much later in /help.
    # Privileged commands, buttons and conversations always read them afresh.
    context_reuse_seconds: float = 0.0
    # How long each kind of record is kept (bot/register.py, the retention job).
    retention: Retention = field(default_factory=Retention)
    # The desk (adapters/http): the base of its links ("" when no HTTP server serves it)
    # and how long a session may stay unused.
    desk_url: str = ""
    desk_idle_hours: float = 8.0
    # Photos of official messages (bot/services/photos.py): where, and for how long after
    # the message expired.
    media_dir: Path = Path("binbot-data/media")
    media_keep_days: float = 30.0
    # The bot's accounts, for links people follow from a desk page or a poster
    # (bot/services/links.py): the Telegram @username ("" unknown) and the Matrix user id.
    telegram_username: str = ""
    matrix_user_id: str = ""
