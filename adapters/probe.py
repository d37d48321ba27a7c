"""Connect a platform for `binbot doctor`: reachable, logged in, able to answer `check_rights`,
yet receiving nothing and changing nothing the running bot relies on.

`start()` will not do: Telegram's polling start deletes the webhook and takes updates away from
the running bot, and a Matrix sync would move the stored sync token past events the running
bot has not handled. So this connects the adapters' clients directly, which ties it to their
inner attributes; tests/ops/test_doctor_platforms.py runs it against the fake Bot API and Synapse.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from bot.ports import PermanentError, PlatformPort


@contextlib.asynccontextmanager
async def connected(platform: PlatformPort) -> AsyncIterator[str]:
    """The platform ready for checks; yields who the bot is there. Raises PlatformError."""
    from adapters.matrix.platform import MatrixPlatform
    from adapters.telegram.platform import TelegramPlatform

    if isinstance(platform, TelegramPlatform):
        async with _telegram(platform) as who:
            yield who
    elif isinstance(platform, MatrixPlatform):
        async with _matrix(platform) as who:
            yield who
    else:  # the console and test fakes have nothing to connect to
        yield platform.platform.value


@contextlib.asynccontextmanager
async def _telegram(platform: object) -> AsyncIterator[str]:
    from telegram.error import TelegramError

    from adapters.telegram.errors import map_error
    from adapters.telegram.platform import TelegramPlatform
    from adapters.telegram.translate import BotIdentity

    assert isinstance(platform, TelegramPlatform)
    app = platform._build()
    try:
        await app.initialize()  # getMe: the token is valid and the Bot API reachable
    except TelegramError as exc:
        raise map_error(exc) from exc
    platform._app, platform._me = app, BotIdentity(user_id=app.bot.id, username=app.bot.username)
    try:
        yield f"bot @{app.bot.username}"
    finally:
        platform._app = platform._me = None
        await app.shutdown()


@contextlib.asynccontextmanager
async def _matrix(platform: object) -> AsyncIterator[str]:
    from nio import LoginResponse, WhoamiResponse

    from adapters.matrix.errors import check, transport_errors
    from adapters.matrix.platform import MatrixPlatform
    from adapters.matrix.session import make_client, store_key

    assert isinstance(platform, MatrixPlatform)
    # Without encryption: the doctor must never create or touch a device's keys.
    settings = platform._settings.model_copy(update={"encryption": False})
    with tempfile.TemporaryDirectory(prefix="binbot-doctor-") as tmp:
        client = make_client(settings, Path(tmp))
        temporary_device = False
        try:
            user = str(settings.user_id)
            token = await platform._store.get(store_key(user, "access_token"))
            if token is None and settings.access_token is not None:
                token = settings.access_token.get_secret_value()
            if token is None:
                # Not run yet: check the password with a device that is logged out afterwards.
                if settings.password is None:
                    raise PermanentError("no_password")
                with transport_errors("login"):
                    resp = await client.login(
                        settings.password.get_secret_value(), device_name="binbot doctor"
                    )
                if not isinstance(resp, LoginResponse):
                    check(resp, action="login")
                    raise PermanentError("login_failed")
                temporary_device = True
            else:
                client.access_token = token
            with transport_errors("whoami"):
                who = await client.whoami()
            if not isinstance(who, WhoamiResponse):
                check(who, action="whoami")
                raise PermanentError("whoami_failed")
            client.user_id = who.user_id
            platform._client = client
            try:
                yield f"{who.user_id} (device {who.device_id})"
            finally:
                platform._client = None
        finally:
            if temporary_device:
                with contextlib.suppress(Exception):
                    await client.logout()
            await client.close()
