"""Database engines and the unit of work.

Reads and writes use different session types so that a query that must see the primary
(anything inside a write) cannot be handed a replica session by mistake; repositories type
their parameters accordingly. Services never commit: ``Database.writer()`` runs the callbacks
queued with ``WriteSession.before_commit`` (the events' outbox rows), commits when the block
ends, then runs those queued with ``WriteSession.after_commit`` (event publishing), so nothing
is announced for a transaction that rolled back.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from sqlalchemy import MetaData, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

from imageboard.core.errors import ServiceUnavailable
from imageboard.core.sqlite_direct import marked
from imageboard.core.sqlite_inline import inline_connector, sqlite_connector
from imageboard.core.sqlite_writer import SqliteDirect

log = logging.getLogger(__name__)

# Set for a request whose client wrote a moment ago: its reads go to the primary, so a
# poster sees their own post even while the replicas have not caught up.
read_from_primary: ContextVar[bool] = ContextVar("read_from_primary", default=False)
# A SQLite write session's key in its ``info``: the database's ``SqliteDirect``.
_SQLITE_DIRECT = "imageboard_sqlite_direct"

# Stable constraint names so Alembic migrations read the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ReadSession(AsyncSession):
    """A session for queries only; may be bound to a read replica."""


class WriteSession(AsyncSession):
    """A session inside a write transaction on the primary. On SQLite, the statements marked
    with ``core.sqlite_direct.direct`` skip SQLAlchemy's execution (see that module), and
    those that only read run outside the transaction until it has begun."""

    if not TYPE_CHECKING:  # typed as AsyncSession.execute: a DirectResult offers the same reads

        async def execute(self, statement, params=None, **kwargs):
            found = marked(statement) if not kwargs else None
            if found is not None:
                direct = self.info.get(_SQLITE_DIRECT)
                if direct is not None and direct.enabled:
                    if not self.sync_session._is_clean():
                        await self.flush()  # as autoflush would: the statement must see pending rows
                    result = await direct.run(found, params or {})
                    if result is not None:
                        return result
            return await super().execute(statement, params, **kwargs)

    def after_commit(self, callback: Callable[[], Awaitable[None]]) -> None:
        self.info.setdefault("after_commit", []).append(callback)

    def before_commit(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Run ``callback`` when the unit of work ends without error, just before the commit,
        in the transaction: for rows best written together at the end (a batch of events)."""
        self.info.setdefault("before_commit", []).append(callback)


class TableConnection(AsyncConnection):
    """``Database.table_reader``'s connection on SQLite: a statement marked with
    ``core.sqlite_direct.direct`` runs on the database's own reader connection
    (``SqliteDirect.read``); a pooled connection is checked out only for
    another statement. Autocommit either way: each statement reads the latest commit."""

    def __init__(self, engine: AsyncEngine, *, direct: SqliteDirect) -> None:
        super().__init__(engine)
        self.direct = direct

    if not TYPE_CHECKING:  # typed as AsyncConnection.execute: a DirectResult offers the same reads

        async def execute(self, statement, parameters=None, **kwargs):
            found = marked(statement) if not kwargs else None
            if found is not None:
                result = self.direct.read(found, parameters or {})
                if result is not None:
                    return result
            if self.sync_connection is None:
                await self.start()
            return await super().execute(statement, parameters, **kwargs)


# What a query that runs table statements only (columns of tables, no entities) can be given:
# any session, or the bare connection of ``Database.table_reader``.
TableReads = ReadSession | WriteSession | AsyncSession | AsyncConnection


