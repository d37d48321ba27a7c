"""0006: one open join request per person and BIN, and when a request was submitted

Asking again and again sent the coordinators a new request each time, and two requests made
at the same moment (a /join and a platform request, or two processes) could both be recorded.
A partial unique index now keeps one open request (intake or pending) per person and BIN, on
SQLite and on PostgreSQL alike, so a racing second insert finds the first instead. Open
duplicates left by earlier versions are closed as expired first (the newest is kept), or the
index could not be built.

`submitted_at` says when a request reached the coordinators: a request withdrawn after that
starts the cooldown before the person may ask that BIN again; one withdrawn during its intake
bothered nobody and does not.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-11 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

OPEN_REQUEST = "status IN ('intake', 'pending')"


def upgrade() -> None:
    op.add_column(
        "join_requests", sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.execute(
        "UPDATE join_requests SET status = 'expired', answers = NULL, "
        "decided_at = CURRENT_TIMESTAMP "
        f"WHERE {OPEN_REQUEST} AND id NOT IN ("
        f"SELECT MAX(id) FROM join_requests WHERE {OPEN_REQUEST} GROUP BY person_id, bin_id)"
    )
    op.create_index(
        op.f("uq_join_requests_open"),
        "join_requests",
        ["person_id", "bin_id"],
        unique=True,
        sqlite_where=sa.text(OPEN_REQUEST),
        postgresql_where=sa.text(OPEN_REQUEST),
    )


def downgrade() -> None:
    op.drop_index("uq_join_requests_open", table_name="join_requests")
    op.drop_column("join_requests", "submitted_at")
