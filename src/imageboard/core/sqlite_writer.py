"""SQLite's connections in one server process, and its units of work.

``SqliteDirect`` runs SQLite's units of work (``core.db.Database.writer``) and the statements
marked with ``core.sqlite_direct.direct``: their transaction is begun and ended on ``sqlite3``
itself, their reads before the first write run outside it, and units that end while others
wait share one commit. Why it is safe to call ``sqlite3`` synchronously on the event loop: a
write runs once the unit's ``BEGIN IMMEDIATE`` holds the write lock, waited for
asynchronously, so no statement of the transaction can be refused with SQLITE_BUSY; a read
outside it never waits for a lock (WAL), and in the rare moment SQLite refuses one, it goes
through SQLAlchemy, which waits.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine

from imageboard.core.sqlite_direct import DirectResult, DirectStatement, Form, run
from imageboard.core.sqlite_inline import InlineConnection, retrying_busy

if TYPE_CHECKING:
    from imageboard.core.db import WriteSession

# A unit of work that ends while others wait for the turn leaves its writes to be committed
# with theirs (``SqliteDirect.unit_of_work``): at most this many units share one commit.
MAX_SHARED_COMMIT = 16


class SqliteDirect:
    """A SQLite database's direct statements and the units of work that run them.

    - The write engine's one connection is this object's ``writer``: its pool opens that
      ``sqlite3`` connection (``inline_writer``), and direct statements run on it too, in the
      same transaction. Only the pool opens it, since opening runs SQLAlchemy's set-up
      (pragmas, a ROLLBACK) on it: each unit of work first makes sure the pool has.
    - A unit of work (``unit_of_work``) holds the process's turn at it until its block ends,
      as the one-connection pool did (then it may pass the turn on before its commit: see
      ``unit_of_work``). Its transaction is begun by its first write, directly or
      through SQLAlchemy, whichever comes first (``core.db`` skips its BEGIN then), and is
      committed or rolled back here; SQLAlchemy's commit only flushes the session's rows then
      (``InlineConnection.transaction_held``). A reply's unit never enters SQLAlchemy's
      transaction machinery, which cost more than all its statements.
    - Reads made before the first write run on the writer connection in autocommit, outside
      the write transaction, each on the latest commit, as every statement does on PostgreSQL
      (READ COMMITTED): other processes queue for the write lock only while this one writes.
      On the writer rather than ``reader``: any commit empties the page cache of every other
      connection, so pages read on ``reader`` were read again for the writes that followed
      (a reply read 3 pages from the file instead of 9.5, one process).
    - ``reader`` serves the public pages' reads (``read``), which hold no turn. A direct
      statement runs from start to end without yielding to the event loop, so no two of
      them use it at once.
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._reader: sqlite3.Connection | None = None
        self._writer: sqlite3.Connection | None = None
        self.turn = asyncio.Lock()
        self._queued = 0  # units waiting for the turn
        self._uncommitted: list[asyncio.Future[None]] = []  # units whose writes wait for a commit
        self._left_over: set[asyncio.Task[None]] = set()
        self._inline: InlineConnection | None = None
        self.engine: AsyncEngine | None = None  # the write engine (``core.db.Database``)
        self.enabled = True  # off: every statement goes through SQLAlchemy (tracing wants that)
        # Set by observability: (engine label, SQL, seconds) for each statement run.
        self.observe: Callable[[str, str, float], None] | None = None

    def reader(self) -> sqlite3.Connection:
        if self._reader is None:
            reader = self._connect()
            reader.execute("PRAGMA query_only=ON")
            self._reader = reader
        return self._reader

    async def inline_writer(self) -> InlineConnection:
        """The write engine's ``async_creator``."""
        self._writer = self._connect()
        # A unit that shares a commit writes inside a savepoint: the pages as they were before
        # it (its statement journal) are kept in memory, not in a temporary file.
        self._writer.execute("PRAGMA temp_store=MEMORY")
        self._inline = InlineConnection(self._writer)
        return self._inline

    async def _opened_writer(self) -> sqlite3.Connection:
        if self._writer is None or _closed(self._writer):
            assert self.engine is not None
            async with self.engine.connect():
                pass  # the pool opens it, and keeps it
        assert self._writer is not None
        return self._writer

    async def run(self, found: DirectStatement, params: Any) -> DirectResult | None:
        """``found`` with ``params``, or None when it must go through SQLAlchemy after all."""
        writer = self._writer
        form = self._form(found, params)
        if writer is None or form is None:
            return None  # outside a unit of work of this object's, or not to run directly
        if form.reads and not writer.in_transaction:
            return self._measured(writer, "read", form, params)
        if not writer.in_transaction:
            await self._begin(writer)
        return self._measured(writer, "write", form, params)

    def read(self, found: DirectStatement, params: Any) -> DirectResult | None:
        """A read on ``reader`` (``core.db.TableConnection``), or None when it must go
        through SQLAlchemy after all."""
        form = self._form(found, params) if self.enabled else None
        if form is None or not form.reads:
            return None
        return self._measured(self.reader(), "read", form, params)

    def _form(self, found: DirectStatement, params: Any) -> Form | None:
        if self.engine is None:
            return None
        return found.form(tuple(params[0] if isinstance(params, list) else params), self.engine.dialect)

    def _measured(self, connection: sqlite3.Connection, label: str, form: Form, params: Any) -> DirectResult | None:
        started = time.perf_counter()
        result = run(connection, form, params, fall_back_if_busy=label == "read")
        if self.observe is not None and result is not None:
            self.observe(label, form.sql, time.perf_counter() - started)
        return result

    async def _begin(self, writer: sqlite3.Connection) -> None:
        """BEGIN IMMEDIATE: the write lock, waited for without blocking the event loop (and
        measured, as the engine's BEGIN is: the wait for the lock shows there)."""
        started = time.perf_counter()
        await retrying_busy(lambda: writer.execute("BEGIN IMMEDIATE"))
        if self.observe is not None:
            self.observe("write", "BEGIN IMMEDIATE", time.perf_counter() - started)

    @asynccontextmanager
    async def unit_of_work(self, make_session: Callable[[], WriteSession]) -> AsyncIterator[WriteSession]:
        """``core.db.Database.writer`` on SQLite: commits when the block ends without error,
        rolls back otherwise (cancellation included: the next unit must not inherit it).

        Commits are shared: a unit whose block ends while others in this process wait for the
        turn passes the turn on with its writes uncommitted, and returns once the last of
        them commits all (or raises that commit's error). Every unit after the first writes
        inside a savepoint, so one that fails undoes its own writes only. A reply's commit
        wrote a dozen pages; shared, the pages they have in common (their board, the indexes'
        and the search index's) are written once, and the other process waits for the lock
        fewer times."""
        await self._take_turn()
        passed_on = False  # the turn handed to the next unit, these writes waiting for it
        writer: sqlite3.Connection | None = None
        try:
            writer = await self._opened_writer()
            inline = self._inline
            assert inline is not None
            joined = writer.in_transaction  # earlier units' writes wait in it to be committed
            if joined:
                writer.execute("SAVEPOINT unit_of_work")
            inline.transaction_held = True
            session = make_session()
            try:
                yield session
                await _end_session(session, commit=True)  # its rows flushed; committed below
                if joined:
                    writer.execute("RELEASE unit_of_work")
            except BaseException as error:
                await _end_session(session, commit=False)
                self._undo(writer, joined, error)
                if self._uncommitted and not self._queued and _open(writer):
                    await self._commit(writer, quietly=True)  # the earlier units' writes
                raise
            if _open(writer):
                if self._queued and len(self._uncommitted) < MAX_SHARED_COMMIT:
                    committed = asyncio.get_running_loop().create_future()
                    committed.add_done_callback(_retrieved)
                    self._uncommitted.append(committed)
                    passed_on = True
                    self.turn.release()
                    await asyncio.shield(committed)
                else:
                    await self._commit(writer)
        finally:
            if not passed_on:
                if self._inline is not None:
                    self._inline.transaction_held = writer is not None and _open(writer)
                self.turn.release()

    async def _take_turn(self) -> None:
        self._queued += 1
        try:
            await self.turn.acquire()
        except BaseException:
            self._queued -= 1
            if self._uncommitted and not self._queued and not self.turn.locked():
                # The unit that passed the turn on counted on this one to commit its writes.
                task = asyncio.get_running_loop().create_task(self._commit_left_over())
                self._left_over.add(task)
                task.add_done_callback(self._left_over.discard)
            raise
        self._queued -= 1

    async def _commit_left_over(self) -> None:
        async with self.turn:
            writer = self._writer
            if self._uncommitted and writer is not None and _open(writer):
                await self._commit(writer, quietly=True)
            if self._inline is not None:
                self._inline.transaction_held = writer is not None and _open(writer)

    async def _commit(self, writer: sqlite3.Connection, *, quietly: bool = False) -> None:
        """Commit the writes of this unit and of those waiting for it. ``quietly``: on behalf
        of the waiting units only, which are the ones told if it fails."""
        waiting, self._uncommitted = self._uncommitted, []
        try:
            await retrying_busy(writer.commit)
        except BaseException as error:
            if _open(writer):
                writer.rollback()
            for committed in waiting:
                committed.set_exception(error)
            if not quietly:
                raise
            return
        for committed in waiting:
            committed.set_result(None)

    def _undo(self, writer: sqlite3.Connection, joined: bool, error: BaseException) -> None:
        """Roll back the failed unit's writes, and only them."""
        if _open(writer):
            if joined:
                writer.execute("ROLLBACK TO unit_of_work")
                writer.execute("RELEASE unit_of_work")
            else:  # it began the transaction: nobody else's writes are in it
                writer.rollback()
        elif self._uncommitted:  # SQLite ended the transaction under them (a full disk, say)
            waiting, self._uncommitted = self._uncommitted, []
            for committed in waiting:
                committed.set_exception(error)

    def close(self) -> None:
        waiting, self._uncommitted = self._uncommitted, []
        for committed in waiting:
            committed.set_exception(RuntimeError("the database was closed before this write was committed"))
        for connection in (self._reader, self._writer):
            if connection is not None:
                connection.close()
        self._reader = self._writer = None


def _open(connection: sqlite3.Connection) -> bool:
    """Whether the connection is open with a transaction in progress."""
    return not _closed(connection) and connection.in_transaction


async def _end_session(session: WriteSession, *, commit: bool) -> None:
    """Commit or roll back SQLAlchemy's session, if it began (an add or a statement of its
    own), and release it: its rows are flushed, and the transaction itself is left to the
    unit of work (``InlineConnection.transaction_held``)."""
    if session.sync_session.get_transaction() is None:
        return  # never began: nothing to flush or release
    try:
        await (session.commit() if commit else session.rollback())
    finally:
        await session.close()


def _retrieved(future: asyncio.Future[None]) -> None:
    """Mark a shared commit's error as seen, should its unit have been cancelled meanwhile."""
    if not future.cancelled():
        future.exception()


def _closed(connection: sqlite3.Connection) -> bool:
    try:
        connection.total_changes  # noqa: B018  (raises once the connection is closed)
    except sqlite3.ProgrammingError:
        return True
    return False
