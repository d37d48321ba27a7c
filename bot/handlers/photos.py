"""Photos people send the bot: taken (cleaned, stored) for an official message being written
or for `/update REF text` given as the caption; refused clearly otherwise. Photos posted in
groups are residents' own business: never downloaded."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot import media
from bot.commands import Registry
from bot.events import PhotoPosted
from bot.model import Outgoing, Role
from bot.ports import PlatformError
from bot.services import photos

if TYPE_CHECKING:
    from bot.context import Ctx
    from bot.dispatch import Core
    from storage.tables import Alert

log = logging.getLogger(__name__)

routes = Registry()

OFFICIALS = frozenset({Role.POLICE, Role.PREVENTION})


def update_args(ctx: Ctx, caption: str) -> str | None:
    """`REF text` when the caption is `/update REF text` (`!update` on Matrix), else None."""
    word, _, rest = caption.strip().partition(" ")
    name = word.removeprefix(ctx.prefix).split("@", 1)[0].lower()
    if word.startswith(ctx.prefix) and name == "update":
        return rest.strip()
    return None


@routes.on(PhotoPosted)
async def photo_posted(core: Core, event: PhotoPosted) -> None:
    """A photo in a private chat: for the /alert being written, or an update with a photo."""
    if not event.chat.is_private or event.sender.is_bot:
        return
    ctx = await core.context(event.chat, event.sender, event.message_id)
    args = update_args(ctx, event.caption)
    if args is not None and not (OFFICIALS & ctx.roles.kinds):
        await ctx.reply("core.refused_role", command="update", roles=_official_names(ctx))
        return
    if args is None and not await core.conversations.has_open(event.chat, event.sender):
        await ctx.reply("media.photo_outside")
        return
    kept = await accept(ctx, event)
    if kept is None:
        return
    if args is not None:
        from bot.handlers import officials  # the follow-up rules live there

        await officials.follow_up(ctx, "update", args, photo_id=kept.photo_id)
        return
    if not await core.conversations.photo(ctx, event.caption, kept.photo_id):
        await ctx.reply("media.photo_outside")


def _official_names(ctx: Ctx) -> str:
    from bot import texts

    return ", ".join(sorted(texts.text("role." + r, ctx.lang) for r in OFFICIALS))


async def accept(ctx: Ctx, event: PhotoPosted) -> photos.Kept | None:
    """Download, clean and store a photo; None (the sender told why) when it is refused."""
    if event.size > media.MAX_BYTES:
        await ctx.reply("media.refused_too_big")
        return None
    try:
        data = await event.fetch()
    except PlatformError as exc:
        log.info("downloading a photo failed: %s", exc.reason)
        await ctx.reply("media.refused_fetch")
        return None
    try:
        cleaned = await photos.clean(data)
    except media.Refused as refused:
        await ctx.audit("photo", outcome="refused", reason=refused.reason.value)
        await ctx.reply(f"media.refused_{refused.reason.value}")
        return None
    async with ctx.core.uow() as uow:
        kept = await photos.keep(ctx.core, uow, cleaned)
        await uow.commit()
    return kept


async def send_back(ctx: Ctx, alert: Alert) -> None:
    """Send the photo of an official message to the person who asked about it (/check)."""
    if alert.photo_id is None:
        return
    async with ctx.core.uow() as uow:
        photo = await uow.media.photo(alert.photo_id)
    if photo is None:
        return
    port = ctx.core.platform(ctx.platform)
    if not port.capabilities.photos:
        await ctx.reply("media.no_photos_here", width=photo.width, height=photo.height)
        return
    pic = photos.picture(ctx.core, photo, ctx.platform.value)
    sent = await port.send_photo(
        ctx.chat, pic, Outgoing(ctx.t("media.check_photo", ref=alert.ref))
    )
    if sent.upload and sent.upload != pic.upload:
        await photos.remember_upload(ctx.core, photo.id, ctx.platform.value, sent.upload)
