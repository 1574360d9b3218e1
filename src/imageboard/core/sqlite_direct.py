"""The hottest table statements, run straight on SQLite's connection inside a write transaction.

Every reply runs the same handful of table statements under SQLite's write lock (its board,
its number, its thread, its row, its search document, its outbox rows). Through SQLAlchemy
each costs 30-40 µs of Python — compiled-cache look-up, execution context, events, result
metadata, and on this async engine a greenlet per call and two switches per driver call —
against about 3 µs for SQLite to run it. A statement marked with :func:`direct` is compiled
once per set of parameter names and, inside a write session that holds SQLite's write lock,
handed to ``sqlite3`` as it is: its parameters through the same type processors SQLAlchemy
would use, its rows through the same result processors, so what is written and read is
exactly what SQLAlchemy would write and read (``tests/integration/test_sqlite_direct.py``).

Only statements the module defines once are marked: compiling is costly, and only a statement
that comes back every time repays it. PostgreSQL runs them through SQLAlchemy as before.

``SqliteDirect`` runs SQLite's units of work (``core.db.Database.writer``): their transaction
is begun and ended on ``sqlite3`` itself, and their reads before the first write run outside
it. Why it is safe to call ``sqlite3`` synchronously on the event loop: a write runs once the
unit's ``BEGIN IMMEDIATE`` holds the write lock, waited for asynchronously, so no statement of
the transaction can be refused with SQLITE_BUSY; a read outside it never waits for a lock
(WAL), and in the rare moment SQLite refuses one, it goes through SQLAlchemy, which waits.
"""

from __future__ import annotations

import asyncio
import operator
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, MultipleResultsFound, NoResultFound
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

from imageboard.core.sqlite_inline import InlineConnection, is_busy, retrying_busy

if TYPE_CHECKING:
    from imageboard.core.db import WriteSession

S = TypeVar("S", bound=ClauseElement)

# A unit of work that ends while others wait for the turn leaves its writes to be committed
# with theirs (``SqliteDirect.unit_of_work``): at most this many units share one commit.
MAX_SHARED_COMMIT = 16

# Statements marked by ``direct``, by id (they live as long as the module that defines them).
_MARKED: dict[int, DirectStatement] = {}
_MISSING = object()


def direct(statement: S) -> S:
    """Mark a statement built once at import time to run straight on SQLite's connection in
    write sessions (see the module's docstring); returns it unchanged."""
    _MARKED[id(statement)] = DirectStatement(statement)
    return statement


def marked(statement: object) -> DirectStatement | None:
    found = _MARKED.get(id(statement))
    return found if found is not None and found.statement is statement else None


