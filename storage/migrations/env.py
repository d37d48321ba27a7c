"""Alembic environment: runs on the connection binbot hands in (see storage/db.py)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from storage.tables import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:  # `alembic` run by hand with sqlalchemy.url set to a synchronous URL
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///binbot.db")
    with engine.begin() as conn:
        _run(conn)
