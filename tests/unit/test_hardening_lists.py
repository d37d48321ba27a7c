"""Long lists and long names: every list in pages that fit one message, display names
shortened wherever the bot shows them, and no text the bot builds beyond a platform's limit
as that platform measures it (Telegram: UTF-16 units; Matrix: the event's size)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.matrix.platform import MAX_EVENT_BYTES
from adapters.matrix.render import message_content
from adapters.telegram.render import render_html, utf16_length
from bot import texts
from bot.events import ButtonPressed, JoinRequested, MessagePosted
from bot.model import LANGUAGES, Capabilities, Outgoing, Platform, Rich, UserRef
from bot.services.audience import MAX_SHOWN_NAME, MAX_SHOWN_WORD, shorten
from bot.services.join_requests import MAX_QUESTION, RequestView
from bot.services.joins import MAX_ANSWER
from bot.services.membership import MAX_REASON
from bot.services.rules import rules_text
from storage.tables import Bin, Zone
from tests.fakes import Harness, RecordingPlatform
from tests.unit.test_groups_support import audit, coordinator, linked_group, ready, zone_and_bin

COP = "🚓"  # one character, two UTF-16 units, four UTF-8 bytes, twelve once JSON-escaped
LONG_NAME = COP * 5000


def fits_telegram(body: Rich) -> None:
    """Telegram's own check: at most 4096 UTF-16 units (raises PermanentError beyond)."""
    render_html(body)


def fits_matrix(body: Rich) -> None:
    """The event as an encrypted room weighs it (escaped, then base64): the worst case."""
    size = len(json.dumps(message_content(Outgoing(body)))) * 4 / 3
    assert size <= MAX_EVENT_BYTES, size


def requester(i: int, name: str | None = None) -> UserRef:
    return UserRef(Platform.TELEGRAM, f"r{i}", display_name=name or COP * 70 + f" {i}")


async def bin_without_intake(h: Harness) -> None:
    await zone_and_bin(h, intake=[])
    await coordinator(h, "an")
    await linked_group(h)


async def test_a_long_request_list_is_paged_and_each_page_fits_telegram(h: Harness) -> None:
    await bin_without_intake(h)
    for i in range(150):  # display names of 70 emoji each: 64 are shown, in UTF-16 128 units
        await h.event(JoinRequested(h.chat("buurt", "x"), requester(i)))
    h.new("an")
    await h.say("an", "/requests")
    first = h.platform.in_chat("an")[-1]
    assert first.text.startswith("Wachtende aanvragen (150)")
    assert "#1 " in first.text and "Pagina 1 van " in first.text
    assert "/requests NUMMER toont een andere pagina." in first.text
    labels = [label for label, _ in first.buttons]
    assert labels[:2] == ["Goedkeuren #1", "Weigeren #1"] and labels[-1] == "Volgende ▶"
    fits_telegram(first.message.body)

    await h.press("an", "Volgende ▶")
    assert len(first.edits) == 1  # the page turned in place
    second = first.text
    assert "#1 " not in second and "Pagina 2 van " in second
    assert [label for label, _ in first.buttons][-2:] == ["◀ Vorige", "Volgende ▶"]

    total = int(second.split("Pagina 2 van ")[1].split(" ")[0])
    await h.say("an", f"/requests {total}")
    last = h.platform.in_chat("an")[-1]
    assert "#150 " in last.text and [b for b, _ in last.buttons][-1] == "◀ Vorige"
    await h.say("an", f"/requests {total + 1}")
    assert h.last("an") == f"Er is geen pagina {total + 1}: de lijst heeft {total} pagina('s)."
    await h.say("an", "/requests elf")
    assert "Stuur /requests, of /requests 2" in h.last("an")
    for sent in h.platform.in_chat("an"):
        for body in [sent.message.body, *(e.body for e in sent.edits)]:
            fits_telegram(body)


