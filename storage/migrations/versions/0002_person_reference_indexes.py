"""0002: indexes on the columns that refer to a person without being their key

/mydata counts these rows and /forgetme clears them (the foreign keys set them to NULL when
the person row goes); without an index each of those scans its whole table.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 16:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

INDEXES = (
    ("alerts", "author_id"),
    ("audit_log", "actor"),
    ("followups", "author_id"),
    ("groups", "linked_by"),
    ("invites", "used_by"),
    ("join_requests", "decided_by"),
    ("seen", "person_id"),
)


def upgrade() -> None:
    for table, column in INDEXES:
        op.create_index(f"ix_{table}_{column}", table, [column], unique=False)


def downgrade() -> None:
    for table, column in reversed(INDEXES):
        op.drop_index(f"ix_{table}_{column}", table_name=table)
