"""0014: who granted each role

The desk's People page shows, for every role held, when it was granted and by whom. A role is
granted by redeeming an invite, and the invite says who issued it ("admin" for the shell, an
officer's pseudonym for the desk), but invites are deleted some days after use while the role
stays: the grant keeps that name itself. Filled from the invites still kept.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 22:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("role_grants") as batch:
        batch.add_column(sa.Column("granted_by", sa.String(64), nullable=True))
    op.execute(
        "UPDATE role_grants SET granted_by = "
        "(SELECT invites.created_by FROM invites WHERE invites.id = role_grants.invite_id) "
        "WHERE invite_id IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("role_grants") as batch:
        batch.drop_column("granted_by")
