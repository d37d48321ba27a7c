"""SQLAlchemy 2.x typed models. Every schema change also gets a numbered Alembic migration."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, validates
from sqlalchemy.types import TypeDecorator

from storage.names import KEY_LENGTH, name_key

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# The condition of an open join request (storage.groups.OPEN_STATUSES), for the partial index.
OPEN_REQUEST = "status IN ('intake', 'pending')"


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC, returns timezone-aware UTC on every database (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class Zone(Base):
    """A police zone: its numbers, default language and quiet hours (local time, minutes)."""

    __tablename__ = "zones"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # storage/names.py: what a name is looked up by, the same on SQLite and PostgreSQL.
    name_key: Mapped[str] = mapped_column(
        String(KEY_LENGTH), index=True, unique=True, server_default=""
    )
    urgent_number: Mapped[str] = mapped_column(String(32), default="101")
    emergency_number: Mapped[str] = mapped_column(String(32), default="112")
    non_urgent_number: Mapped[str | None] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(2), default="nl")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Brussels")
    quiet_start: Mapped[int] = mapped_column(Integer, default=22 * 60)
    quiet_end: Mapped[int] = mapped_column(Integer, default=7 * 60)
    reminder_days: Mapped[int] = mapped_column(Integer, default=7)
    created_at: Mapped[datetime]

    @validates("name")
    def _keep_key(self, _attr: str, name: str) -> str:
        """The key follows the name, whoever sets it."""
        self.name_key = name_key(name)
        return name


class Bin(Base):
    """A neighbourhood information network; `intake` None means the default question."""

    __tablename__ = "bins"
    __table_args__ = (
        UniqueConstraint("zone_id", "name"),
        Index("ix_bins_zone_id_name_key", "zone_id", "name_key", unique=True),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("zones.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(String(KEY_LENGTH), server_default="")
    code: Mapped[str] = mapped_column(String(32), unique=True)
    area: Mapped[str | None] = mapped_column(Text)
    intake: Mapped[list[Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime]
    # When the BIN was archived (migration 0013): it then takes no new members, messages or
    # groups, and keeps its history. None: active.
    archived_at: Mapped[datetime | None]
    # The BIN's own quiet hours (local minutes, both or neither), reminder frequency and
    # language (migration 0015); None follows the zone (bot/services/bin_settings.py).
    quiet_start: Mapped[int | None] = mapped_column(Integer)
    quiet_end: Mapped[int | None] = mapped_column(Integer)
    reminder_days: Mapped[int | None] = mapped_column(Integer)
    language: Mapped[str | None] = mapped_column(String(2))

    @validates("name")
    def _keep_key(self, _attr: str, name: str) -> str:
        """The key follows the name, whoever sets it."""
        self.name_key = name_key(name)
        return name


class Person(Base):
    """A human, reachable through one or more platform identities."""

    __tablename__ = "persons"
    id: Mapped[int] = mapped_column(primary_key=True)
    pseudonym: Mapped[str] = mapped_column(String(32), unique=True)
    language: Mapped[str | None] = mapped_column(String(2))
    failed_redeems: Mapped[int] = mapped_column(Integer, default=0)
    redeem_blocked_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    # The day (midnight UTC) of the last contact, written at most once a day: the clock of the
    # retention rule for people with nothing ongoing, too coarse to time any single action.
    last_seen_at: Mapped[datetime | None]


class Identity(Base):
    """One platform account of a person; `dm_chat_id` is the private chat where known."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("platform", "user_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(
        ForeignKey("persons.id", ondelete="CASCADE"), index=True
    )
    platform: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(255), default="")
    dm_chat_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime]