async def test_after_approving_everyone_the_member_list_is_paged(h: Harness) -> None:
    await bin_without_intake(h)
    for i in range(120):
        await h.event(JoinRequested(h.chat("buurt", "x"), requester(i)))
    for n in range(1, 121):
        await h.say("an", f"/approve {n}")
    await h.say("an", "/members")
    page = h.platform.in_chat("an")[-1]
    assert page.text.startswith("Leden van BIN Noord (120)") and "Pagina 1 van " in page.text
    assert [label for label, _ in page.buttons] == ["Volgende ▶"]
    fits_telegram(page.message.body)
    await h.say("an", "/members noord 2")
    second = h.last("an")
    assert "Leden van BIN" not in second and "Pagina 2 van " in second
    assert "/members noord NUMMER toont een andere pagina." in second


async def test_page_buttons_are_checked_like_typed_commands(h: Harness) -> None:
    await bin_without_intake(h)
    await zone_and_bin(h, bin_name="Zuid", code="zuid", new_zone=False, intake=[])
    await coordinator(h, "zoe", "zuid")
    await h.press_data("an", "pg:mb:0:5")
    assert h.last("an") == "Er is geen pagina 5: de lijst heeft 1 pagina('s)."
    await h.press_data("an", "pg:rq:0:5")
    assert h.last("an") == "Er wachten geen aanvragen."
    await h.press_data("an", "pg:mb:2:1")  # the members of Zuid, which An does not run
    assert h.last("an") == "Alleen coördinatoren van BIN Zuid zien de ledenlijst."
    [refused] = await audit(h, "member.list")
    assert refused.outcome == "refused" and refused.bin_id == 2
    for forged in ("pg:mb:99:1", "pg:rq:2:1", "pg:mb:1:-1", "pg:xx:0:1", "pg:mb:1:1:1", "pg:"):
        await h.press_data("an", forged)
        assert "werkt niet meer" in h.last("an"), forged
    await h.press_data("jan", "pg:mb:1:1")  # not a coordinator at all
    assert "werkt niet meer" in h.last("jan")
    reasons = [(e.detail or {}).get("reason") for e in await audit(h, "list.page")]
    assert reasons.count("not_coordinator") == 1 and reasons.count("malformed") == 5
    assert all("Leden" not in t for t in h.texts("jan"))


async def test_on_matrix_the_pages_are_typed_and_fit_the_event_size(tmp_path: Path) -> None:
    caps = Capabilities(max_text_length=3500, buttons=False)
    h = await Harness.create(tmp_path, platform=RecordingPlatform(Platform.MATRIX, caps))
    try:
        await bin_without_intake(h)
        for i in range(60):
            user = UserRef(Platform.MATRIX, f"@r{i}:x", display_name=COP * 70)
            await h.event(JoinRequested(h.chat("buurt", "x"), user))
        await h.say("an", "/requests")
        page = h.platform.in_chat("an")[-1]
        assert page.buttons == [] and "!requests NUMMER toont een andere pagina." in page.text
        await h.say("an", "/requests 2")
        for sent in h.platform.in_chat("an"):
            fits_matrix(sent.message.body)
    finally:
        await h.close()


async def test_a_5000_character_display_name_is_shortened_wherever_it_is_shown(
    h: Harness,
) -> None:
    await ready(h)
    shown = COP * (MAX_SHOWN_NAME - 1) + "…"
    long_one = UserRef(Platform.TELEGRAM, "lang", display_name=LONG_NAME)
    await h.event(JoinRequested(h.chat("buurt", "x"), long_one))
    # Answered as the same account (its display name comes with every update).
    await h.event(MessagePosted(h.chat(None, "lang"), long_one, "Kerkstraat", "m0"))
    [copy] = h.new("an")
    assert f"{shown} wil lid worden" in copy  # the coordinator's notification
    await h.say("an", "/requests")
    assert shown in h.last("an")
    await h.say("an", "/approve 1")
    assert f"aanvraag #1 van {shown} is goedgekeurd" in h.last("an")
    await h.say("an", "/members")
    assert f"#1 {shown} (Telegram)" in h.last("an")
    await h.event(MessagePosted(h.chat("buurt", "x"), long_one, "verdachte wagen", "m1"))
    nudge = h.platform.in_chat("buurt")[-1]
    [(_, data)] = nudge.buttons
    await h.event(ButtonPressed(h.chat("buurt", "x"), long_one, data, nudge.ref.message_id))
    assert h.last("buurt").startswith(f"✅ {shown} heeft de politie gebeld (101).")
    for sent in h.platform.sent:
        fits_telegram(sent.message.body)


