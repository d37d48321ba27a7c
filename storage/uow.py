"""The unit of work: one transaction and the repositories over it (cosmicpython's pattern).

    async with db.unit_of_work() as uow:
        group = await uow.groups.group(group_id)
        ...
        await uow.commit()

Nothing is written unless `commit()` is called; leaving the block without it rolls back.
Work that must wait until the transaction is over (sending a reply, posting in a group) is
handed to `after_commit`: it runs once the block is left, outside any transaction, and never
when the block failed before the commit that would have made it true.
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from storage.alerts import AlertRepo
from storage.audit_log import AuditLogRepo
from storage.conversations import ConversationRepo
from storage.db import WROTE, changes_pending
from storage.desk import DeskRepo
from storage.desk_bins import BinsRepo
from storage.figures import FigureRepo
from storage.group_rights import RightsRepo
from storage.groups import GroupRepo
from storage.media import MediaRepo
from storage.repo import AuditRepo, DirectoryRepo, InviteRepo, PeopleRepo, StateRepo
from storage.retention import RetentionRepo
from storage.roles import RoleRepo

if TYPE_CHECKING:
    from storage.db import Database

AfterCommit = Callable[[], Awaitable[Any]]

# The unit of work open in the running task, if any (see `current`).
_CURRENT: contextvars.ContextVar[UnitOfWork | None] = contextvars.ContextVar(
    "binbot_unit_of_work", default=None
)


class UncommittedChanges(RuntimeError):
    """A unit of work was left with changes that were never committed (a programming error:
    what it would have told someone did not happen)."""


class UnitOfWork:
    """One transaction, its repositories, and what is to happen once it is committed."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self.directory = DirectoryRepo(session)
        self.people = PeopleRepo(session)
        self.invites = InviteRepo(session)
        self.audit = AuditRepo(session)
        self.state = StateRepo(session)
        self.groups = GroupRepo(session)
        self.alerts = AlertRepo(session)
        self.conversations = ConversationRepo(session)
        self.retention = RetentionRepo(session)
        self.figures = FigureRepo(session)
        self.desk = DeskRepo(session)
        self.audit_log = AuditLogRepo(session)
        self.media = MediaRepo(session)
        self.rights = RightsRepo(session)
        self.bins = BinsRepo(session)
        self.roles = RoleRepo(session)
        self.committed = False
        self._pending: list[AfterCommit] = []
        self._released: list[AfterCommit] = []

    async def commit(self) -> None:
        """Make everything done so far durable; what was handed to `after_commit` until now
        will run when the block is left, even if later work in it fails."""
        await self._session.commit()
        self.committed = True
        self._released.extend(self._pending)
        self._pending.clear()

    async def rollback(self) -> None:
        """Undo everything since the last commit, and what it would have triggered."""
        await self._session.rollback()
        self._pending.clear()

    def after_commit(self, action: AfterCommit) -> None:
        """Run `action` once this unit of work is over (in order of registration)."""
        self._pending.append(action)

    @property
    def has_changes(self) -> bool:
        """Whether anything was written (or is about to be) since the last commit."""
        s = self._session
        if s.new or s.deleted or s.info.get(WROTE):
            return True
        return any(s.is_modified(obj) for obj in s.dirty)

    async def changes_contexts(self) -> bool:
        """Flush, and say whether this transaction changed so far what a person's context or
        the directory is made of (see storage.db.Changes)."""
        return await changes_pending(self._session)

    async def flush(self) -> None:
        """Send pending changes to the database (ids become known), without committing."""
        await self._session.flush()


def current() -> UnitOfWork | None:
    """The unit of work open in this task, if any.

    Replies and posts decided while it is open wait for it (see bot/context.py), and a
    platform call made while one is open is a defect that the test fakes report.
    """
    return _CURRENT.get()


def detach() -> contextvars.Context:
    """A copy of the current context in which no unit of work is open (for new tasks)."""
    ctx = contextvars.copy_context()
    ctx.run(_CURRENT.set, None)
    return ctx


@asynccontextmanager
async def unit_of_work(db: Database) -> AsyncIterator[UnitOfWork]:
    """Open a unit of work on `db` and mark it as this task's (see `current`).

    On leaving normally: roll back what was not read-only and not committed (an error: see
    UncommittedChanges), then run the `after_commit` actions. On an error: roll back, run
    only the actions a commit had released, and re-raise.
    """
    session = db.sessions()
    uow = UnitOfWork(session)
    token = _CURRENT.set(uow)
    error: BaseException | None = None
    try:
        yield uow
        if uow.has_changes:
            raise UncommittedChanges("unit of work left with uncommitted changes")
    except BaseException as exc:
        error = exc
    finally:
        _CURRENT.reset(token)
        await session.close()  # rolls back whatever was not committed
    actions = uow._released + ([] if error is not None else uow._pending)
    uow._released, uow._pending = [], []
    for action in actions:
        try:
            await action()
        except Exception as exc:  # each action is independent: one failing stops no other
            error = error or exc
    if error is not None:
        raise error
