"""Rich text as Matrix content, and Matrix failures as the core's errors (pure)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from nio import ErrorResponse

from adapters.matrix.errors import to_platform_error
from adapters.matrix.platform import transaction_id
from adapters.matrix.render import edit_content, send_content
from adapters.matrix.rights import (
    CHANGE_JOIN_RULES,
    DELETE_MESSAGES,
    INVITE,
    PIN,
    REMOVE_MEMBERS,
    missing_rights,
    room_creators,
)
from bot.model import Button, Outgoing, Rich, Span
from bot.ports import (
    BotRemoved,
    MissingRights,
    PermanentError,
    RetryLater,
    TransientError,
)


def test_body_is_plain_and_formatted_body_escaped() -> None:
    rich = Rich((Span("OFFICIEEL", bold=True), Span("\n"), Span("<b>x</b> & co", italic=True)))
    content = send_content(Outgoing(rich))
    assert content == {
        "msgtype": "m.text",
        "body": "OFFICIEEL\n<b>x</b> & co",
        "format": "org.matrix.custom.html",
        "formatted_body": "<strong>OFFICIEEL</strong><br><em>&lt;b&gt;x&lt;/b&gt; &amp; co</em>",
    }


def test_silent_is_a_notice_and_buttons_become_a_line() -> None:
    buttons = ((Button("Seen", "seen:1"), Button("I called 101", "called:1")),)
    content = send_content(Outgoing(Rich.of("Let op"), buttons=buttons, silent=True))
    assert content["msgtype"] == "m.notice"
    assert content["body"] == "Let op\n\n[Seen] · [I called 101]"
    assert content["formatted_body"].endswith("<br><br>[Seen] · [I called 101]")


def test_reply_and_edit() -> None:
    reply = send_content(Outgoing(Rich.of("Update"), reply_to="$orig"))
    assert reply["m.relates_to"] == {"m.in_reply_to": {"event_id": "$orig"}}
    edit = edit_content("$orig", Outgoing(Rich.of("All clear")))
    assert edit["m.relates_to"] == {"rel_type": "m.replace", "event_id": "$orig"}
    assert edit["m.new_content"]["body"] == "All clear"
    assert edit["body"] == "* All clear"


def test_transaction_ids_are_kept_or_hashed_stably() -> None:
    assert transaction_id("delivery-42") == "delivery-42"
    hashed = transaction_id("delivery/42 é")
    assert hashed == transaction_id("delivery/42 é") and hashed and "/" not in hashed
    assert transaction_id(None) is None


def _error(code: str | None, status: int, message: str = "", **headers: str) -> ErrorResponse:
    resp = ErrorResponse(message, code)
    resp.transport_response = SimpleNamespace(status=status, headers=headers)  # type: ignore[assignment]
    return resp


def test_errors_map_to_the_core() -> None:
    limited = to_platform_error(
        _error("M_LIMIT_EXCEEDED", 429, **{"Retry-After": "3"}), action="send"
    )
    assert isinstance(limited, RetryLater) and limited.retry_after == 3
    gone = to_platform_error(
        _error("M_FORBIDDEN", 403, "User @b:x not in room !r:x"), action="send"
    )
    assert isinstance(gone, BotRemoved)
    weak = to_platform_error(
        _error("M_FORBIDDEN", 403, "You don't have permission"), action="pin", right=PIN
    )
    assert isinstance(weak, MissingRights) and weak.rights == (PIN,)
    big = to_platform_error(_error("M_TOO_LARGE", 413), action="send")
    assert isinstance(big, PermanentError) and big.reason == "message_too_long"
    assert isinstance(to_platform_error(_error(None, 502), action="send"), TransientError)
    assert isinstance(
        to_platform_error(_error("M_UNKNOWN_TOKEN", 401), action="s"), TransientError
    )


@pytest.mark.parametrize(
    ("levels", "missing"),
    [
        ({"users": {"@bot:x": 100}}, ()),
        ({"users": {"@bot:x": 50}}, ()),
        ({"users": {}}, (CHANGE_JOIN_RULES, PIN, REMOVE_MEMBERS, DELETE_MESSAGES)),
        (
            {"users": {"@bot:x": 50}, "invite": 60, "events": {"m.room.pinned_events": 75}},
            (PIN, INVITE),
        ),
    ],
)
def test_missing_rights_from_power_levels(
    levels: dict[str, object], missing: tuple[str, ...]
) -> None:
    create = {"sender": "@jan:x", "content": {"room_version": "12"}}
    assert missing_rights(levels, "@bot:x", room_creators(create)) == tuple(
        r
        for r in (CHANGE_JOIN_RULES, PIN, INVITE, REMOVE_MEMBERS, DELETE_MESSAGES)
        if r in missing
    )


def test_room_version_12_creators_have_every_right() -> None:
    create = {"sender": "@bot:x", "content": {"room_version": "12"}}
    assert missing_rights({"users": {}}, "@bot:x", room_creators(create)) == ()
    old = {"sender": "@bot:x", "content": {"room_version": "10"}}
    assert room_creators(old) == frozenset()
