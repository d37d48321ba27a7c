"""A BIN's public join link on Matrix, through the real stack: the matrix.to link opens a
chat with the bot with `!join CODE` ready to send; sent in a direct chat it asks the BIN's
question, and once a coordinator approves, the resident is invited into the BIN's room."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

from bot.services import links
from tests.matrix.conftest import UserFactory

from .matrix_stack import MatrixStack, body, direct_room, says, sees, wait_until
from .test_matrix_flows import linked_room, redeemed, zone_with_bins


async def test_the_matrix_join_link_sent_in_a_direct_chat_asks_to_join_the_bin(
    stack: MatrixStack, make_user: UserFactory
) -> None:
    await zone_with_bins(stack, "noord")
    an, an_dm = await redeemed(stack, make_user, "an", "coordinator --bin noord")
    room = await linked_room(stack, an, an_dm, "Kerkstraat", "noord")

    # what the poster and the desk offer: a matrix.to link to this bot, the command prefilled
    link = urlsplit(links.join(stack.core.config, "noord").matrix)
    account, _, query = link.fragment.partition("?")
    assert (link.netloc, unquote(account)) == ("matrix.to", "/" + stack.bot_id)
    [prefilled] = parse_qs(query)["text"]
    assert prefilled == "!join noord"

    kim = await make_user("kim")
    kim_dm = await direct_room(kim, stack)
    question = await says(kim, kim_dm, stack, prefilled, "In welke straat woon je?")
    assert "BIN Noord" in question
    await says(kim, kim_dm, stack, "Kerkstraat 12", "ligt nu bij de coördinatoren")
    request = body(await sees(an, an_dm, stack, "Nieuwe aanvraag #1 voor BIN Noord"))
    assert "Kerkstraat 12" in request
    await says(an, an_dm, stack, "!approve 1", "aanvraag #1")

    # approved: the bot sends the room's link; knocking there is let through at once
    told = body(await sees(kim, kim_dm, stack, "Kom in de groep Kerkstraat via deze link"))
    assert f"https://matrix.to/#/{room}?via=" in told
    await kim.knock(room)

    async def invited() -> bool:
        return await an.membership(room, kim.user_id) == "invite"

    await wait_until(invited)
