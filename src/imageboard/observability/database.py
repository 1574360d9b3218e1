"""Database metrics from SQLAlchemy's engine and pool events: statement latency and errors
by SQL verb, and pool connections (open, in use, capacity)."""

from __future__ import annotations

import time
import weakref
from typing import Any, Protocol

from sqlalchemy import Engine, event
from sqlalchemy.ext.asyncio import AsyncEngine

from imageboard.core.sqlite_writer import SqliteDirect
from imageboard.observability.metrics import (
    DB_POOL_CAPACITY,
    DB_POOL_CHECKED_OUT,
    DB_POOL_OPEN,
    DB_QUERY_DURATION,
    DB_QUERY_ERRORS,
)

_VERBS = frozenset(
    {"SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA"}
)
_STARTED = "imageboard_query_started"
MAX_KEPT_STATEMENTS = 4096
_instrumented: weakref.WeakSet[Engine] = weakref.WeakSet()


class HasEngines(Protocol):
    @property
    def write_engine(self) -> AsyncEngine: ...

    @property
    def read_engine(self) -> AsyncEngine: ...

    @property
    def sqlite_direct(self) -> SqliteDirect | None: ...


def operation(statement: str | None) -> str:
    """The SQL verb of a statement, from a small fixed set (label values stay few)."""
    if not statement:
        return "OTHER"
    head = statement.lstrip(" (\n\t").split(None, 1)
    verb = head[0].upper() if head else ""
    return verb if verb in _VERBS else "OTHER"


def instrument_database(database: HasEngines) -> None:
    """Record metrics for both engines of a :class:`~imageboard.core.db.Database`, and for the
    statements it runs straight on SQLite (``core.sqlite_direct``). Idempotent."""
    instrument_engine(database.write_engine, "write")
    instrument_engine(database.read_engine, "read")
    if database.sqlite_direct is not None:
        database.sqlite_direct.observe = _StatementObservers().observe


class _StatementObservers:
    """A statement's histogram child, by engine and statement text: compiled statements are
    cached, so the same few hundred strings come back, and parsing the verb and looking up the
    label child for each run was a tenth of a reply's statement overhead. Bounded all the same."""

    def __init__(self) -> None:
        self._kept: dict[tuple[str, str], Any] = {}

    def observe(self, label: str, statement: str, seconds: float) -> None:
        observe = self._kept.get((label, statement))
        if observe is None:
            if len(self._kept) >= MAX_KEPT_STATEMENTS:
                self._kept.clear()
            observe = self._kept[label, statement] = DB_QUERY_DURATION.labels(label, operation(statement)).observe
        observe(seconds)


def instrument_engine(engine: AsyncEngine, label: str) -> None:
    sync_engine = engine.sync_engine
    if sync_engine in _instrumented:
        return
    _instrumented.add(sync_engine)
    errors = DB_QUERY_ERRORS
    observe = _StatementObservers().observe

    @event.listens_for(sync_engine, "before_cursor_execute")
    def _before(conn: Any, _cursor: Any, _statement: str, _params: Any, _context: Any, _many: bool) -> None:
        conn.info.setdefault(_STARTED, []).append(time.perf_counter())

    @event.listens_for(sync_engine, "after_cursor_execute")
    def _after(conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool) -> None:
        started = conn.info.get(_STARTED)
        if started:
            observe(label, statement, time.perf_counter() - started.pop())

    @event.listens_for(sync_engine, "handle_error")
    def _error(context: Any) -> None:
        conn = context.connection
        started = conn.info.get(_STARTED) if conn is not None else None
        if started:
            started.pop()
        errors.labels(label, operation(context.statement)).inc()

    checked_out = DB_POOL_CHECKED_OUT.labels(label)
    opened = DB_POOL_OPEN.labels(label)

    @event.listens_for(sync_engine, "connect")
    def _connect(_dbapi: Any, _record: Any) -> None:
        opened.inc()

    @event.listens_for(sync_engine, "close")
    def _close(_dbapi: Any, _record: Any) -> None:
        opened.dec()

    @event.listens_for(sync_engine, "close_detached")
    def _close_detached(_dbapi: Any) -> None:
        opened.dec()

    @event.listens_for(sync_engine, "checkout")
    def _checkout(_dbapi: Any, _record: Any, _proxy: Any) -> None:
        checked_out.inc()

    @event.listens_for(sync_engine, "checkin")
    def _checkin(_dbapi: Any, _record: Any) -> None:
        checked_out.dec()

    pool = sync_engine.pool
    size = pool.size() if hasattr(pool, "size") else 0
    overflow = max(int(getattr(pool, "_max_overflow", 0)), 0)
    DB_POOL_CAPACITY.labels(label).inc(size + overflow)