class DirectRow(tuple[Any, ...]):
    """A row as SQLAlchemy's ``Row`` is used here: a tuple, its columns as attributes, and
    ``_mapping``. Each statement's form makes a subclass naming its columns."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()

    @property
    def _mapping(self) -> dict[str, Any]:
        return dict(zip(self._fields, self, strict=True))

    def _asdict(self) -> dict[str, Any]:
        return self._mapping


def _row_class(keys: tuple[str, ...]) -> type[DirectRow]:
    attributes: dict[str, Any] = {"__slots__": (), "_fields": keys}
    for index, key in enumerate(keys):
        attributes[key] = property(operator.itemgetter(index))
    return type("DirectRow", (DirectRow,), attributes)


class _Form:
    """The statement compiled for one set of parameter names."""

    __slots__ = ("binds", "processed", "reads", "row", "sql")

    def __init__(self, compiled: SQLCompiler, dialect: Dialect) -> None:
        self.sql: str = compiled.string
        self.reads = not (compiled.isinsert or compiled.isupdate or compiled.isdelete)
        defaults: dict[str, Any] = {name: bind.value for name, bind in compiled.binds.items() if not bind.required}
        for column in [*compiled.insert_prefetch, *compiled.update_prefetch]:
            default = column.default if column in compiled.insert_prefetch else column.onupdate
            if default is None or not getattr(default, "is_scalar", False):
                raise _Unsupported(f"column {column.key} has a default computed at execution")
            defaults[column.key] = default.arg  # type: ignore[attr-defined]
        processors: dict[str, Any] = dict(compiled._bind_processors)
        if any(not callable(process) for process in processors.values()):
            raise _Unsupported("a parameter of a tuple type")
        self.binds: tuple[tuple[str, Callable[[Any], Any] | None, Any], ...] = tuple(
            (name, processors.get(name), defaults.get(name, _MISSING)) for name in compiled.positiontup or ()
        )
        columns = compiled._result_columns
        self.row: type[DirectRow] | None = _row_class(tuple(c.keyname for c in columns)) if columns else None
        converters = [c.type._cached_result_processor(dialect, None) for c in columns]
        # (index, processor) of the columns whose values SQLAlchemy would convert (times, flags).
        self.processed: tuple[tuple[int, Callable[[Any], Any]], ...] = tuple(
            (index, convert) for index, convert in enumerate(converters) if convert is not None
        )

    def values(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        values = []
        for name, process, default in self.binds:
            value = params.get(name, default)
            if value is _MISSING:
                raise _Unsupported(f"no value for the parameter {name}")
            values.append(value if process is None or value is None else process(value))
        return tuple(values)

    def rows(self, raw: list[tuple[Any, ...]]) -> list[DirectRow]:
        row, processed = self.row, self.processed
        assert row is not None
        if not processed:
            return [row(r) for r in raw]
        rows = []
        for r in raw:
            values = list(r)
            for index, process in processed:
                if values[index] is not None:  # NULL stays None, as the processors leave it
                    values[index] = process(values[index])
            rows.append(row(values))
        return rows


class _Unsupported(Exception):
    """The statement cannot run directly: it goes through SQLAlchemy instead."""


class DirectStatement:
    __slots__ = ("_forms", "statement")

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._forms: dict[tuple[str, ...], _Form | None] = {}

    def form(self, keys: tuple[str, ...], dialect: Dialect) -> _Form | None:
        try:
            return self._forms[keys]
        except KeyError:
            pass
        try:
            compiled = cast(SQLCompiler, self.statement.compile(dialect=dialect, column_keys=list(keys)))
            if compiled.literal_execute_params or compiled.post_compile_params:
                raise _Unsupported("the statement expands its parameters at execution")
            form: _Form | None = _Form(compiled, dialect)
        except _Unsupported:
            form = None
        if len(self._forms) < 16:  # a handful of parameter sets per statement
            self._forms[keys] = form
        return form


class DirectResult:
    """The parts of SQLAlchemy's ``Result`` (and ``ScalarResult``) the repositories use."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: Sequence[Any], rowcount: int = -1) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)

    def all(self) -> list[Any]:
        return list(self._rows)

    fetchall = all

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def one_or_none(self) -> Any:
        if len(self._rows) > 1:
            raise MultipleResultsFound("Multiple rows were found when one or none was required")
        return self._rows[0] if self._rows else None

    def one(self) -> Any:
        if not self._rows:
            raise NoResultFound("No row was found when one was required")
        return self.one_or_none()

    def scalars(self) -> DirectResult:
        return DirectResult([row[0] for row in self._rows], self.rowcount)

    def mappings(self) -> DirectResult:
        return DirectResult([row._mapping for row in self._rows], self.rowcount)

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalar_one_or_none(self) -> Any:
        row = self.one_or_none()
        return None if row is None else row[0]


def run(
    connection: sqlite3.Connection,
    form: _Form,
    params: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    fall_back_if_busy: bool,
) -> DirectResult | None:
    """The statement's result, or None when it needs SQLAlchemy after all: for these
    parameters, or (``fall_back_if_busy``) to wait for a lock SQLite refused it — a read
    outside the write transaction, which SQLite refuses only in rare moments (a checkpoint)."""
    many = params if isinstance(params, Sequence) else (params,)
    try:
        values = [form.values(one) for one in many]
    except _Unsupported:
        return None
    rows: list[DirectRow] = []
    count = 0
    for one in values:
        try:
            cursor = connection.execute(form.sql, one)
            if form.row is not None:
                rows.extend(form.rows(cursor.fetchall()))
        except sqlite3.OperationalError as error:
            if fall_back_if_busy and is_busy(error):
                return None
            raise DBAPIError.instance(form.sql, one, error, sqlite3.Error) from error
        except sqlite3.Error as error:
            raise DBAPIError.instance(form.sql, one, error, sqlite3.Error) from error
        count += cursor.rowcount
    return DirectResult(rows, count)


class SqliteDirect:
    """A SQLite database's direct statements and the units of work that run them.

    - The write engine's one connection is this object's ``writer``: its pool opens that
      ``sqlite3`` connection (``inline_writer``), and direct statements run on it too, in the
      same transaction. Only the pool opens it, since opening runs SQLAlchemy's set-up
      (pragmas, a ROLLBACK) on it: each unit of work first makes sure the pool has.
    - A unit of work (``unit_of_work``) holds the process's turn at it from start to end, as
      the one-connection pool did. Its transaction is begun by its first write, directly or
      through SQLAlchemy, whichever comes first (``core.db`` skips its BEGIN then), and is
      committed here unless SQLAlchemy began it — a reply's unit never enters SQLAlchemy's
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

    def _form(self, found: DirectStatement, params: Any) -> _Form | None:
        if self.engine is None:
            return None
        return found.form(tuple(params[0] if isinstance(params, list) else params), self.engine.dialect)

    def _measured(self, connection: sqlite3.Connection, label: str, form: _Form, params: Any) -> DirectResult | None:
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
                if self._uncommitted and not self._queued and writer.in_transaction:
                    await self._commit(writer, quietly=True)  # the earlier units' writes
                raise
            if writer.in_transaction:
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
