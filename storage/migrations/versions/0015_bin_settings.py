"""0015: a BIN's own quiet hours, reminder frequency and language

Each may differ from the zone's: a BIN of night-shift workers keeps other quiet hours, a
French-speaking street reads its poster in French. All nullable: None follows the zone, which
is what every existing BIN does.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 23:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bins") as batch:
        batch.add_column(sa.Column("quiet_start", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("quiet_end", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("reminder_days", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("language", sa.String(2), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bins") as batch:
        batch.drop_column("language")
        batch.drop_column("reminder_days")
        batch.drop_column("quiet_end")
        batch.drop_column("quiet_start")
