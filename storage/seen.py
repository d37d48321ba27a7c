"""Seen without a trace: a press is a keyed hash of the person's id under the message's key.

A message has a random key (`alerts.seen_key`) only while it is current. A press stores
HMAC-SHA256(key, person id), which tells a second press of the same person apart from a first
and nothing else. Person ids are small numbers, so an unkeyed hash could be reversed by trying
them all; a keyed one cannot be tested without the key. Once the message is no longer current
the retention sweep deletes its marks and its key together (storage/retention.py): from then
on nothing in the database, or in a backup made afterwards, ties a person to a message they
saw. Only the count (`alerts.seen_count`) remains, and no time of any press is ever kept.
"""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.tables import Alert, Seen


def seen_mark(key: str, person_id: int) -> str:
    """A person's Seen mark on one message (128 bits of HMAC-SHA256 under its key)."""
    digest = hmac.new(bytes.fromhex(key), str(person_id).encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


async def seen_marks_of(session: AsyncSession, person_id: int) -> list[tuple[int, str]]:
    """(alert id, mark) of the person's presses on messages that still have a key: what
    /mydata counts and /forgetme deletes. Only the person's own id can find them."""
    keyed = select(Alert.id, Alert.seen_key).where(Alert.seen_key.is_not(None))
    wanted = {
        (alert_id, seen_mark(key, person_id))
        for alert_id, key in (await session.execute(keyed)).all()
        if key is not None
    }
    if not wanted:
        return []
    q = select(Seen.alert_id, Seen.mark).where(Seen.mark.in_([m for _, m in wanted]))
    found = {(a, m) for a, m in (await session.execute(q)).all()}
    return sorted(found & wanted)