class RoleGrant(Base):
    """A role held by a person, scoped to a zone (police, prevention) or a BIN (coordinator)."""

    __tablename__ = "role_grants"
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(
        ForeignKey("persons.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(16))
    zone_id: Mapped[int | None] = mapped_column(ForeignKey("zones.id"))
    bin_id: Mapped[int | None] = mapped_column(ForeignKey("bins.id"))
    invite_id: Mapped[int | None] = mapped_column(ForeignKey("invites.id"))
    granted_at: Mapped[datetime]
    # Who issued the invite it was granted by: "admin" (the shell) or an officer's pseudonym.
    granted_by: Mapped[str | None] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(64))


class Invite(Base):
    """A single-use role invite; only a hash of the code is kept."""

    __tablename__ = "invites"
    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    zone_id: Mapped[int | None] = mapped_column(ForeignKey("zones.id"))
    bin_id: Mapped[int | None] = mapped_column(ForeignKey("bins.id"))
    created_by: Mapped[str] = mapped_column(String(64), default="admin")
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by: Mapped[int | None] = mapped_column(
        ForeignKey("persons.id", ondelete="SET NULL"), index=True
    )
    revoked_at: Mapped[datetime | None]
    # Void without anyone asking: the code was shown where others could read it.
    voided_at: Mapped[datetime | None]
    void_reason: Mapped[str | None] = mapped_column(String(32))


class Group(Base):
    """A platform group/room linked to a BIN. `active` turns false on unlink or removal."""

    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("platform", "chat_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    bin_id: Mapped[int] = mapped_column(ForeignKey("bins.id"), index=True)
    platform: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(255), default="")
    language: Mapped[str | None] = mapped_column(String(2))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    linked_by: Mapped[int | None] = mapped_column(
        ForeignKey("persons.id", ondelete="SET NULL"), index=True
    )
    linked_at: Mapped[datetime]
    unlinked_at: Mapped[datetime | None]
    inactive_reason: Mapped[str | None] = mapped_column(String(64))
    rules_message_id: Mapped[str | None] = mapped_column(String(255))
    invite_link: Mapped[str | None] = mapped_column(Text)
    last_nudge_at: Mapped[datetime | None]
    # off | low | normal | high: how readily posts get a 101 nudge (migration 0005)
    nudge_sensitivity: Mapped[str] = mapped_column(
        String(8), default="normal", server_default="normal"
    )
    # The rights the bot lacks here as last seen ("invite,pin"; None: none known missing), and
    # when the platform was last asked (migration 0012).
    missing_rights: Mapped[str | None] = mapped_column(Text)
    rights_checked_at: Mapped[datetime | None]


class JoinRequest(Base):
    """A request to join a BIN; `answers` (intake) are erased once decided."""

    __tablename__ = "join_requests"
    __table_args__ = (
        Index("ix_join_requests_bin_status", "bin_id", "status"),
        # At most one open request per person and BIN, whatever races (migration 0008).
        Index(
            "uq_join_requests_open",
            "person_id",
            "bin_id",
            unique=True,
            sqlite_where=text(OPEN_REQUEST),
            postgresql_where=text(OPEN_REQUEST),
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    bin_id: Mapped[int] = mapped_column(ForeignKey("bins.id"))
    person_id: Mapped[int] = mapped_column(
        ForeignKey("persons.id", ondelete="CASCADE"), index=True
    )
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id"))
    platform: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    answers: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[int | None] = mapped_column(
        ForeignKey("persons.id", ondelete="SET NULL"), index=True
    )
    # When it went to the coordinators (None: withdrawn or expired during the intake). A
    # request they were bothered with and that was withdrawn starts the cooldown.
    submitted_at: Mapped[datetime | None]


class Membership(Base):
    """A person's membership of a BIN: active, left, removed, or blocked (a coordinator
    stopped a non-member from asking to join; `joined_at` is then when they were blocked)."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("bin_id", "person_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    bin_id: Mapped[int] = mapped_column(ForeignKey("bins.id"), index=True)
    person_id: Mapped[int] = mapped_column(
        ForeignKey("persons.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="active")
    joined_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class Alert(Base):
    """An official BIN message. `release_at` holds non-urgent messages past quiet hours."""

    __tablename__ = "alerts"
    # The desk lists a zone's messages newest first (see migration 0010).
    __table_args__ = (Index("ix_alerts_zone_created", "zone_id", "created_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(16), unique=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("zones.id"), index=True)
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("persons.id", ondelete="SET NULL"), index=True
    )
    author_role: Mapped[str] = mapped_column(String(16))
    urgency: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime]
    release_at: Mapped[datetime]
    valid_until: Mapped[datetime]
    receipt_platform: Mapped[str | None] = mapped_column(String(16))
    receipt_chat_id: Mapped[str | None] = mapped_column(String(255))
    receipt_message_id: Mapped[str | None] = mapped_column(String(255))
    receipt_language: Mapped[str | None] = mapped_column(String(2))
    receipt_final_at: Mapped[datetime | None]
    followup_reminded_at: Mapped[datetime | None]
    # Seen: the count stays; the key that makes each person's mark exists only while the
    # message is current (storage/alerts.py, `seen_mark`).
    seen_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    seen_key: Mapped[str | None] = mapped_column(String(64))
    # The photo sent with the message (see Photo), if any. No foreign key: on SQLite adding
    # one would copy this table, which the rows pointing at it do not survive; the one place
    # that deletes photos (storage/media.py, `remove`) clears these first.
    photo_id: Mapped[int | None] = mapped_column(Integer, index=True)


class AlertTarget(Base):
    """A BIN an official message was addressed to."""

    __tablename__ = "alert_targets"
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), primary_key=True)
    bin_id: Mapped[int] = mapped_column(ForeignKey("bins.id"), primary_key=True)


class FollowUp(Base):
    """An update, all-clear (resolve) or withdrawal of an official message."""

    __tablename__ = "followups"
    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("persons.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime]
    photo_id: Mapped[int | None] = mapped_column(Integer, index=True)  # see Alert.photo_id


class Delivery(Base):
    """One official message (or follow-up) to one chat: the outbox row.

    status: pending -> sending -> sent | failed. `sending` marks the one crash window.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("alert_id", "followup_id", "group_id", name="uq_deliveries_target"),
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        Index("ix_deliveries_claim", "status", "priority", "id"),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    followup_id: Mapped[int | None] = mapped_column(ForeignKey("followups.id"))
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), index=True)
    platform: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # 0 urgent, 1 non-urgent notice, 2 routine (storage/alerts.py); claimed in that order.
    priority: Mapped[int] = mapped_column(SmallInteger, default=1, server_default="1")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None]
    # The advisory lock the claiming process holds while alive (PostgreSQL; see 0004).
    claim_lock: Mapped[int | None] = mapped_column(BigInteger)
    platform_message_id: Mapped[str | None] = mapped_column(String(255))
    # A photo whose caption could not hold the text goes out as two messages: the photo
    # (platform_message_id, recorded as soon as it is out) and the text replying to it.
    text_message_id: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class Photo(Base):
    """A photo of an official message, re-encoded without metadata (bot/media.py) and kept
    as a file under the data directory, named by the SHA-256 of its bytes.

    `uploads` remembers where a platform already holds it (a Telegram file_id, a Matrix
    content URI and the key of its encrypted copy), so that it is uploaded once.
    """

    __tablename__ = "photos"
    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    mime: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    uploads: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Seen(Base):
    """One "Seen" per person per current official message, without the person: `mark` is a
    keyed hash of the person's id under the message's own key, so that a second press is
    recognised; rows and key go once the message is no longer current. No time is kept."""

    __tablename__ = "seen"
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), primary_key=True)
    mark: Mapped[str] = mapped_column(String(32), primary_key=True)


