"""A coordinator's lists, in pages: the requests waiting in their BINs and the members (with
those removed or blocked). A page fits in one message of the platform it goes to; buttons
turn the pages where the platform has buttons, and `/members 2` works everywhere."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.context import Ctx
from bot.model import Button, MessageRef, Outgoing, Rich, Role
from bot.ports import PlatformError
from bot.services.audience import MAX_SHOWN_WORD, display_name, label, shorten
from bot.services.join_requests import question_text
from bot.services.pages import MARGIN, Page, clip, page_buttons, paginate, units

if TYPE_CHECKING:
    from storage.tables import Bin
    from storage.uow import UnitOfWork

REQUESTS_PER_PAGE = 10  # each with its own Approve/Decline buttons
MEMBERS_PER_PAGE = 40
PAGE_BUTTON = "pg"  # button data: pg:rq:0:PAGE, pg:mb:BIN:PAGE (BIN 0: all of one's BINs)


@dataclass
class Listing:
    """A whole list before it is cut into pages: a head, one block per item, a footer, and
    per block the buttons that act on that item (if any)."""

    head: Rich | None
    footer: Rich
    command: str  # the command that shows another page, without its prefix or number
    data: str  # the page buttons' data, without the page number
    per_page: int
    blocks: list[Rich] = field(default_factory=list)
    buttons: list[list[Button]] = field(default_factory=list)


async def requests(ctx: Ctx, page_no: int, *, edit: bool = False) -> None:
    """Page `page_no` of the requests waiting in the coordinator's BINs, oldest first."""
    mine = sorted(ctx.roles.bins(Role.COORDINATOR))
    async with ctx.core.uow() as uow:
        found = await uow.groups.requests(mine)
        bins = {b.id: b.name for b in await uow.directory.bins()}
        listing = Listing(
            ctx.t("groups.requests_title", count=len(found)),
            ctx.t("groups.requests_how"),
            "requests",
            f"{PAGE_BUTTON}:rq:0",
            REQUESTS_PER_PAGE,
        )
        for r in found:
            lines = [
                ctx.t(
                    "groups.requests_item",
                    n=r.id,
                    name=await display_name(uow, r.person_id, r.platform),
                    bin=bins[r.bin_id],
                    date=r.created_at.date().isoformat(),
                    expires=r.expires_at.date().isoformat(),
                )
            ]
            for question, answer in (r.answers or {}).items():
                lines.append(
                    ctx.t(
                        "groups.request_answer",
                        question=question_text(question, ctx.lang),
                        answer=answer,
                    )
                )
            listing.blocks.append(Rich.join(lines))
            listing.buttons.append(
                [
                    Button(
                        label("groups.button_approve", ctx.lang) + f" #{r.id}",
                        f"jr:approve:{r.id}",
                    ),
                    Button(
                        label("groups.button_decline", ctx.lang) + f" #{r.id}",
                        f"jr:decline:{r.id}",
                    ),
                ]
            )
    if not found:
        await ctx.reply("groups.requests_none")
        return
    await _show(ctx, listing, page_no, edit)


async def members(
    ctx: Ctx,
    word: str,
    page_no: int,
    *,
    whole: str = "",
    bin_id: int | None = None,
    edit: bool = False,
) -> None:
    """Page `page_no` of the members of the coordinator's BINs, or of one BIN (named by
    `word`, or by id from a page button): a BIN they do not run is refused and audited.
    `whole`: the words typed, when they may also name a BIN ending in a number (page 1)."""
    mine = ctx.roles.bins(Role.COORDINATOR)
    async with ctx.core.uow() as uow:
        named = await uow.directory.find_bin(whole) if whole and whole != word else None
        if named is not None:
            page_no = 1
        elif bin_id is not None:
            named = await uow.directory.bin(bin_id)
            if named is None:  # a BIN that never was: forged data
                await ctx.reply("core.button_expired")
                return
        elif word:
            named = await uow.directory.find_bin(word)
            if named is None:
                await ctx.reply("groups.unknown_bin", word=shorten(word, MAX_SHOWN_WORD))
                return
        if named is not None and named.id not in mine:
            await ctx.audit(
                "member.list", outcome="refused", reason="not_coordinator", bin_id=named.id
            )
            await ctx.reply("groups.members_refused", bin=named.name)
            await uow.commit()
            return
        chosen = [named] if named else [b for b in await uow.directory.bins() if b.id in mine]
        listing = Listing(
            None,
            ctx.t("groups.members_how"),
            f"members {named.code}" if named else "members",
            f"{PAGE_BUTTON}:mb:{named.id if named else 0}",
            MEMBERS_PER_PAGE,
        )
        for b in chosen:
            listing.blocks += await _member_blocks(ctx, uow, b)
    await _show(ctx, listing, page_no, edit)


