"""0012: the rights the bot lacks in each group, as last seen

A group whose bot lost its rights (it may no longer pin, let members in, or post) needs
someone: the desk lists it with what to grant. `missing_rights` holds what a failed delivery
or rules post, the link's own check, `binbot doctor` or the hourly re-check found lacking
("invite,pin"; NULL when nothing is known to be missing); `rights_checked_at` is when the
platform was last asked, so that a group is re-checked at most once an hour.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-10 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("groups") as batch:
        batch.add_column(sa.Column("missing_rights", sa.Text(), nullable=True))
        batch.add_column(sa.Column("rights_checked_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("groups") as batch:
        batch.drop_column("rights_checked_at")
        batch.drop_column("missing_rights")
