"""SQLite run on the event loop's own thread, behind aiosqlite's interface.

aiosqlite runs every call in a thread of its own and hands the result back: a statement is
four hand-offs (open a cursor, execute, fetch, close), each a queue put, a thread wake-up and
a wake-up of the event loop. On this project's hot paths the hand-offs cost more than SQLite
itself (a text reply is a dozen statements; a profile of the write path showed a third of the
CPU in the kernel, most of it task switching, and SQLite at 3 %). SQLite answers the site's
queries in microseconds to a few milliseconds from the page cache, so running them inline
costs the loop less than handing them off does.

The one thing that could block the loop for long is waiting for the write lock another
process holds. The connection therefore never waits inside SQLite (busy timeout 0): a
statement refused with SQLITE_BUSY is retried after an ``asyncio.sleep`` of 0.1 to 0.3 ms
(``FIRST_BACKOFF_SECONDS``), for up to ``BUSY_TIMEOUT_SECONDS``, so other requests run
while this one queues for the lock.

SQLAlchemy's aiosqlite dialect drives these objects unchanged (``async_creator``); they offer
exactly the parts of aiosqlite's API it uses.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

# How long a statement keeps retrying while another connection holds the lock (as the
# thread-based driver's busy_timeout did).
BUSY_TIMEOUT_SECONDS = 10.0
# Short sleeps: a process that sleeps long while the other keeps committing back to back
# loses the lock every time (with at most 50 ms, the write load's p99 was 450 ms; with 5 ms,
# 75-115 ms at the same throughput), and the lock sits idle while its next taker sleeps
# (2 ms instead of 5: 310-327 -> 323-344 replies/s with two workers). Once a reply held the
# lock for 0.3 ms (core.sqlite_direct), sleeping up to 2 ms left it idle most of a wait:
# 0.1 to 0.3 ms gave 1,135-1,192 replies/s against 783-949 (two workers, same hour). A
# refused attempt costs microseconds.
FIRST_BACKOFF_SECONDS = 0.0001
MAX_BACKOFF_SECONDS = 0.0003

_SQLITE_BUSY = 5
# A read transaction that tried to write after another connection committed: waiting cannot
# help, the transaction has to start again.
_SQLITE_BUSY_SNAPSHOT = 517

T = TypeVar("T")


def is_busy(error: sqlite3.OperationalError) -> bool:
    """Whether SQLite refused for a lock another connection holds (waiting may help)."""
    code: int | None = getattr(error, "sqlite_errorcode", None)
    if code is None:  # pragma: no cover - Python < 3.11 has no error codes
        return "database is locked" in str(error)
    return (code & 0xFF) == _SQLITE_BUSY and code != _SQLITE_BUSY_SNAPSHOT


async def retrying_busy(call: Callable[[], T]) -> T:
    """``call()``, again after a short sleep for as long as SQLite answers BUSY."""
    try:
        return call()
    except sqlite3.OperationalError as error:
        if not is_busy(error):
            raise
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    backoff = FIRST_BACKOFF_SECONDS
    while True:
        await asyncio.sleep(backoff)
        try:
            return call()
        except sqlite3.OperationalError as error:
            if not is_busy(error) or time.monotonic() >= deadline:
                raise
        backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)


class InlineCursor:
    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> InlineCursor:
        await retrying_busy(lambda: self._cursor.execute(sql, parameters))
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any] | dict[str, Any]]) -> InlineCursor:
        rows = list(parameters)  # a retry must see the same rows again
        await retrying_busy(lambda: self._cursor.executemany(sql, rows))
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class _Immediately:
    """SQLAlchemy sets ``isolation_level`` by queueing ``(future, function)`` on aiosqlite's
    private work queue; here the function simply runs."""

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as error:
            future.set_exception(error)


class InlineConnection:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._conn = connection
        self._connection: sqlite3.Connection | None = connection  # None once closed, as aiosqlite
        self._tx = _Immediately()
        # Set while ``core.sqlite_writer`` ends the transaction itself: SQLAlchemy's commit and
        # rollback (and its pool's reset) then leave it alone.
        self.transaction_held = False

    @property
    def native(self) -> sqlite3.Connection:
        """The ``sqlite3`` connection itself, for ``core.sqlite_writer``."""
        return self._conn

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> InlineCursor:
        return InlineCursor(self._conn.cursor())

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> InlineCursor:
        return await self.cursor().execute(sql, parameters)

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any] | dict[str, Any]]) -> InlineCursor:
        return await self.cursor().executemany(sql, parameters)

    async def commit(self) -> None:
        if not self.transaction_held:
            await retrying_busy(self._conn.commit)

    async def rollback(self) -> None:
        if not self.transaction_held:
            self._conn.rollback()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()


def sqlite_connector(args: Sequence[Any], params: Mapping[str, Any]) -> Callable[[], sqlite3.Connection]:
    """Plain ``sqlite3`` connections as the site opens them: ``args``/``params`` are what the
    dialect would pass to ``sqlite3.connect`` (``dialect.create_connect_args(url)``); never
    waiting inside SQLite, and in autocommit mode (transactions are begun explicitly)."""
    options = {**params, "timeout": 0, "check_same_thread": False, "isolation_level": None}

    def connect() -> sqlite3.Connection:
        connection: sqlite3.Connection = sqlite3.connect(*args, **options)
        return connection

    return connect


def inline_connector(args: Sequence[Any], params: Mapping[str, Any]) -> Callable[[], Any]:
    """An ``async_creator`` for SQLAlchemy, from the same arguments as ``sqlite_connector``."""
    connect_sqlite = sqlite_connector(args, params)

    async def connect() -> InlineConnection:
        return InlineConnection(connect_sqlite())

    return connect