def test_shorten_keeps_one_line_and_the_cap() -> None:
    assert shorten("Jan  Peeters\n") == "Jan Peeters"
    assert shorten("x" * 200) == "x" * (MAX_SHOWN_NAME - 1) + "…"
    assert len(shorten(LONG_NAME, MAX_SHOWN_WORD)) == MAX_SHOWN_WORD


# The longest value each placeholder can carry: what a person chose is cut where it is shown
# (names, typed words), what the bot takes is bounded at input (answers, a decline's reason),
# and the names of zones and BINs are at most 100 characters (their columns).
NAME = COP * (MAX_SHOWN_NAME - 1) + "…"
WORD = COP * (MAX_SHOWN_WORD - 1) + "…"
ADMIN_NAME = COP * 100
LIST = ", ".join([ADMIN_NAME] * 10)  # lists of names (a person's BINs, say): ten of them
WORST: dict[str, str] = {
    "name": NAME,
    "by": NAME,
    "member": WORD,
    "word": WORD,
    "group": WORD,
    "bin": ADMIN_NAME,
    "zone": ADMIN_NAME,
    "organisation": ADMIN_NAME,
    "scope": ADMIN_NAME,
    "reason": COP * MAX_REASON,
    "answer": COP * MAX_ANSWER,
    "question": COP * (MAX_QUESTION - 1) + "…",
    "bins": LIST,
    "codes": LIST,
    "link": "https://t.me/+" + "A" * 64,
}


def worst_values(key: str, lang: str) -> dict[str, str]:
    return {n: WORST.get(n, "8" * 32) for n in texts.placeholders(key, lang) if n != "p"}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_template_with_the_longest_inputs_fits_telegram_and_matrix(lang: str) -> None:
    measured = 0
    for key in sorted(texts.keys(lang)):
        if not texts.placeholders(key, lang):
            continue
        for prefix in ("/", "!"):
            body = texts.rich(key, lang, p=prefix, **worst_values(key, lang))
            fits_telegram(body)
            fits_matrix(body)
        measured += 1
    assert measured > 100  # the catalogues were read, not an empty set


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_request_copy_with_many_long_answers_stays_one_message(lang: str) -> None:
    answers = {f"{COP * 250} {i}": COP * MAX_ANSWER for i in range(40)}
    view = RequestView(12345, 1, ADMIN_NAME, NAME, answers, True)
    body = view.body(lang, "/")
    fits_telegram(body)
    fits_matrix(body)
    assert utf16_length(body.plain) > 3000  # filled up, and cut rather than refused
    assert body.plain.rstrip().endswith(texts.text("groups.request_how", lang, p="/", n=12345))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_group_rules_with_the_longest_names_fit(lang: str) -> None:
    zone = Zone(name=ADMIN_NAME, urgent_number="1" * 32, emergency_number="1" * 32)
    zone.non_urgent_number = "0" * 32
    b = Bin(name=ADMIN_NAME, code="c" * 32)
    for prefix in ("/", "!"):
        fits_telegram(rules_text(b, zone, lang, prefix))
        fits_matrix(rules_text(b, zone, lang, prefix))


def test_the_worst_values_are_worst_for_both_measures() -> None:
    assert utf16_length(COP) == 2 and len(json.dumps(COP)) - 2 == 12