async def _member_blocks(ctx: Ctx, uow: UnitOfWork, b: Bin) -> list[Rich]:
    """One BIN's members, then those removed from it, then those blocked from asking."""
    rows = await uow.groups.members([b.id])
    blocks = [ctx.t("groups.members_title", bin=b.name, count=len(rows))]
    for m in rows:
        idents = await uow.people.identities_of(m.person_id)
        blocks.append(
            ctx.t(
                "groups.members_item",
                n=m.id,
                name=await display_name(uow, m.person_id),
                platforms=", ".join(i.platform.capitalize() for i in idents),
                since=m.joined_at.date().isoformat(),
            )
        )
    for status in ("removed", "blocked"):
        gone = await uow.groups.ended(b.id, status)
        if gone:
            blocks.append(ctx.t(f"groups.members_{status}_title", count=len(gone)))
        for m in gone:
            blocks.append(
                ctx.t(
                    f"groups.members_{status}_item",
                    n=m.id,
                    name=await display_name(uow, m.person_id),
                    date=m.ended_at.date().isoformat() if m.ended_at else "-",
                )
            )
    return blocks


def _page_line(ctx: Ctx, listing: Listing, n: int, total: int) -> Rich:
    return ctx.t("groups.page_line", n=n, total=total, command=listing.command)


def cut(ctx: Ctx, listing: Listing, room: int) -> list[Page]:
    """The listing's pages, each with its head, page line and footer within `room` units."""
    worst = len(listing.blocks) or 1
    fixed = [listing.footer, _page_line(ctx, listing, worst, worst)]
    if listing.head is not None:
        fixed.append(listing.head)
    left = room - sum(units(r.plain) + 1 for r in fixed)
    blocks = [clip(b, left) for b in listing.blocks]
    packed = paginate(blocks, room=left, per_page=listing.per_page)
    return [Page(i + 1, len(packed), tuple(blocks[j] for j in p)) for i, p in enumerate(packed)]


def body(ctx: Ctx, listing: Listing, page: Page) -> Rich:
    """One page as it is sent: head, the page's blocks, the footer and, if several, where the
    other pages are."""
    parts = [listing.head] if listing.head is not None else []
    parts += page.blocks
    parts.append(listing.footer)
    if page.total > 1:
        parts.append(_page_line(ctx, listing, page.number, page.total))
    return Rich.join(parts)


async def _show(ctx: Ctx, listing: Listing, page_no: int, edit: bool) -> None:
    """Send (or, for a page button, put in place of the page shown) one page of a listing."""
    port = ctx.core.platform(ctx.platform)
    pages = cut(ctx, listing, port.capabilities.max_text_length - MARGIN)
    if not 1 <= page_no <= len(pages):
        await ctx.reply("groups.page_none", n=page_no, total=len(pages))
        return
    page = pages[page_no - 1]
    rows: list[Sequence[Button]] = []
    if port.capabilities.buttons:
        first = sum(len(p.blocks) for p in pages[: page_no - 1])
        rows = [r for r in listing.buttons[first : first + len(page.blocks)] if r]
        nav = page_buttons(
            page,
            listing.data,
            label("groups.button_previous", ctx.lang),
            label("groups.button_next", ctx.lang),
        )
        if nav:
            rows.append(nav)
    text = body(ctx, listing, page)
    if edit and ctx.message_id and port.capabilities.edit:
        message = Outgoing(text, tuple(tuple(r) for r in rows))
        try:
            await port.edit(MessageRef(ctx.chat, ctx.message_id), message)
            return
        except PlatformError:
            pass  # the page shown is gone: send this one anew
    await ctx.send_rich(text, buttons=rows)
