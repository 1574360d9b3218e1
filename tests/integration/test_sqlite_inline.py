"""SQLite runs on the event loop's thread (core.sqlite_inline): no hand-off to a driver thread,
and waiting for another process's write lock never blocks the loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from imageboard.core import sqlite_inline
from imageboard.core.db import Database
from imageboard.observability.database import instrument_database
from imageboard.observability.metrics import DB_QUERY_DURATION


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'inline.sqlite3'}")
    async with database.writer() as session:
        await session.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"))
    yield database
    await database.dispose()


@pytest.fixture
def other_process(db: Database) -> Iterator[sqlite3.Connection]:
    """Another writer on the same file, as a second server worker would be."""
    path = db.write_engine.url.database
    assert path
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    yield connection
    connection.close()


class Ticks:
    """Counts how often the loop got to run something else meanwhile."""

    def __init__(self) -> None:
        self.count = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(0.005)
            self.count += 1

    def __enter__(self) -> Ticks:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *_exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def test_statements_run_on_the_event_loops_thread(db: Database) -> None:
    seen: list[int] = []

    def where_am_i() -> int:
        seen.append(threading.get_ident())
        return 1

    async with db.reader() as session:
        raw = await (await session.connection()).get_raw_connection()
        raw.driver_connection._conn.create_function("where_am_i", 0, where_am_i)  # type: ignore[union-attr]
        assert (await session.execute(text("SELECT where_am_i()"))).scalar_one() == 1
    assert seen == [threading.get_ident()]


async def test_a_writer_waits_for_another_processs_lock_without_blocking_the_loop(
    db: Database, other_process: sqlite3.Connection
) -> None:
    other_process.execute("BEGIN IMMEDIATE")
    other_process.execute("INSERT INTO notes (body) VALUES ('theirs')")
    # The other process commits in 0.3 s, from its own thread, as another process would.
    releaser = threading.Timer(0.3, lambda: other_process.execute("COMMIT"))
    releaser.start()
    with Ticks() as ticks:
        async with db.writer() as session:
            await session.execute(text("INSERT INTO notes (body) VALUES ('ours')"))
    releaser.join()
    # Blocked inside SQLite, the loop would not have ticked at all during the 0.3 s.
    assert ticks.count >= 20
    async with db.reader() as session:
        bodies = (await session.execute(text("SELECT body FROM notes ORDER BY id"))).scalars().all()
    assert bodies == ["theirs", "ours"]


async def test_a_lock_held_too_long_fails_the_write_and_keeps_nothing(
    db: Database, other_process: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_inline, "BUSY_TIMEOUT_SECONDS", 0.2)
    other_process.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(OperationalError, match="database is locked"):
            async with db.writer() as session:
                await session.execute(text("INSERT INTO notes (body) VALUES ('ours')"))
    finally:
        other_process.execute("ROLLBACK")
    async with db.writer() as session:  # the connection is usable again once the lock is gone
        await session.execute(text("INSERT INTO notes (body) VALUES ('later')"))
    async with db.reader() as session:
        bodies = (await session.execute(text("SELECT body FROM notes"))).scalars().all()
    assert bodies == ["later"]


async def test_readers_are_not_held_up_by_a_writer(db: Database, other_process: sqlite3.Connection) -> None:
    async with db.writer() as session:
        await session.execute(text("INSERT INTO notes (body) VALUES ('committed')"))
    other_process.execute("BEGIN IMMEDIATE")
    other_process.execute("INSERT INTO notes (body) VALUES ('pending')")
    try:
        async with db.reader() as session:
            bodies = (await session.execute(text("SELECT body FROM notes"))).scalars().all()
        assert bodies == ["committed"]  # WAL: the reader sees the last commit at once
    finally:
        other_process.execute("ROLLBACK")


async def test_many_rows_in_one_call(db: Database) -> None:
    async with db.writer() as session:
        raw = await (await session.connection()).get_raw_connection()
        await raw.driver_connection.executemany(  # type: ignore[union-attr]
            "INSERT INTO notes (body) VALUES (?)", ((f"note {n}",) for n in range(50))
        )
    async with db.reader() as session:
        assert (await session.execute(text("SELECT count(*) FROM notes"))).scalar_one() == 50


def _begin_seconds() -> float:
    for metric in DB_QUERY_DURATION.collect():
        for sample in metric.samples:
            if sample.name.endswith("_sum") and sample.labels == {"engine": "write", "operation": "BEGIN"}:
                return sample.value
    return 0.0


async def test_lock_waits_show_in_the_write_engines_begin_latency(
    db: Database, other_process: sqlite3.Connection
) -> None:
    """What docs/operations.md tells operators to watch for queueing writers."""
    instrument_database(db)
    before = _begin_seconds()
    other_process.execute("BEGIN IMMEDIATE")
    releaser = threading.Timer(0.3, lambda: other_process.execute("COMMIT"))
    releaser.start()
    async with db.writer() as session:
        await session.execute(text("INSERT INTO notes (body) VALUES ('ours')"))
    releaser.join()
    assert _begin_seconds() - before >= 0.25
