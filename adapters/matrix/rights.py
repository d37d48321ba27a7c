"""What the bot may do in a room, from its power levels: pure functions.

Room version 12 (Synapse's default) gives the room's creators (the sender of `m.room.create`
and its `additional_creators`) unlimited power; they are never listed in `m.room.power_levels`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

# The names the core shows to coordinators when the bot lacks a right.
CHANGE_JOIN_RULES = "change join rules"
PIN = "pin"
INVITE = "invite"
REMOVE_MEMBERS = "remove members"
DELETE_MESSAGES = "delete messages"
SEND_MESSAGES = "send messages"

NEEDED = (CHANGE_JOIN_RULES, PIN, INVITE, REMOVE_MEMBERS, DELETE_MESSAGES)

# Without an m.room.power_levels event, the creator may do everything and others nothing.
_SPEC_DEFAULTS = {
    "users_default": 0,
    "events_default": 0,
    "state_default": 50,
    "invite": 0,
    "kick": 50,
    "ban": 50,
    "redact": 50,
}
_PRIVILEGED_CREATOR_VERSIONS = {"org.matrix.hydra.11"}


def creators_are_privileged(room_version: str) -> bool:
    """Whether the room version gives its creators unlimited power (12 and later)."""
    if room_version in _PRIVILEGED_CREATOR_VERSIONS:
        return True
    return room_version.isdigit() and int(room_version) >= 12


def knock_supported(room_version: str) -> bool:
    """Knocking needs room version 7 or later."""
    return room_version.isdigit() and int(room_version) >= 7


def room_creators(create_event: Mapping[str, Any]) -> frozenset[str]:
    """The creators of a room version 12 room: the create event's sender and co-creators."""
    content = create_event.get("content") or {}
    version = str(content.get("room_version", "1"))
    if not creators_are_privileged(version):
        return frozenset()
    extra = content.get("additional_creators") or []
    sender = create_event.get("sender")
    found = {str(u) for u in extra if isinstance(u, str)}
    if isinstance(sender, str):
        found.add(sender)
    return frozenset(found)


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def user_level(
    power_levels: Mapping[str, Any] | None, user_id: str, creators: Iterable[str] = ()
) -> float:
    """The user's power in the room (`inf` for a room version 12 creator)."""
    if user_id in set(creators):
        return math.inf
    if power_levels is None:
        return 0
    users = power_levels.get("users") or {}
    default = _int(power_levels.get("users_default"), 0)
    return _int(users.get(user_id), default)


def required_level(power_levels: Mapping[str, Any] | None, right: str) -> float:
    """The level a right needs under these power levels."""
    pl: Mapping[str, Any] = power_levels or {}
    events = pl.get("events") or {}
    state_default = _int(pl.get("state_default"), 50 if power_levels else 0)

    def state(event_type: str) -> int:
        return _int(events.get(event_type), state_default)

    if right == CHANGE_JOIN_RULES:
        return state("m.room.join_rules")
    if right == PIN:
        return state("m.room.pinned_events")
    if right == INVITE:
        return _int(pl.get("invite"), _SPEC_DEFAULTS["invite"])
    if right == REMOVE_MEMBERS:
        return _int(pl.get("kick"), _SPEC_DEFAULTS["kick"])
    if right == DELETE_MESSAGES:
        return _int(pl.get("redact"), _SPEC_DEFAULTS["redact"])
    if right == SEND_MESSAGES:
        return _int(events.get("m.room.message"), _int(pl.get("events_default"), 0))
    raise ValueError(f"unknown right {right!r}")


def missing_rights(
    power_levels: Mapping[str, Any] | None,
    user_id: str,
    creators: Iterable[str] = (),
    needed: Iterable[str] = NEEDED,
) -> tuple[str, ...]:
    """The rights in `needed` that `user_id` lacks, in a stable order."""
    creators = frozenset(creators)
    if power_levels is None and not creators:
        # No power levels at all: only the creator (of an old room version) may act.
        return tuple(needed)
    level = user_level(power_levels, user_id, creators)
    return tuple(r for r in needed if level < required_level(power_levels, r))


State = Mapping[tuple[str, str], Mapping[str, Any]]


def _content(state: State, event_type: str) -> Mapping[str, Any]:
    return state.get((event_type, ""), {}).get("content") or {}


def missing_in_state(state: State, user_id: str) -> tuple[str, ...]:
    """The needed rights `user_id` lacks, from a room's full state keyed by (type, key)."""
    levels = state.get(("m.room.power_levels", ""), {}).get("content")
    creators = room_creators(state.get(("m.room.create", ""), {}))
    return missing_rights(levels, user_id, creators)


def join_rule_to_set(state: State) -> str | None:
    """The join rule that makes the room approval-only (`knock` from room version 7, else
    `invite`), or None when it already is."""
    version = str(_content(state, "m.room.create").get("room_version", "1"))
    target = "knock" if knock_supported(version) else "invite"
    current = _content(state, "m.room.join_rules").get("join_rule")
    return None if current in (target, "knock_restricted") else target


def room_link(state: State, room_id: str, server_name: str) -> str:
    """A matrix.to link people can knock through: the room's alias, else its id and server."""
    alias = _content(state, "m.room.canonical_alias").get("alias")
    if isinstance(alias, str) and alias:
        return f"https://matrix.to/#/{alias}"
    return f"https://matrix.to/#/{room_id}?via={server_name}"
