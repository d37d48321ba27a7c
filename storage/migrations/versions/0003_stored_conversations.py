"""0003: conversations and the coordinators' copies of join requests, in the database

An officer's half-written /alert used to live in one process's memory: a restart lost it,
and with several processes behind a load balancer the next step could land on a process that
never saw the first. The same held for the coordinators' copies of a join request, which a
decision must edit wherever it is taken.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 19:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_conversations_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
        sa.UniqueConstraint(
            "platform", "chat_id", "user_id", name=op.f("uq_conversations_platform")
        ),
    )
    op.create_index(op.f("ix_conversations_person_id"), "conversations", ["person_id"])
    op.create_index(op.f("ix_conversations_expires_at"), "conversations", ["expires_at"])
    op.create_table(
        "request_copies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.String(length=255), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["join_requests.id"],
            name=op.f("fk_request_copies_request_id_join_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_copies")),
    )
    op.create_index(op.f("ix_request_copies_request_id"), "request_copies", ["request_id"])


def downgrade() -> None:
    op.drop_index("ix_request_copies_request_id", table_name="request_copies")
    op.drop_table("request_copies")
    op.drop_index("ix_conversations_expires_at", table_name="conversations")
    op.drop_index("ix_conversations_person_id", table_name="conversations")
    op.drop_table("conversations")
