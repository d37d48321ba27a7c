"""`TelegramPlatform`: the core's PlatformPort on Telegram, with python-telegram-bot 22.

The Application runs in its manual lifecycle on the caller's event loop (initialize, start,
then polling or the webhook; stopped in reverse), never `run_polling()` (STYLE 8).

There is deliberately no rate limiter here: binbot's delivery worker owns the per-chat pace,
so a 429 is raised as RetryLater for it to act on, never slept on inside the adapter.
Logs carry ids and reasons only, never names or message text.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from telegram import (
    BotCommand,
    BotCommandScopeDefault,
    CallbackQuery,
    InputFile,
    Message,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatMemberStatus, ParseMode
from telegram.error import TelegramError
from telegram.ext import Application, ContextTypes, ExtBot, TypeHandler

from adapters.telegram.errors import (
    RIGHT_ADMIN,
    RIGHT_INVITE,
    RIGHT_PIN,
    RIGHT_RESTRICT,
    call,
    map_error,
)
from adapters.telegram.render import keyboard, render_html
from adapters.telegram.translate import BotIdentity, translate
from adapters.telegram.webhook import WebhookServer, derive_secret, url_path
from bot.events import ButtonPressed
from bot.model import (
    BotRights,
    Capabilities,
    ChatRef,
    MessageRef,
    Outgoing,
    Picture,
    Platform,
    utf16_units,
)
from bot.ports import (
    BotRemoved,
    EventSink,
    GroupSetup,
    MissingRights,
    PermanentError,
    SentPhoto,
)
from config.settings import TelegramSettings

log = logging.getLogger(__name__)

ALLOWED_UPDATES: tuple[str, ...] = (
    "message",
    "callback_query",
    "chat_join_request",
    "chat_member",
    "my_chat_member",
)
"""Asked for explicitly: chat_member is never sent unless named, and naming any type means
every type binbot needs must be named."""

# Telegram's answers that mean "nothing left to do" for a join request: the person is already
# in (someone else approved them) or the request is gone (decided elsewhere, withdrawn, expired).
_JOIN_DONE = frozenset({"user_already_participant", "hide_requester_missing"})
_COMMAND_NAME_RE = re.compile(r"^[a-z0-9_]{1,32}$")
INVITE_LINK_NAME = "BIN"
DEFAULT_COMMAND_LANGUAGE = "en"


def _chat_id(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise PermanentError("bad_chat_id") from None


class TelegramPlatform:
    """The PlatformPort for one Telegram bot account."""

    platform = Platform.TELEGRAM
    capabilities = Capabilities(
        max_text_length=4096,
        buttons=True,
        edit=True,
        delete=True,
        pin=True,
        join_requests=True,
        reactions=False,
        measure=utf16_units,
        photos=True,
        max_caption_length=1024,
        caption_utf16=True,
    )
    # file_ids of photos uploaded by this process, by SHA-256 (the most recent ones).
    KEEP_FILE_IDS = 1000

    def __init__(self, settings: TelegramSettings) -> None:
        if settings.token is None or not settings.token.get_secret_value():
            raise ValueError("Telegram needs a bot token: set BINBOT_TELEGRAM__TOKEN")
        self._settings = settings
        self._app: Application[Any, Any, Any, Any, Any, Any] | None = None
        self._sink: EventSink | None = None
        self._me: BotIdentity | None = None
        self._webhook: WebhookServer | None = None
        self._file_ids: dict[str, str] = {}
        self._uploading: dict[str, asyncio.Lock] = {}

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def bot(self) -> ExtBot[None]:
        """The python-telegram-bot Bot, once started."""
        if self._app is None:
            raise RuntimeError("TelegramPlatform is not started")
        return self._app.bot  # type: ignore[no-any-return]

    @property
    def identity(self) -> BotIdentity:
        """The bot's own id and username, once started."""
        if self._me is None:
            raise RuntimeError("TelegramPlatform is not started")
        return self._me

    @property
    def webhook_port(self) -> int | None:
        """The port the webhook listens on (useful when 0 was configured), else None."""
        return self._webhook.port if self._webhook is not None else None

    def _build(self) -> Application[Any, Any, Any, Any, Any, Any]:
        settings = self._settings
        assert settings.token is not None
        builder = Application.builder().token(settings.token.get_secret_value()).job_queue(None)
        if settings.base_url:
            base = settings.base_url
            file_base = base[: -len("/bot")] + "/file/bot" if base.endswith("/bot") else base
            builder = builder.base_url(base).base_file_url(file_base)
        app = builder.build()
        app.add_handler(TypeHandler(Update, self._on_update))
        return app

    async def start(self, sink: EventSink) -> None:
        """Connect, learn who the bot is, and start polling or serving the webhook."""
        if self._app is not None:
            raise RuntimeError("TelegramPlatform is already started")
        self._sink = sink
        app = self._build()
        try:
            await app.initialize()
            self._me = BotIdentity(user_id=app.bot.id, username=app.bot.username)
            await app.start()
            self._app = app  # updates may arrive, and be answered, from here on
            if self._settings.webhook_url:
                await self._start_webhook(app, self._settings.webhook_url)
            else:
                assert app.updater is not None
                await app.updater.start_polling(
                    timeout=timedelta(seconds=self._settings.poll_timeout),
                    allowed_updates=list(ALLOWED_UPDATES),
                    error_callback=self._polling_failed,
                )
        except TelegramError as exc:
            self._app = None
            await self._shutdown(app)
            raise map_error(exc) from exc
        except BaseException:
            self._app = None
            await self._shutdown(app)
            raise
        log.info("telegram started as bot %s", self._me.user_id)

    async def _start_webhook(
        self, app: Application[Any, Any, Any, Any, Any, Any], url: str
    ) -> None:
        settings = self._settings
        assert settings.token is not None
        secret = (
            settings.webhook_secret.get_secret_value()
            if settings.webhook_secret is not None
            else derive_secret(settings.token.get_secret_value())
        )

        async def enqueue(data: dict[str, object]) -> None:
            update = Update.de_json(data, app.bot)
            await app.update_queue.put(update)

        self._webhook = WebhookServer(
            listen=settings.webhook_listen,
            port=settings.webhook_port,
            path=url_path(url),
            secret=secret,
            sink=enqueue,
        )
        await self._webhook.start()
        await app.bot.set_webhook(
            url=url, secret_token=secret, allowed_updates=list(ALLOWED_UPDATES)
        )

    async def stop(self) -> None:
        """Stop receiving, let running handlers finish, and close connections."""
        app, self._app = self._app, None
        if app is not None:
            await self._shutdown(app)
            log.info("telegram stopped")

    async def _shutdown(self, app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if self._webhook is not None:
            await self._webhook.stop()
            self._webhook = None
        if app.running:
            await app.stop()
        await app.shutdown()

    def _polling_failed(self, exc: TelegramError) -> None:
        # python-telegram-bot retries getUpdates with back-off and the same offset, so no
        # update is lost; this only records that it happened.
        log.warning("telegram polling failed, retrying: %s", map_error(exc).reason)

    # -- inbound -------------------------------------------------------------------------

    async def _on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        ack, timer = None, None
        if update.callback_query is not None:
            # A press is answered once: with the core's notice when it has one soon, else
            # plainly, so that the person's spinner stops. The data itself is untrusted and
            # only the core decides what it means.
            ack = _Acknowledgement(update.callback_query)
            timer = asyncio.get_running_loop().create_task(ack.plainly_after(ACK_WAIT))
        event = translate(update, self._me) if self._me and self._sink else None
        if isinstance(event, ButtonPressed) and ack is not None:
            event = dataclasses.replace(event, acknowledge=ack.answer)
        try:
            if event is not None and self._sink is not None:
                await self._sink(event)
        except Exception:
            log.exception("telegram: handling update %s failed", update.update_id)
        finally:
            if timer is not None:
                timer.cancel()
            if ack is not None:
                await ack.answer()

    # -- outbound ------------------------------------------------------------------------

    async def send(
        self, chat: ChatRef, message: Outgoing, *, txn_id: str | None = None
    ) -> MessageRef:
        """Post `message` in `chat`. Telegram has no idempotency key, so `txn_id` is unused."""
        text = render_html(message.body)
        markup = keyboard(message.buttons)
        reply = (
            ReplyParameters(message_id=int(message.reply_to), allow_sending_without_reply=True)
            if message.reply_to
            else None
        )
        sent = await call(
            self.bot.send_message(
                chat_id=_chat_id(chat.chat_id),
                text=text,
                parse_mode=ParseMode.HTML,
                disable_notification=message.silent,
                reply_parameters=reply,
                reply_markup=markup,
            )
        )
        return MessageRef(chat=chat, message_id=str(sent.message_id))

    async def send_photo(
        self, chat: ChatRef, photo: Picture, caption: Outgoing, *, txn_id: str | None = None
    ) -> SentPhoto:
        """Post a photo with `caption`: uploaded the first time, then sent by its file_id.
        Sends of one photo wait for its upload, so a fan-out uploads it once."""
        file_id = photo.upload or self._file_ids.get(photo.sha256)
        if file_id is None:
            lock = self._uploading.setdefault(photo.sha256, asyncio.Lock())
            async with lock:
                file_id = self._file_ids.get(photo.sha256)
                if file_id is None:
                    data = await photo.load()
                    name = f"{photo.sha256[:16]}.{'png' if photo.mime == 'image/png' else 'jpg'}"
                    sent = await self._send_photo(chat, InputFile(data, filename=name), caption)
                    file_id = self._keep_file_id(photo.sha256, sent)
                    self._uploading.pop(photo.sha256, None)
                    return SentPhoto(MessageRef(chat, str(sent.message_id)), file_id)
        sent = await self._send_photo(chat, file_id, caption)
        return SentPhoto(MessageRef(chat, str(sent.message_id)), file_id)

    def _keep_file_id(self, sha256: str, sent: Message) -> str:
        if not sent.photo:
            raise PermanentError("photo_not_kept")
        file_id = sent.photo[-1].file_id  # the largest size: the photo itself
        if len(self._file_ids) >= self.KEEP_FILE_IDS:
            self._file_ids.pop(next(iter(self._file_ids)))
        self._file_ids[sha256] = file_id
        return file_id

    async def _send_photo(
        self, chat: ChatRef, photo: InputFile | str, caption: Outgoing
    ) -> Message:
        text = render_html(caption.body) if caption.body.plain.strip() else None
        reply = (
            ReplyParameters(message_id=int(caption.reply_to), allow_sending_without_reply=True)
            if caption.reply_to
            else None
        )
        return await call(
            self.bot.send_photo(
                chat_id=_chat_id(chat.chat_id),
                photo=photo,
                caption=text,
                parse_mode=ParseMode.HTML if text else None,
                disable_notification=caption.silent,
                reply_parameters=reply,
                reply_markup=keyboard(caption.buttons),
                read_timeout=60,
                write_timeout=60,
            )
        )

    async def send_direct(self, user_id: str, message: Outgoing) -> MessageRef:
        """Post in the private chat with `user_id` (a private chat's id is the user's id)."""
        return await self.send(await self.direct_chat(user_id), message)

    async def direct_chat(self, user_id: str) -> ChatRef:
        """A private chat's id is the user's id (whether they may be written to shows only
        when a message is sent)."""
        return ChatRef(platform=Platform.TELEGRAM, chat_id=user_id, is_private=True)

    async def edit(self, ref: MessageRef, message: Outgoing) -> None:
        """Replace a message's text and buttons; an identical edit is not an error."""
        text = render_html(message.body)
        markup = keyboard(message.buttons)
        try:
            await call(
                self.bot.edit_message_text(
                    chat_id=_chat_id(ref.chat.chat_id),
                    message_id=int(ref.message_id),
                    text=text,
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup,
                )
            )
        except PermanentError as err:
            if err.reason != "message_is_not_modified":
                raise

    async def delete(self, ref: MessageRef) -> None:
        """Delete a message; one that is already gone counts as deleted."""
        try:
            await call(
                self.bot.delete_message(
                    chat_id=_chat_id(ref.chat.chat_id), message_id=int(ref.message_id)
                )
            )
        except PermanentError as err:
            if err.reason != "message_to_delete_not_found":
                raise

    async def pin(self, ref: MessageRef) -> None:
        """Pin a message without notifying the members."""
        await call(
            self.bot.pin_chat_message(
                chat_id=_chat_id(ref.chat.chat_id),
                message_id=int(ref.message_id),
                disable_notification=True,
            )
        )

    async def approve_join(self, chat: ChatRef, user_id: str) -> None:
        """Approve a join request; one already decided (or the person already in) is done."""
        try:
            await call(
                self.bot.approve_chat_join_request(
                    chat_id=_chat_id(chat.chat_id), user_id=int(user_id)
                )
            )
        except PermanentError as err:
            if err.reason not in _JOIN_DONE:
                raise
            log.info("telegram: join request in chat %s already settled", chat.chat_id)

    async def decline_join(self, chat: ChatRef, user_id: str) -> None:
        """Decline a join request; one already decided counts as done."""
        try:
            await call(
                self.bot.decline_chat_join_request(
                    chat_id=_chat_id(chat.chat_id), user_id=int(user_id)
                )
            )
        except PermanentError as err:
            if err.reason not in _JOIN_DONE:
                raise
            log.info("telegram: join request in chat %s already settled", chat.chat_id)

    async def remove_member(self, chat: ChatRef, user_id: str) -> None:
        """Remove a person (ban, then lift the ban so that they may ask to join again)."""
        chat_id, uid = _chat_id(chat.chat_id), int(user_id)
        await call(self.bot.ban_chat_member(chat_id=chat_id, user_id=uid))
        await call(self.bot.unban_chat_member(chat_id=chat_id, user_id=uid, only_if_banned=True))

    async def check_rights(self, chat: ChatRef) -> BotRights:
        """The rights binbot needs in a group (invite, pin, restrict) that the bot lacks."""
        member = await call(
            self.bot.get_chat_member(_chat_id(chat.chat_id), self.identity.user_id)
        )
        status = member.status
        if status == ChatMemberStatus.OWNER:
            return BotRights()
        if status in (ChatMemberStatus.LEFT, ChatMemberStatus.BANNED):
            raise BotRemoved("not_member")
        if status != ChatMemberStatus.ADMINISTRATOR:
            return BotRights(missing=(RIGHT_ADMIN, RIGHT_INVITE, RIGHT_PIN, RIGHT_RESTRICT))
        held = {
            RIGHT_INVITE: bool(getattr(member, "can_invite_users", False)),
            RIGHT_PIN: bool(getattr(member, "can_pin_messages", False)),
            RIGHT_RESTRICT: bool(getattr(member, "can_restrict_members", False)),
        }
        return BotRights(missing=tuple(right for right, ok in held.items() if not ok))

    async def secure_group(self, chat: ChatRef) -> GroupSetup:
        """Check the bot's rights and create an invite link that asks for approval.

        Telegram has no Bot API switch to make a group approval-only; what the bot can do is
        hand out a link whose joins become join requests (`creates_join_request`).
        """
        rights = await self.check_rights(chat)
        if RIGHT_INVITE in rights.missing:
            return GroupSetup(rights=rights)
        try:
            link = await call(
                self.bot.create_chat_invite_link(
                    chat_id=_chat_id(chat.chat_id),
                    name=INVITE_LINK_NAME,
                    creates_join_request=True,
                )
            )
        except MissingRights:
            return GroupSetup(rights=BotRights(missing=(*rights.missing, RIGHT_INVITE)))
        return GroupSetup(rights=rights, invite_link=link.invite_link)

    async def leave(self, chat: ChatRef) -> None:
        """Leave a group; being out of it already counts as done."""
        try:
            await call(self.bot.leave_chat(chat_id=_chat_id(chat.chat_id)))
        except BotRemoved:
            log.info("telegram: already out of chat %s", chat.chat_id)

    async def set_commands(self, commands: Mapping[str, Sequence[tuple[str, str]]]) -> None:
        """Publish the command menu per language; English is also the menu for other languages."""
        for language, entries in commands.items():
            menu = []
            for name, description in entries:
                if not _COMMAND_NAME_RE.match(name):
                    raise PermanentError("bad_command_name")
                if not 1 <= len(description) <= 256:
                    raise PermanentError("bad_command_description")
                menu.append(BotCommand(name, description))
            scope = BotCommandScopeDefault()
            await call(self.bot.set_my_commands(menu, scope=scope, language_code=language))
            if language == DEFAULT_COMMAND_LANGUAGE:
                await call(self.bot.set_my_commands(menu, scope=scope))


ACK_WAIT = 2.0  # seconds a button press waits for the core's notice before a plain answer
ACK_MAX = 200  # characters Telegram shows in a callback query's answer


class _Acknowledgement:
    """Answers one callback query exactly once: the first call wins, later ones do nothing."""

    def __init__(self, query: CallbackQuery) -> None:
        self._query = query
        self._answered = False

    async def answer(self, text: str = "") -> None:
        if self._answered:
            return
        self._answered = True
        if len(text) > ACK_MAX:
            text = text[: ACK_MAX - 1] + "…"
        try:
            await self._query.answer(text=text or None)
        except TelegramError as exc:
            log.info("telegram: answering a button press failed: %s", map_error(exc).reason)

    async def plainly_after(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        await self.answer()
