"""0011: photos of official messages

A missing-person or wanted-vehicle message carries one photo: `photos` holds each one once
(by the SHA-256 of its re-encoded bytes, the file itself under the data directory) with
where each platform already holds it, so that it is uploaded once however many groups it
goes to. A message and each of its updates may point at one. A delivery whose photo could
not carry the text as its caption is two messages; `text_message_id` is the second, so that
a withdrawal deletes both and a retry after a crash sends only what is missing.

Revision ID: 0011
Revises: 0004
Create Date: 2026-12-08 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0004"
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
    with op.batch_alter_table("alerts") as batch_op:
        batch_op.add_column(sa.Column("photo_id", sa.Integer(), nullable=True))
        batch_op.create_index(op.f("ix_alerts_photo_id"), ["photo_id"], unique=False)
        batch_op.create_foreign_key(
            op.f("fk_alerts_photo_id_photos"), "photos", ["photo_id"], ["id"], ondelete="SET NULL"
        )
    with op.batch_alter_table("followups") as batch_op:
        batch_op.add_column(sa.Column("photo_id", sa.Integer(), nullable=True))
        batch_op.create_index(op.f("ix_followups_photo_id"), ["photo_id"], unique=False)
        batch_op.create_foreign_key(
            op.f("fk_followups_photo_id_photos"),
            "photos",
            ["photo_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.add_column(sa.Column("text_message_id", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.drop_column("text_message_id")
    with op.batch_alter_table("followups") as batch_op:
        batch_op.drop_constraint(op.f("fk_followups_photo_id_photos"), type_="foreignkey")
        batch_op.drop_index(op.f("ix_followups_photo_id"))
        batch_op.drop_column("photo_id")
    with op.batch_alter_table("alerts") as batch_op:
        batch_op.drop_constraint(op.f("fk_alerts_photo_id_photos"), type_="foreignkey")
        batch_op.drop_index(op.f("ix_alerts_photo_id"))
        batch_op.drop_column("photo_id")
    op.drop_table("photos")
