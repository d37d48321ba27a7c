"""Matrix failures (nio error responses and exceptions) as the core's PlatformError types.

| Matrix                                   | core                                  |
|------------------------------------------|---------------------------------------|
| 429 / `M_LIMIT_EXCEEDED`                 | `RetryLater(retry_after)`             |
| `M_FORBIDDEN`, bot not in the room       | `BotRemoved`                          |
| `M_FORBIDDEN`, power level too low       | `MissingRights((right,))`             |
| 413 / `M_TOO_LARGE`                      | `PermanentError("message_too_long")`  |
| 5xx, timeouts, connection errors         | `TransientError`                      |
| an unknown or expired access token       | `TransientError("unauthorized")`      |

The last row is transient on purpose: an official message must not be given up because the
operator has to renew the bot's token.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import aiohttp
from nio import ErrorResponse
from nio.exceptions import LocalProtocolError, ProtocolError, SendRetryError

from bot.ports import (
    BotRemoved,
    MissingRights,
    PermanentError,
    PlatformError,
    RetryLater,
    TransientError,
)

log = logging.getLogger(__name__)

DEFAULT_RETRY_AFTER = 5.0
_AUTH_CODES = ("M_UNKNOWN_TOKEN", "M_MISSING_TOKEN")


def http_status(resp: ErrorResponse) -> int | None:
    """The HTTP status of the response, when nio kept it."""
    transport: Any = getattr(resp, "transport_response", None)
    status = getattr(transport, "status", None)
    return status if isinstance(status, int) else None


def retry_after(resp: ErrorResponse) -> float:
    """Seconds to wait: the `Retry-After` header, else `retry_after_ms`, else a default."""
    transport: Any = getattr(resp, "transport_response", None)
    headers = getattr(transport, "headers", None) or {}
    header = headers.get("Retry-After")
    if header:
        with contextlib.suppress(ValueError):
            return max(float(header), 0.0)
    if resp.retry_after_ms:
        return max(float(resp.retry_after_ms) / 1000, 0.0)
    return DEFAULT_RETRY_AFTER


def is_rate_limited(resp: ErrorResponse) -> bool:
    """A 429 or `M_LIMIT_EXCEEDED`."""
    return resp.status_code == "M_LIMIT_EXCEEDED" or http_status(resp) == 429


def _not_in_room(message: str) -> bool:
    text = message.lower()
    return ("not in room" in text or "not in the room" in text) and "target" not in text


def already_done(resp: Any) -> bool:
    """An invite of someone already in, or a kick of someone already gone: nothing to do."""
    if not isinstance(resp, ErrorResponse) or resp.status_code != "M_FORBIDDEN":
        return False
    text = (resp.message or "").lower()
    return "already in the room" in text or "target user is not in the room" in text


def to_platform_error(
    resp: ErrorResponse, *, action: str, right: str | None = None
) -> PlatformError:
    """The core's error for a failed request; `right` names what a 403 would be missing."""
    code = resp.status_code or ""
    status = http_status(resp)
    if is_rate_limited(resp):
        return RetryLater(retry_after(resp))
    if code == "M_FORBIDDEN" or status == 403:
        if _not_in_room(resp.message or ""):
            return BotRemoved("not_in_room")
        if right is not None:
            return MissingRights((right,))
        return PermanentError("forbidden")
    if code == "M_TOO_LARGE" or status == 413:
        return PermanentError("message_too_long")
    if code in _AUTH_CODES:
        log.error("matrix: the homeserver refused the access token during %s", action)
        return TransientError("unauthorized")
    if status is None or status >= 500:
        return TransientError(f"server_error:{status or 'unknown'}")
    if code == "M_NOT_FOUND" or status == 404:
        return PermanentError("not_found")
    return PermanentError((code or f"http_{status}").lower())


def check(resp: Any, *, action: str, right: str | None = None) -> None:
    """Raise the core's error when `resp` is a nio error response; log ids and reasons only."""
    if isinstance(resp, ErrorResponse):
        error = to_platform_error(resp, action=action, right=right)
        log.info(
            "matrix %s failed: %s (%s)",
            action,
            error.reason,
            resp.status_code or http_status(resp),
        )
        raise error


@contextlib.contextmanager
def transport_errors(action: str) -> Iterator[None]:
    """Turn connection errors and timeouts of nio calls into TransientError."""
    try:
        yield
    except PlatformError:
        raise
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        log.info("matrix %s failed: %s", action, type(exc).__name__)
        raise TransientError("connection_error") from exc
    except SendRetryError as exc:
        log.info("matrix %s failed: could not prepare encryption", action)
        raise TransientError("encryption_not_ready") from exc
    except (LocalProtocolError, ProtocolError) as exc:
        log.warning("matrix %s failed: %s", action, type(exc).__name__)
        raise PermanentError("protocol_error") from exc