class Reminder(Base):
    """A periodic 101 reminder posted in a group for one period; exists at most once."""

    __tablename__ = "reminders"
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), primary_key=True)
    period: Mapped[str] = mapped_column(String(32), primary_key=True)
    posted_at: Mapped[datetime]


class AuditEntry(Base):
    """The append-only audit log; `actor` is a pseudonym or "admin", never a name."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16), default="ok")
    zone_id: Mapped[int | None] = mapped_column(Integer)
    bin_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class KeyValue(Base):
    """Small durable state of adapters (e.g. the Matrix sync token)."""

    __tablename__ = "kv"
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ConversationRow(Base):
    """An open conversation (a wizard such as /alert) of one person in one chat.

    Loaded and saved per step in the same transaction as that step's effects; `version`
    makes two steps racing on the same conversation (two processes, a double tap) lose
    cleanly: the second finds the version moved and is answered, not applied twice.
    """

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("platform", "chat_id", "user_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[str] = mapped_column(String(255))
    person_id: Mapped[int] = mapped_column(
        ForeignKey("persons.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)


class RequestCopy(Base):
    """A coordinator's private copy of a join request (the message with its buttons), so
    that a decision taken in any process edits every copy."""

    __tablename__ = "request_copies"
    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("join_requests.id", ondelete="CASCADE"), index=True
    )
    platform: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[str] = mapped_column(String(255))
    message_id: Mapped[str] = mapped_column(String(255))
    language: Mapped[str] = mapped_column(String(2))


class MonthlyFigure(Base):
    """One figure of one BIN for one calendar month (UTC), kept after the rows it counts are
    gone: `figure` names what is counted (alerts, deliveries, seen, members, ...), `detail`
    narrows it (a platform and status, an urgency and category) or is empty."""

    __tablename__ = "monthly_figures"
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    bin_id: Mapped[int] = mapped_column(
        ForeignKey("bins.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    figure: Mapped[str] = mapped_column(String(32), primary_key=True)
    detail: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)


class DeskLogin(Base):
    """A one-time link to the desk, asked for in chat; only a hash of its token is kept."""

    __tablename__ = "desk_logins"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[int] = mapped_column(
        ForeignKey("persons.id", ondelete="CASCADE"), index=True
    )
    language: Mapped[str | None] = mapped_column(String(2))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class DeskSession(Base):
    """A browser logged into the desk: only a hash of its cookie is kept; `csrf` is the
    token its forms carry. Any process serves any request, so it lives here."""

    __tablename__ = "desk_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf: Mapped[str] = mapped_column(String(64))
    person_id: Mapped[int] = mapped_column(
        ForeignKey("persons.id", ondelete="CASCADE"), index=True
    )
    language: Mapped[str | None] = mapped_column(String(2))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime] = mapped_column(index=True)
