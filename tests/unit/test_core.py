"""The core's first conversations: /start, /help by role, /redeem, /numbers, /language."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from bot.commands import Registry, Where
from bot.context import Ctx
from bot.conversation import Answer, Conversation
from bot.dispatch import Core
from bot.handlers import build_registry
from bot.model import Outgoing, Rich, Role
from storage.uow import UnitOfWork
from tests.fakes import Harness


async def officer_and_coordinator(h: Harness) -> tuple[str, str]:
    await h.admin("zone add Beringen --non-urgent '011 27 95 79'")
    await h.admin("bin add 'Koersel Noord' --zone Beringen --code noord")
    await h.admin("invite police --zone Beringen")
    police = h.code
    await h.admin("invite coordinator --bin noord")
    return police, h.code


async def test_start_greets_and_points_to_101(h: Harness) -> None:
    await h.say("jan", "/start")
    first, helptext = h.new("jan")
    assert "Bel eerst de politie: 101" in first and "112" in first
    assert "/redeem CODE" in helptext


async def test_help_differs_by_role(h: Harness) -> None:
    police, coord = await officer_and_coordinator(h)
    await h.say("resident", "/help")
    await h.say("officer", f"/redeem {police}")
    await h.say("officer", "/help")
    await h.say("coord", f"/start {coord}")  # a deep link carries the code
    await h.say("coord", "/help")
    resident, officer, coordinator = h.last("resident"), h.last("officer"), h.last("coord")
    assert "Jouw rollen" not in resident
    assert "Jouw rollen: politie" in officer
    assert "Jouw rollen: coördinator" in coordinator
    registry = h.core.registry
    for cmd in registry.visible_to(frozenset({Role.POLICE})):
        assert f"/{cmd.name}" in officer
    for cmd in registry.commands.values():
        if cmd.roles and Role.POLICE not in cmd.roles:
            assert f"/{cmd.name} " not in officer.replace("—", " ")


async def test_redeem_binds_the_role_to_this_person_only(h: Harness) -> None:
    police, _ = await officer_and_coordinator(h)
    await h.say("jan", f"/redeem {police.lower().replace('-', ' ')}")  # typed sloppily
    assert h.new("jan")[0] == "Gelukt: je bent nu politie voor Beringen."
    await h.say("piet", f"/redeem {police}")
    assert h.new("piet") == ["Deze code is niet geldig. Vraag je beheerder om een nieuwe."]


async def test_used_expired_revoked_and_unknown_codes_get_the_same_refusal(h: Harness) -> None:
    police, _ = await officer_and_coordinator(h)
    await h.say("jan", f"/redeem {police}")
    await h.admin("invite police --zone Beringen --expires 1h")
    expiring = h.code
    await h.admin("invite prevention --zone Beringen")
    revoked = h.code
    await h.admin("revoke invite 4")
    h.clock.advance(hours=2)
    answers = set()
    for code in (police, expiring, revoked, "ABCD-EFGH-JKMN"):
        await h.say("piet", f"/redeem {code}")
        answers.add(h.last("piet"))
    assert answers == {"Deze code is niet geldig. Vraag je beheerder om een nieuwe."}


async def test_five_wrong_codes_make_a_person_wait(h: Harness) -> None:
    police, _ = await officer_and_coordinator(h)
    for i in range(5):
        await h.say("mallory", f"/redeem AAAA-BBBB-CC{i:02d}")
    await h.say("mallory", f"/redeem {police}")  # even the right code must wait
    assert h.last("mallory") == "Te veel foute codes. Probeer opnieuw over 15 minuten."
    h.clock.advance(minutes=16)
    await h.say("mallory", f"/redeem {police}")
    assert "politie" in h.new("mallory")[-2]
    audit = [json.loads(x) for x in await h.admin("audit --json")]
    refused = [a for a in audit if a["action"] == "invite.redeem" and a["outcome"] == "refused"]
    assert len(refused) == 6 and all(a["actor"].startswith("p-") for a in refused)


async def test_redeem_needs_a_private_chat_and_a_code(h: Harness) -> None:
    police, _ = await officer_and_coordinator(h)
    await h.say("jan", "/redeem ABCD-EFGH-JKMN", chat="buurt")  # no invite's code
    assert h.last("buurt") == "Gebruik /redeem in een privégesprek met mij."
    await h.say("jan", "/redeem")
    assert h.last("jan").startswith("Stuur /redeem gevolgd door je code")
    await h.say("jan", f"/redeem {police}")
    assert "politie" in h.texts("jan")[-2]


async def test_numbers_for_a_zone_and_nationally(h: Harness) -> None:
    _, coord = await officer_and_coordinator(h)
    await h.say("stranger", "/numbers")
    assert "112" in h.last("stranger") and "101" in h.last("stranger")
    await h.say("coord", f"/redeem {coord}")
    await h.say("coord", "/numbers")
    text = h.last("coord")
    assert "Politiezone Beringen" in text and "011 27 95 79" in text
    assert "geen noodnummer" in text


async def test_language_is_chosen_per_person(h: Harness) -> None:
    await h.say("marie", "/language fr")
    assert h.last("marie") == "Je vous écrirai désormais en français."
    await h.say("marie", "/numbers")
    assert "Appelez d'abord la police" in h.last("marie")
    await h.say("marie", "/language xx")
    assert h.last("marie").startswith("Choisissez une langue")
    await h.say("hans", "/language de")
    await h.say("hans", "/bogus")
    assert (
        h.last("hans") == "Diesen Befehl kenne ich nicht: /bogus. Senden Sie /help für die Liste."
    )


async def test_unknown_commands_in_groups_are_left_to_other_bots(h: Harness) -> None:
    await h.say("jan", "/weather", chat="buurt")
    assert h.texts("buurt") == []


async def test_plain_text_in_private_gets_a_hint(h: Harness) -> None:
    await h.say("jan", "er staat een verdachte wagen")
    assert "101" in h.last("jan") and "/help" in h.last("jan")


async def harness_with(tmp_path: Path, routes: Registry) -> Harness:
    """A harness whose core knows the bot's registry and `routes` besides."""
    harness = await Harness.create(tmp_path)
    harness.core = Core(
        harness.db,
        harness.core.platforms,
        clock=harness.clock,
        registry=build_registry(routes),
        rng=harness.core.rng,
    )
    return harness


