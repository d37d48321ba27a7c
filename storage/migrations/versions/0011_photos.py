"""0011: photos of official messages

A missing-person or wanted-vehicle message carries one photo: `photos` holds each one once
(by the SHA-256 of its re-encoded bytes, the file itself under the data directory) with
where each platform already holds it, so that it is uploaded once however many groups it
goes to. A message and each of its updates may point at one. A delivery whose photo could
not carry the text as its caption is two messages; `text_message_id` is the second, so that
a withdrawal deletes both and a retry after a crash sends only what is missing.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "photos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("mime", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("uploads", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_photos")),
        sa.UniqueConstraint("sha256", name=op.f("uq_photos_sha256")),
    )
    for table in ("alerts", "followups"):
        _add_photo_column(table)
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.add_column(sa.Column("text_message_id", sa.String(length=255), nullable=True))


def _add_photo_column(table: str) -> None:
    """`photo_id`, indexed. Without a foreign key: on SQLite adding one copies the whole table
    into a new one, which the rows pointing at it (Seen marks, deliveries) do not survive; the
    one place that deletes photos clears the column first."""
    op.add_column(table, sa.Column("photo_id", sa.Integer(), nullable=True))
    op.create_index(op.f(f"ix_{table}_photo_id"), table, ["photo_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.drop_column("text_message_id")
    for table in ("followups", "alerts"):
        op.drop_index(op.f(f"ix_{table}_photo_id"), table_name=table)
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("photo_id")
    op.drop_table("photos")
