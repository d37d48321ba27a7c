"""0010: the desk's one-time login links and sessions, and the index its message list reads

The desk is logged into from chat: `/desk` gives a link that works once for ten minutes, and
opening it starts a session. Both live in the database (only hashes of their tokens), so any
`binbot run` process behind a load balancer serves any request, and erasing a person
(/forgetme) ends their sessions with the row (ON DELETE CASCADE). The desk lists a zone's
official messages newest first: `ix_alerts_zone_created` answers that without a sort of the
zone's whole history.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "desk_logins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_desk_logins_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_logins")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_desk_logins_token_hash")),
    )
    op.create_index(op.f("ix_desk_logins_person_id"), "desk_logins", ["person_id"])
    op.create_table(
        "desk_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_desk_sessions_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_desk_sessions_token_hash")),
    )
    op.create_index(op.f("ix_desk_sessions_person_id"), "desk_sessions", ["person_id"])
    op.create_index(op.f("ix_desk_sessions_last_seen_at"), "desk_sessions", ["last_seen_at"])
    op.create_index("ix_alerts_zone_created", "alerts", ["zone_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_alerts_zone_created", table_name="alerts")
    op.drop_index("ix_desk_sessions_last_seen_at", table_name="desk_sessions")
    op.drop_index("ix_desk_sessions_person_id", table_name="desk_sessions")
    op.drop_table("desk_sessions")
    op.drop_index("ix_desk_logins_person_id", table_name="desk_logins")
    op.drop_table("desk_logins")