@pytest.fixture
async def guarded(tmp_path: Path) -> Harness:
    """A harness whose registry has one privileged test command."""
    routes = Registry()

    @routes.command("secret", help="help.help", roles={Role.POLICE}, where=Where.PRIVATE)
    async def secret(ctx: Ctx, args: str) -> None:
        await ctx.reply("core.cancelled")

    return await harness_with(tmp_path, routes)


async def test_a_wrong_role_is_refused_clearly_and_audited(guarded: Harness) -> None:
    h = guarded
    await h.say("jan", "/secret")
    assert h.last("jan") == (
        "/secret is voorbehouden aan: politie. Heb je die rol, wissel dan eerst je "
        "uitnodigingscode in met /redeem CODE."
    )
    audit = [json.loads(x) for x in await h.admin("audit --json")]
    assert audit[-1]["action"] == "command.secret" and audit[-1]["outcome"] == "refused"
    await h.admin("zone add Beringen")
    await h.admin("invite police --zone Beringen")
    await h.say("jan", f"/redeem {h.code}")
    await h.say("jan", "/secret")
    assert h.last("jan").startswith("Gestopt.")
    await h.say("jan", "/secret", chat="buurt")
    assert h.last("buurt") == "Gebruik /secret in een privégesprek met mij."
    await h.close()


async def test_a_command_may_refuse_in_its_own_words_and_is_still_audited(
    tmp_path: Path,
) -> None:
    routes = Registry()

    @routes.command(
        "secret",
        help="help.help",
        roles={Role.POLICE},
        where=Where.PRIVATE,
        refusal="desk.residents_refused",
    )
    async def secret(ctx: Ctx, args: str) -> None:
        await ctx.reply("core.cancelled")

    h = await harness_with(tmp_path, routes)
    await h.say("jan", "/secret")
    assert h.last("jan").startswith("De desk is voor politie, preventiedienst en coördinatoren.")
    assert "voorbehouden" not in h.last("jan")
    audit = [json.loads(x) for x in await h.admin("audit --json")]
    assert audit[-1]["action"] == "command.secret" and audit[-1]["outcome"] == "refused"
    await h.say("jan", "/help")
    assert "/secret" not in h.last("jan")  # still offered only to the roles
    await h.close()