def _sqlite_pragmas(engine: AsyncEngine, *, immediate: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite would defer it).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    if not immediate:
        # Readers run each query in a transaction of its own (autocommit), as READ COMMITTED
        # does on PostgreSQL: the read paths already allow for a commit between two of their
        # queries, and a reader session saves the BEGIN and COMMIT of every page.
        return

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A write transaction that starts with a read and later writes cannot upgrade its
        # lock when another writer got there first (SQLITE_BUSY without waiting); taking the
        # write lock up front makes writers queue for it instead (core.sqlite_inline retries).
        # Already begun when the unit of work's direct statements wrote first (core.sqlite_writer).
        if not conn.connection.driver_connection.native.in_transaction:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(
    url: str, *, pool_size: int, max_overflow: int, writer: bool, sqlite_connect: Callable[[], Any] | None = None
) -> AsyncEngine:
    """``sqlite_connect``: the ``async_creator`` of a SQLite engine, instead of a connection of
    its own each time (the writer's is the one ``core.sqlite_writer`` writes on)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            from pathlib import Path

            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # One writer connection per process: SQLite admits one writer at a time anyway, and
        # queueing in the pool is cheaper than spinning on the file lock.
        connect_args, connect_params = parsed.get_dialect()().create_connect_args(parsed)
        engine = create_async_engine(
            url,
            pool_size=1 if writer else pool_size,
            max_overflow=0 if writer else max_overflow,
            pool_timeout=30,
            # On the loop's thread, not aiosqlite's: see core.sqlite_inline.
            async_creator=sqlite_connect or inline_connector(connect_args, connect_params),
        )
        _sqlite_pragmas(engine, immediate=writer)
        return engine
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=max_overflow, pool_recycle=1800)
    _check_on_checkout(engine)
    return engine


# A connection idle in the pool longer than this is pinged before use.
PING_AFTER_IDLE_SECONDS = 10.0


def _check_on_checkout(engine: AsyncEngine) -> None:
    """Hand out only live connections, cheaply: instead of ``pool_pre_ping`` (a transaction
    around an empty query, three round trips before every checkout, a seventh of a reply's
    time on PostgreSQL), a connection the server closed is known without asking (asyncpg saw
    the socket close), and only one idle for a while is pinged, for the links that die
    silently. Raising ``DisconnectionError`` makes the pool discard it and connect anew."""

    @event.listens_for(engine.sync_engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        driver = getattr(dbapi_connection, "_connection", None)
        is_closed = getattr(driver, "is_closed", None)
        if is_closed is not None and is_closed():
            raise DisconnectionError("the server closed this connection")
        idle_since = record.info.get("idle_since")
        if idle_since is not None and time.monotonic() - idle_since > PING_AFTER_IDLE_SECONDS:
            try:
                dbapi_connection.ping()
            except Exception as exc:
                raise DisconnectionError("the connection did not answer a ping") from exc


class Database:
    def __init__(
        self,
        url: str,
        *,
        replica_url: str | None = None,
        pool_size: int = 10,
        max_overflow: int = 10,
    ) -> None:
        self.url = url
        self.dialect = make_url(url).get_backend_name()
        self.sqlite_direct = _sqlite_direct(url)
        self.write_engine = make_engine(
            url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            writer=True,
            sqlite_connect=self.sqlite_direct.inline_writer if self.sqlite_direct is not None else None,
        )
        if self.sqlite_direct is not None:
            self.sqlite_direct.engine = self.write_engine
        self.has_replica = bool(replica_url)
        self.read_engine = make_engine(replica_url or url, pool_size=pool_size, max_overflow=max_overflow, writer=False)
        # Primary reads for read-your-own-writes; without a replica the reader is the primary.
        self.primary_read_engine = (
            make_engine(url, pool_size=pool_size, max_overflow=max_overflow, writer=False)
            if replica_url
            else self.read_engine
        )
        # Counts the write transactions this process committed: what a reader remembers is
        # good only while it is unchanged (see ``boards``' version memo).
        self.write_generation = 0
        direct = {_SQLITE_DIRECT: self.sqlite_direct} if self.sqlite_direct is not None else {}
        self._writes = async_sessionmaker(self.write_engine, class_=WriteSession, expire_on_commit=False, info=direct)
        self._reads = async_sessionmaker(self.read_engine, class_=ReadSession, expire_on_commit=False)
        self._primary_reads = async_sessionmaker(self.primary_read_engine, class_=ReadSession, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @asynccontextmanager
    async def writer(self) -> AsyncIterator[WriteSession]:
        """A unit of work: commits when the block ends without error, rolls back otherwise.
        Losing the database on the way raises :class:`ServiceUnavailable` (503)."""
        direct = self.sqlite_direct
        unit = direct.unit_of_work(self._writes) if direct is not None and direct.enabled else self._session_unit()
        try:
            async with unit as session:
                yield session
                for callback in session.info.pop("before_commit", []):
                    await callback()
        except Exception as exc:
            _raise_if_unreachable(exc, writing=True)
            raise
        finally:
            # Also after a failure: a commit may have gone through before the error.
            self.write_generation += 1
        for callback in session.info.pop("after_commit", []):
            try:
                await callback()
            except Exception:  # the data is committed; a failed notification must not undo the reply
                log.exception("after-commit callback failed")

    @asynccontextmanager
    async def _session_unit(self) -> AsyncIterator[WriteSession]:
        """A unit of work in SQLAlchemy's own transaction (PostgreSQL; SQLite with tracing on)."""
        async with self._writes() as session, session.begin():
            yield session

    @asynccontextmanager
    async def reader(self, *, primary: bool = False) -> AsyncIterator[ReadSession]:
        """A read-only session: on a replica when one is configured, unless this request's
        client has just written (``read_from_primary``) or the caller must see the latest
        commits (``primary``: a worker acting on an event)."""
        factory = self._primary_reads if primary or read_from_primary.get() else self._reads
        try:
            async with factory() as session, session.begin():
                yield session
        except Exception as exc:
            _raise_if_unreachable(exc, writing=False)
            raise

    @asynccontextmanager
    async def table_reader(self, *, primary: bool = False) -> AsyncIterator[AsyncConnection]:
        """``reader`` without the ORM: a connection for table statements only (``TableReads``),
        chosen as ``reader`` chooses. For the hottest pages: an ORM session's begin, commit and
        execution bookkeeping cost more than SQLite takes to answer a page's two queries."""
        engine = self.primary_read_engine if primary or read_from_primary.get() else self.read_engine
        direct = self.sqlite_direct
        try:
            if direct is not None and direct.enabled:
                lazy = TableConnection(engine, direct=direct)
                try:
                    yield lazy
                finally:
                    if lazy.sync_connection is not None:
                        await lazy.close()
            else:
                async with engine.connect() as connection:
                    yield connection
        except Exception as exc:
            _raise_if_unreachable(exc, writing=False)
            raise

    async def dispose(self) -> None:
        if self.sqlite_direct is not None:
            self.sqlite_direct.close()
        await self.write_engine.dispose()
        await self.read_engine.dispose()
        if self.primary_read_engine is not self.read_engine:
            await self.primary_read_engine.dispose()


