"""Two real `binbot run` processes on one PostgreSQL, in Telegram webhook mode behind a
round-robin load balancer (README, "Many processes"): any process takes any update.

An officer's /alert wizard, each step handled by the other process than the step before,
sends its official message once to each group; a resident's join request reaches both
coordinators, and Approve pressed on the process that did not post their copies edits every
copy. Asserted is what people see on the fake Bot API server."""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.ops.webhook_fleet import Fleet
from tests.telegram.botapi_state import MEMBER, FakeChat, FakeMessage, FakeUser

OFFICIAL = "🚨 OFFICIEEL BIN-BERICHT · DRINGEND"
RECEIPT = "🧾 Ontvangstbewijs van je officieel bericht"
TEXT = "Grijze bestelwagen, Belgische nummerplaat, rijdt traag door de Kerkstraat."

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def f(pg_url: str, tmp_path: Path) -> AsyncIterator[Fleet]:
    """web1 and web2 on a fresh database (skipped, with the reason, without PostgreSQL)."""
    async with Fleet.running(pg_url, tmp_path, ["web1", "web2"]) as fleet:
        yield fleet


class Beringen:
    """Zone Beringen, BIN Noord with coordinators An and Bert, officer Jan, two groups."""

    def __init__(self, f: Fleet) -> None:
        self.f = f
        self.jan = f.api.add_user("Jan", "Peeters")
        self.an = f.api.add_user("An", "Claes")
        self.bert = f.api.add_user("Bert", "Wouters")
        self.groups: list[FakeChat] = []

    async def setup(self) -> Beringen:
        f = self.f
        *_, police, an, bert = await f.binbot(
            'zone add Beringen --non-urgent "011 27 95 79" --language nl',
            "bin add Noord --zone Beringen --code noord",
            "invite police --zone Beringen",
            "invite coordinator --bin noord",
            "invite coordinator --bin noord",
        )
        for person, out in ((self.jan, police), (self.an, an), (self.bert, bert)):
            f.say(person, f"/start {out[-1]}")  # the deep link t.me/BOT?start=CODE
            await f.shown(person, "Gelukt: je bent nu")
        for owner, title in ((self.an, "Kerkstraat"), (self.bert, "Dorpsplein")):
            self.groups.append(await self.link(owner, title))
        return self

    async def link(self, owner: FakeUser, title: str) -> FakeChat:
        """The coordinator adds the bot to their group as administrator and links it."""
        f = self.f
        group = f.api.add_group(title, owner=owner, bot_status="left")
        f.act(lambda: f.api.add_bot(group, owner, admin=True))
        await f.shown(group, "Hallo! Ik ben de bot")
        f.say(owner, "/link noord", group)
        await f.shown(group, "Groepsregels – BIN Noord")
        await f.shown(owner, f"{title} hoort nu bij BIN Noord")
        assert group.invite_links, "the group got no invite link that needs approval"
        return group


def alternated(f: Fleet, updates: list[int]) -> list[str]:
    """Which process each update went to; each went to another one than the one before."""
    went = [f.proxy.routes[u] for u in updates]
    assert all(a != b for a, b in itertools.pairwise(went)), went
    return went


def shows_approval(copy: FakeMessage) -> bool:
    """A coordinator's copy of a request, once approved: edited, no buttons, the decision."""
    return copy.edited and not copy.buttons and "→ ✅" in copy.text


