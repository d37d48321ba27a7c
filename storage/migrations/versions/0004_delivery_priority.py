"""0004: outbox priorities, and the lock that tells a claiming process is still alive

`priority` orders the claim: 0 urgent official messages and their follow-ups, 1 non-urgent
notices and theirs, 2 routine posts; first in, first out within one. Rows already queued
take the priority of their message. `claim_lock` is the PostgreSQL advisory lock key the
claiming process holds while it lives: a `sending` row whose lock nobody holds any more was
left by a dead process and is claimed again at once (bot/delivery.py).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.add_column(
            sa.Column("priority", sa.SmallInteger(), nullable=False, server_default="1")
        )
        batch_op.add_column(sa.Column("claim_lock", sa.BigInteger(), nullable=True))
        batch_op.create_index("ix_deliveries_claim", ["status", "priority", "id"], unique=False)
    op.execute(
        "UPDATE deliveries SET priority = 0 WHERE alert_id IN "
        "(SELECT id FROM alerts WHERE urgency = 'urgent')"
    )


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.drop_index("ix_deliveries_claim")
        batch_op.drop_column("claim_lock")
        batch_op.drop_column("priority")