def _sqlite_direct(url: str) -> SqliteDirect | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None  # PostgreSQL; or a database in memory, which a second connection cannot see
    args, params = parsed.get_dialect()().create_connect_args(parsed)
    return SqliteDirect(sqlite_connector(args, params))


# SQLSTATE classes and codes that mean "the server is not there", not "the query is wrong":
# 08 connection exceptions, 57P01-57P03 shutdown / crash / starting up.
_UNREACHABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03")
# asyncpg's errors for a connection that went away; they carry no SQLSTATE.
_UNREACHABLE_NAMES = frozenset({"ConnectionDoesNotExistError", "ConnectionFailureError"})
UNAVAILABLE_MESSAGE = "The database cannot be reached right now{saved}. Try again in a few seconds."


def _unreachable(exc: BaseException | None) -> bool:
    """Whether an error means the database server is away (down, restarting, unreachable)."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, ConnectionError | socket.gaierror | PoolTimeout):
            return True
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            return True
        state = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
        if isinstance(state, str) and state.startswith(_UNREACHABLE_SQLSTATES):
            return True
        if type(exc).__name__ in _UNREACHABLE_NAMES:
            return True
        exc = getattr(exc, "orig", None) or exc.__cause__
        seen += 1
    return False


def _raise_if_unreachable(exc: Exception, *, writing: bool) -> None:
    """Turn "the database is away" into a 503 the person can act on (wait and retry)."""
    if _unreachable(exc):
        log.warning("database unreachable: %s", type(getattr(exc, "orig", None) or exc).__name__)
        message = UNAVAILABLE_MESSAGE.format(saved=", so nothing was saved" if writing else "")
        raise ServiceUnavailable(message, code="database_unavailable") from exc