async def test_the_wizard_spans_processes_and_a_decision_edits_every_copy(f: Fleet) -> None:
    p = await Beringen(f).setup()
    jan, an, bert = p.jan, p.an, p.bert
    kerk, dorp = p.groups

    # -- the officer's wizard: every step lands on the other process ----------------------
    steps = [f.say(jan, "/alert")]
    step1 = await f.shown(jan, "Stap 1 van 4", button="Noord")
    await f.other_process_after(steps[-1])
    steps.append(f.press(jan, step1, "Noord"))
    await f.until(lambda: "Gekozen: Noord" in step1.text, "Noord shown as chosen")
    await f.other_process_after(steps[-1])
    steps.append(f.press(jan, step1, "Klaar"))
    step2 = await f.shown(jan, "Stap 2 van 4", button="Verdacht voertuig")
    await f.other_process_after(steps[-1])
    steps.append(f.press(jan, step2, "Verdacht voertuig"))
    await f.shown(jan, "Stap 3 van 4")
    await f.other_process_after(steps[-1])
    steps.append(f.say(jan, TEXT))
    # One message: the step, the preview exactly as residents will see it, Confirm / Cancel.
    confirm = await f.shown(jan, "Stap 4 van 4", button="Bevestigen")
    assert OFFICIAL in confirm.text and TEXT in confirm.text
    assert all(f.find(g, OFFICIAL) is None for g in (kerk, dorp))  # nothing before confirming
    await f.other_process_after(steps[-1])
    steps.append(f.press(jan, confirm, "Bevestigen"))
    receipt = await f.shown(jan, RECEIPT)
    assert set(alternated(f, steps)) == {"web1", "web2"}
    await f.until(lambda: "Bezorgd: 2 van 2 groepen" in receipt.text, "the receipt: 2 of 2")
    for group in (kerk, dorp):
        message = await f.shown(group, OFFICIAL)
        assert confirm.text.endswith(message.text)  # exactly what Jan was shown
    # Both processes run a delivery worker: give a second send every chance to happen.
    await asyncio.sleep(1.5)
    for group in (kerk, dorp):
        sent = [
            m
            for m in f.api.bot_messages(group, include_deleted=True)
            if m.text.startswith(OFFICIAL)
        ]
        assert len(sent) == 1, [m.text for m in sent]

    # -- a join request: asked on one process, answered on the other ----------------------
    lucia = f.api.add_user("Lucía", "Gómez", started=False)  # never wrote to the bot
    joining = [f.act(lambda: f.api.request_join(lucia, kerk))]
    await f.shown(lucia, "In welke straat woon je?")
    await f.other_process_after(joining[-1])
    joining.append(f.say(lucia, "Kerkstraat 12"))
    await f.shown(lucia, "ligt nu bij de coördinatoren van BIN Noord")
    alternated(f, joining)
    coordinators = {"An": an, "Bert": bert}
    copies = {
        name: await f.shown(who, "Nieuwe aanvraag #", button="Goedkeuren")
        for name, who in coordinators.items()
    }
    for copy in copies.values():
        assert "Lucía Gómez wil lid worden" in copy.text and "Kerkstraat 12" in copy.text

    # Which process posted each coordinator's copy, as the Bot API server saw it.
    posted_by = {}
    for name, who in coordinators.items():
        [caller] = {
            c.caller
            for c in f.api.calls
            if c.method == "sendMessage"
            and str(c.params.get("chat_id")) == str(who.id)
            and "Nieuwe aanvraag" in str(c.params.get("text"))
        }
        posted_by[name] = caller
    # Bert decides on a process that posted no copy (or, were they posted by both, at least
    # not An's), so that An's copy is edited by a process that never sent it.
    spare = [n for n in f.names if n not in posted_by.values()] or [
        n for n in f.names if n != posted_by["An"]
    ]
    await f.next_update_to(spare[0])
    decided = f.press(bert, copies["Bert"], "Goedkeuren")

    await f.until(lambda: f.api.member_status(kerk, lucia) == MEMBER, "Lucía let in")
    await f.shown(lucia, "Welkom in BIN Noord!")
    await f.shown(bert, "is goedgekeurd")
    for name, copy in copies.items():
        await f.until(
            functools.partial(shows_approval, copy),
            f"{name}'s copy to lose its buttons and show the approval",
        )
    assert f.proxy.routes[decided] == spare[0]
    assert f.find(kerk, "Kerkstraat 12") is None  # her answers stay out of the group
