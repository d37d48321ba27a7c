"""0009: how readily the bot nudges towards 101 in each group

A group's coordinator sets it with `/nudges off|low|normal|high`: `off` never nudges, `low`
only when a post very clearly reports an incident, `high` also when it is less sure. Existing
groups keep the behaviour they had, `normal`.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("groups") as batch:
        batch.add_column(
            sa.Column("nudge_sensitivity", sa.String(8), nullable=False, server_default="normal")
        )


def downgrade() -> None:
    with op.batch_alter_table("groups") as batch:
        batch.drop_column("nudge_sensitivity")