def test_a_refusal_without_roles_to_refuse_is_a_declaration_error() -> None:
    routes = Registry()
    with pytest.raises(ValueError, match="needs roles"):
        routes.command("open", help="help.help", refusal="desk.residents_refused")


async def test_forged_or_stale_buttons_change_nothing(h: Harness) -> None:
    await h.press_data("jan", "nonsense:1")
    assert h.last("jan") == "Deze knop werkt niet meer."
    await h.press_data("jan", "cv:confirm")
    assert h.last("jan") == "Deze knop werkt niet meer."
    audit = [json.loads(x) for x in await h.admin("audit --json")]
    assert audit[-1]["action"] == "button" and audit[-1]["outcome"] == "refused"


async def test_cancel_without_conversation(h: Harness) -> None:
    await h.say("jan", "/cancel")
    assert h.last("jan") == "Er is niets om te stoppen."


async def test_bots_are_ignored(h: Harness) -> None:
    from bot.events import CommandIssued
    from bot.model import ChatRef, Platform, UserRef

    bot = UserRef(Platform.TELEGRAM, "999", "OtherBot", is_bot=True)
    await h.event(CommandIssued(ChatRef(Platform.TELEGRAM, "999", True), bot, "help", "", "1"))
    assert h.platform.sent == []


async def test_a_new_role_answers_in_its_zones_language(h: Harness) -> None:
    await h.admin("zone add Liège --language fr")
    await h.admin("invite police --zone Liège")
    await h.say("luc", f"/redeem {h.code}")
    assert h.texts("luc")[0] == "C'est fait : vous êtes maintenant police pour Liège."


async def test_an_unanswered_conversation_ends_and_says_so(tmp_path: Path) -> None:
    routes = Registry()

    @routes.conversation
    @dataclass
    class Ask(Conversation):
        kind: ClassVar[str] = "test.ask"
        steps: ClassVar[Mapping[str, str]] = {"ask": "_on_ask"}

        async def _on_ask(self, ctx: Ctx, uow: UnitOfWork, answer: Answer) -> str | None:
            await ctx.reply("core.cancelled")
            return None

    h = await harness_with(tmp_path, routes)
    try:
        ctx = await h.core.context(h.chat(None, "jan"), h.user("jan"))
        async with h.core.uow() as uow:
            await h.core.conversations.begin(ctx, uow, Ask("ask", h.clock.now()))
            await uow.commit()
        assert await h.core.conversations.sweep() == 0
        h.clock.advance(minutes=16)
        assert await h.core.conversations.sweep() == 1
        assert h.last("jan").startswith("Je antwoord bleef te lang uit")
        await h.say("jan", "hallo")  # the conversation is gone: plain text gets the hint
        assert "/help" in h.last("jan")
    finally:
        await h.close()


async def test_an_answer_waits_out_a_short_rate_limit(h: Harness) -> None:
    from bot.ports import RetryLater

    h.platform.fail("jan", RetryLater(0.01), RetryLater(0.01))
    await h.say("jan", "/numbers")
    assert "112" in h.last("jan")  # answered on the third try, not dropped


async def test_a_long_rate_limit_is_not_waited_out(h: Harness) -> None:
    from bot.patience import Patient
    from bot.ports import RetryLater

    h.platform.fail("jan", RetryLater(60))
    waited: list[float] = []

    async def sleep(seconds: float) -> None:
        waited.append(seconds)

    patient = Patient(h.platform, sleep)
    with pytest.raises(RetryLater):
        await patient.send_direct("jan", Outgoing(Rich.of("x")))
    assert waited == [] and h.texts("jan") == []


async def test_a_failure_after_redeeming_says_the_role_was_granted(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.events import CommandIssued
    from bot.handlers import common

    await h.admin("zone add Beringen")
    await h.admin("invite police --zone Beringen")

    async def broken(ctx: Ctx, args: str) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(common, "help_", broken)
    command = CommandIssued(h.chat(None, "jan"), h.user("jan"), "redeem", h.code, "1")
    await h.event(command, may_fail=True)
    assert h.texts("jan")[0] == "Gelukt: je bent nu politie voor Beringen."
    assert h.texts("jan")[1].startswith("Er ging aan mijn kant iets mis (ref E-")
    assert h.texts("jan")[1].endswith("Je hebt nu de rol politie voor Beringen.")
    assert "niets verstuurd" not in h.texts("jan")[1]
