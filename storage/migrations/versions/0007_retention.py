"""0007: Seen without a trace, a last-contact day per person, monthly figures per BIN

`seen` kept (message, person, time) for every press, with no end: exactly the "who saw it"
that the bot promises never to tell. A press is now a keyed hash of the person's id under a
random key of the message (`alerts.seen_key`), with no time; the count lives on the message
(`alerts.seen_count`), and the key and the hashes are deleted once the message is no longer
current. Existing presses are counted onto their messages; those of current messages are
re-keyed, the rest dropped.

`persons.last_seen_at` (a day, written at most once a day) is the clock of the rule that
erases people with nothing ongoing. `monthly_figures` keeps each BIN's statistics per month
once the rows they count have reached the end of their retention period.

Revision ID: 0007
Revises: 0006
Create Date: 2027-01-10 10:00:00
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _mark(key: str, person_id: int) -> str:
    # The same function as storage.alerts.seen_mark, copied so that this migration keeps
    # meaning what it meant when it was written.
    digest = hmac.new(bytes.fromhex(key), str(person_id).encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


def upgrade() -> None:
    op.add_column("persons", sa.Column("last_seen_at", sa.DateTime(timezone=True)))
    op.add_column(
        "alerts",
        sa.Column("seen_count", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column("alerts", sa.Column("seen_key", sa.String(length=64)))
    bind = op.get_bind()
    old = bind.execute(
        sa.text("SELECT alert_id, person_id FROM seen ORDER BY alert_id, person_id")
    ).all()
    now = datetime.now(UTC)
    alerts = sa.table(
        "alerts",
        sa.column("id", sa.Integer()),
        sa.column("state", sa.String()),
        sa.column("valid_until", sa.DateTime(timezone=True)),
    )
    rows = bind.execute(sa.select(alerts.c.id, alerts.c.state, alerts.c.valid_until)).all()
    current = set()
    for alert_id, state, valid_until in rows:
        until = valid_until if valid_until.tzinfo else valid_until.replace(tzinfo=UTC)
        if state in ("active", "updated") and until > now:
            current.add(alert_id)
    counts: dict[int, int] = {}
    for alert_id, _ in old:
        counts[alert_id] = counts.get(alert_id, 0) + 1
    for alert_id, n in counts.items():
        bind.execute(
            sa.text("UPDATE alerts SET seen_count = :n WHERE id = :id"), {"n": n, "id": alert_id}
        )
    op.drop_index("ix_seen_person_id", table_name="seen")
    op.drop_table("seen")
    seen = op.create_table(
        "seen",
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("mark", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], name=op.f("fk_seen_alert_id_alerts")),
        sa.PrimaryKeyConstraint("alert_id", "mark", name=op.f("pk_seen")),
    )
    keys = {alert_id: secrets.token_hex(32) for alert_id in current if alert_id in counts}
    for alert_id, key in keys.items():
        bind.execute(
            sa.text("UPDATE alerts SET seen_key = :k WHERE id = :id"), {"k": key, "id": alert_id}
        )
    marks = [{"alert_id": a, "mark": _mark(keys[a], p)} for a, p in old if a in keys]
    if marks:
        op.bulk_insert(seen, marks)
    op.create_table(
        "monthly_figures",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("bin_id", sa.Integer(), nullable=False),
        sa.Column("figure", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["bin_id"],
            ["bins.id"],
            name=op.f("fk_monthly_figures_bin_id_bins"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "month", "bin_id", "figure", "detail", name=op.f("pk_monthly_figures")
        ),
    )
    op.create_index(op.f("ix_monthly_figures_bin_id"), "monthly_figures", ["bin_id"])


def downgrade() -> None:
    # The presses cannot be given back their persons: that is the point of the change.
    op.drop_index("ix_monthly_figures_bin_id", table_name="monthly_figures")
    op.drop_table("monthly_figures")
    op.drop_table("seen")
    op.create_table(
        "seen",
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], name=op.f("fk_seen_alert_id_alerts")),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_seen_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("alert_id", "person_id", name=op.f("pk_seen")),
    )
    op.create_index(op.f("ix_seen_person_id"), "seen", ["person_id"])
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("seen_key")
        batch.drop_column("seen_count")
    with op.batch_alter_table("persons") as batch:
        batch.drop_column("last_seen_at")
