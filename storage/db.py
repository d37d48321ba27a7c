"""The database handle: one async engine, sessions, and migrations to head."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Result, event, make_url, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from storage import sqlite_inline

if TYPE_CHECKING:
    from storage.uow import UnitOfWork

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATE_LOCK = 0x62696E6D  # "binm": the advisory lock key held while migrating
SQLITE_LOCK_TIMEOUT = 30.0  # seconds a statement waits for another writer to finish
# The tables a person's context is made of (who they are, their roles, their groups and the
# languages of these) and the directory of zones and BINs. What this process commits to them
# is recorded in `Database.changes`, so that copies kept in memory are known to be stale.
PERSON_TABLES = frozenset({"persons", "identities", "role_grants", "memberships"})
DIRECTORY_TABLES = PERSON_TABLES | {"zones", "bins", "groups"}
_CHANGED = "binbot.changed"
# Execution options for a bulk statement on one of these tables that changes nothing a
# context or the directory is made of (a nudge's cooldown, say).
NOT_A_DIRECTORY_CHANGE = {"binbot_directory_change": False}
_ALL = -1  # in a session's set of changed persons: a change that may concern anyone
WROTE = "binbot.wrote"  # session.info: the open transaction has written something


class Changes:
    """Which committed changes of this process concern whom, by generation.

    A reader notes `generation` before it reads; what it read is stale once `stale(noted,
    person_id)` says so. Changes made by other processes (the admin shell, other `binbot run`
    processes) are not seen here: readers that keep copies bound their age as well.
    """

    def __init__(self) -> None:
        self.generation = 0
        self._everyone = 0
        self._persons: dict[int, int] = {}

    def stale(self, noted: int, person_id: int | None = None) -> bool:
        """Whether a change committed after `noted` concerns `person_id` (None: the directory)."""
        if self._everyone > noted:
            return True
        return person_id is not None and self._persons.get(person_id, 0) > noted

    def committed(self, persons: set[int]) -> None:
        self.generation += 1
        if _ALL in persons:
            self._everyone = self.generation
            self._persons.clear()
        else:
            for person_id in persons:
                self._persons[person_id] = self.generation


class Database:
    """An async engine and its session factory. Connects lazily, never at import time."""

    def __init__(
        self, url: str, *, echo: bool = False, sqlite_lock_timeout: float = SQLITE_LOCK_TIMEOUT
    ) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.is_postgres = url.startswith("postgresql")
        # hide_parameters: a failed statement's error (which the core logs) would otherwise
        # carry its values, such as a person's display name.
        kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
        if self.is_sqlite:
            # sqlite3 on the event loop rather than on aiosqlite's thread (see sqlite_inline).
            path = make_url(url).database or ":memory:"
            kwargs["async_creator"] = sqlite_inline.creator(path, timeout=sqlite_lock_timeout)
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.changes = Changes()
        session_class = type("DatabaseSession", (Session,), {})
        event.listen(session_class, "after_flush", _note_flush)
        event.listen(session_class, "do_orm_execute", _note_statement)
        event.listen(session_class, "after_commit", self._after_commit)
        event.listen(session_class, "after_rollback", _forget)
        self.sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=session_class
        )

    def _after_commit(self, session: Session) -> None:
        session.info.pop(WROTE, None)
        persons = session.info.pop(_CHANGED, None)
        if persons:
            self.changes.committed(persons)

    def unit_of_work(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """A unit of work (storage/uow.py): one transaction and its repositories."""
        from storage.uow import unit_of_work

        return unit_of_work(self)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    async def upgrade(self) -> None:
        """Migrate the schema to head (idempotent).

        On PostgreSQL a transaction-scoped advisory lock serialises processes that start
        together, so only the first migrates and the others find the schema at head.
        """
        async with self.engine.begin() as conn:
            if self.is_postgres:
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATE_LOCK}
                )
            await conn.run_sync(_upgrade_sync)

    async def current_revision(self) -> str | None:
        """The migration level of the database, or None when empty."""
        from alembic.runtime.migration import MigrationContext

        async with self.engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )

    async def dispose(self) -> None:
        await self.engine.dispose()


def alembic_config(connection: Any = None) -> Any:
    """An Alembic Config pointing at storage/migrations, optionally bound to a connection."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest migration's revision id."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _upgrade_sync(connection: Any) -> None:
    from alembic import command

    command.upgrade(alembic_config(connection), "head")


async def changes_pending(session: AsyncSession) -> bool:
    """Flush, and say whether the session's transaction changed DIRECTORY_TABLES so far."""
    await session.flush()
    return bool(session.info.get(_CHANGED))


def _note_flush(session: Session, _flush: UOWTransaction) -> None:
    if session.new or session.dirty or session.deleted:
        session.info[WROTE] = True
    for obj in chain(session.new, session.dirty, session.deleted):
        table = getattr(obj, "__table__", None)
        if table is None or table.name not in DIRECTORY_TABLES:
            continue
        changed: set[int] = session.info.setdefault(_CHANGED, set())
        if table.name == "persons":
            changed.add(obj.id)
        elif table.name in PERSON_TABLES:
            changed.add(obj.person_id)
        else:
            changed.add(_ALL)


def _note_statement(state: ORMExecuteState) -> Result[Any] | None:
    """Note what a statement changed: INSERT, UPDATE and DELETE statements write (unless they
    matched no row: a claim that lost writes nothing), and bulk ones may concern anyone."""
    if not (state.is_insert or state.is_update or state.is_delete):
        return None
    result = state.invoke_statement()
    if getattr(result, "rowcount", -1) == 0:
        return result
    state.session.info[WROTE] = True
    if state.execution_options.get("binbot_directory_change", True) is not False:
        table = getattr(state.statement, "table", None)
        if table is None or table.name in DIRECTORY_TABLES:
            state.session.info.setdefault(_CHANGED, set()).add(_ALL)
    return result


def _forget(session: Session) -> None:
    session.info.pop(_CHANGED, None)
    session.info.pop(WROTE, None)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.close()


async def open_database(url: str, *, migrate: bool = True) -> Database:
    """Open a database and (by default) bring its schema to head."""
    db = Database(url)
    if migrate:
        await db.upgrade()
    return db


def run(coro: Any) -> Any:
    """Run a coroutine from synchronous code (the CLI)."""
    return asyncio.run(coro)
