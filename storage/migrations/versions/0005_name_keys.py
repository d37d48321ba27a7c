"""0005: zones and BINs are looked up by a normalised key of their name

Names were compared with `lower(name)`, which SQLite applies to ASCII letters only: a zone
called "Écaussinnes" could be created but never found again, and "Élouges Centre" could not
be joined by name. The key (storage/names.py: NFKC, case folded, accents removed, spaces
collapsed) is now stored and indexed, so SQLite and PostgreSQL match names alike, and two
names that differ only by case, accents or spacing cannot both exist.

Existing rows get their key here. Where two existing names share a key (only possible on
SQLite, or by spacing), the younger row's key gets " #ID" appended: it stays reachable (by
that suffix, and a BIN by its code) and the admin can tell them apart; a warning names the
table and the ids.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 10:00:00
"""

from __future__ import annotations

import logging
import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

KEY_LENGTH = 300
log = logging.getLogger("alembic.runtime.migration")


def _key(name: str) -> str:
    """storage/names.py's `name_key` as it was when this migration was written (a migration
    keeps doing what it did, whatever the code does later)."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    bare = "".join(
        c for c in unicodedata.normalize("NFD", folded) if unicodedata.category(c) != "Mn"
    )
    return " ".join(unicodedata.normalize("NFC", bare).split())


def _fill(table: str, scoped: bool) -> None:
    """Give every row of `table` its key; within a zone for BINs (`scoped`)."""
    conn = op.get_bind()
    scope = "zone_id" if scoped else "0"
    rows = conn.execute(sa.text(f"SELECT id, name, {scope} FROM {table} ORDER BY id")).all()
    seen: set[tuple[int, str]] = set()
    clashes: list[int] = []
    for row_id, name, zone_id in rows:
        key = _key(name)[: KEY_LENGTH - 12]
        if (zone_id, key) in seen:
            clashes.append(row_id)
            key = f"{key} #{row_id}"
        seen.add((zone_id, key))
        conn.execute(
            sa.text(f"UPDATE {table} SET name_key = :key WHERE id = :id"),
            {"key": key, "id": row_id},
        )
    if clashes:
        log.warning("%s: names of rows %s clash with older ones; keys end in #ID", table, clashes)


def upgrade() -> None:
    for table in ("zones", "bins"):
        op.add_column(
            table,
            sa.Column("name_key", sa.String(length=KEY_LENGTH), server_default="", nullable=False),
        )
    _fill("zones", scoped=False)
    _fill("bins", scoped=True)
    op.create_index(op.f("ix_zones_name_key"), "zones", ["name_key"], unique=True)
    op.create_index(op.f("ix_bins_zone_id_name_key"), "bins", ["zone_id", "name_key"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_bins_zone_id_name_key", table_name="bins")
    op.drop_index("ix_zones_name_key", table_name="zones")
    # Plain DROP COLUMN (SQLite 3.35+): a batch copy of zones would trip the foreign keys.
    op.drop_column("bins", "name_key")
    op.drop_column("zones", "name_key")
