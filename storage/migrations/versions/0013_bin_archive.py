"""0013: archived BINs

A BIN that has stopped is archived rather than deleted, so that its official messages stay
in the history: `archived_at` is when (NULL: active). An archived BIN takes no new join
requests, no new official messages and no new groups; `/join` does not list it.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-12 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bins") as batch:
        batch.add_column(sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bins") as batch:
        batch.drop_column("archived_at")
