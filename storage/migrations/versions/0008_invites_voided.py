"""0008: an invite can be void because its code was shown in a group

A code posted in a group chat was readable by everyone there: the first lurker to redeem it
in private got the role. Such a code is now void at once. Revoking is the admin's act and
says nothing of why; `voided_at` and `void_reason` keep apart what the bot did by itself, so
that `binbot invite list` shows it, and why.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("invites", sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("invites", sa.Column("void_reason", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("invites") as batch:
        batch.drop_column("void_reason")
        batch.drop_column("voided_at")
