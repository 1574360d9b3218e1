"""SQLite's units of work share a commit (``core.sqlite_writer.SqliteDirect.unit_of_work``):
a unit that ends while another in the process waits for the turn leaves its writes to be
committed with the next one's, and returns once they are. Each keeps its own outcome."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from imageboard.boards.models import Board
from imageboard.core import sqlite_direct
from imageboard.core.db import Database
from imageboard.core.migrate import upgrade

WHEN = datetime(2026, 3, 1, 12, 30, 15, tzinfo=UTC)
BOARDS = Board.__table__
_ADD_BOARD = sqlite_direct.direct(insert(BOARDS).returning(BOARDS.c.id))


class Failed(Exception):
    """A unit of work's block gave up after writing."""


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.sqlite3'}"
    upgrade(url)
    db = Database(url)
    async with db.writer():
        pass  # opens the writer connection
    yield db
    await db.dispose()


def _statements(database: Database) -> list[str]:
    """Every statement the writer connection runs from now on."""
    seen: list[str] = []
    direct = database.sqlite_direct
    assert direct is not None and direct._writer is not None
    direct._writer.set_trace_callback(seen.append)
    return seen


def _committed_uris(database: Database) -> list[str]:
    """What another connection sees: only committed rows."""
    path = database.url.split(":///", 1)[1]
    with sqlite3.connect(path) as other:
        return [uri for (uri,) in other.execute("SELECT uri FROM boards ORDER BY uri")]


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the condition never held")


def _queued(database: Database) -> int:
    assert database.sqlite_direct is not None
    return database.sqlite_direct._queued


async def _unit(
    database: Database,
    uri: str,
    *,
    wrote: asyncio.Event | None = None,
    go: asyncio.Event | None = None,
    orm: bool = False,
    fail: bool = False,
    before_end: Callable[[], None] | None = None,
) -> list[str]:
    """Add the board ``uri`` in a unit of work; what is committed once the unit returns."""
    async with database.writer() as session:
        if orm:
            session.add(Board(uri=uri, title=uri, created_at=WHEN, updated_at=WHEN))
            await session.flush()
        else:
            await session.execute(_ADD_BOARD, {"uri": uri, "title": uri, "created_at": WHEN, "updated_at": WHEN})
        if wrote is not None:
            wrote.set()
        if go is not None:
            await go.wait()
        if fail:
            raise Failed(uri)
        if before_end is not None:
            before_end()
    return _committed_uris(database)


async def _first_holding_the_turn(
    database: Database, **options: object
) -> tuple[asyncio.Task[list[str]], asyncio.Event]:
    """A unit that has written "a" and holds the turn until the event returned is set."""
    wrote, go = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(_unit(database, "a", wrote=wrote, go=go, **options))  # type: ignore[arg-type]
    await wrote.wait()
    return first, go


async def test_a_unit_that_ends_while_another_waits_shares_its_commit(database: Database) -> None:
    statements = _statements(database)
    first, go = await _first_holding_the_turn(database)
    second = asyncio.create_task(_unit(database, "b"))
    await _until(lambda: _queued(database) == 1)
    go.set()
    seen_by_first, seen_by_second = await asyncio.gather(first, second)
    assert statements.count("COMMIT") == 1
    assert statements.count("SAVEPOINT unit_of_work") == 1  # the second unit's
    # The first unit returned only once its row was committed, with the second's.
    assert seen_by_first == seen_by_second == ["a", "b"]


async def test_a_unit_alone_commits_at_once(database: Database) -> None:
    statements = _statements(database)
    assert await _unit(database, "a") == ["a"]
    assert await _unit(database, "b") == ["a", "b"]
    assert statements.count("COMMIT") == 2
    assert "SAVEPOINT unit_of_work" not in statements


@pytest.mark.parametrize("orm", [False, True], ids=["direct", "orm"])
async def test_a_failing_unit_undoes_only_its_own_writes(database: Database, orm: bool) -> None:
    statements = _statements(database)
    first, go = await _first_holding_the_turn(database)
    second = asyncio.create_task(_unit(database, "b", orm=orm, fail=True))
    await _until(lambda: _queued(database) == 1)
    go.set()
    assert await first == ["a"]
    with pytest.raises(Failed):
        await second
    assert statements.count("ROLLBACK TO unit_of_work") == 1
    assert statements.count("COMMIT") == 1
    assert await _unit(database, "c") == ["a", "c"]  # the next unit begins afresh


async def test_orm_writes_join_a_shared_commit(database: Database) -> None:
    """SQLAlchemy's commit of the second unit flushes its rows; the transaction is ended by
    the unit of work, once, for both."""
    statements = _statements(database)
    first, go = await _first_holding_the_turn(database, orm=True)
    second = asyncio.create_task(_unit(database, "b", orm=True))
    await _until(lambda: _queued(database) == 1)
    go.set()
    assert await asyncio.gather(first, second) == [["a", "b"], ["a", "b"]]
    assert statements.count("COMMIT") == 1


async def test_the_first_unit_failing_leaves_nothing_for_the_next(database: Database) -> None:
    wrote, go = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(_unit(database, "a", wrote=wrote, go=go, fail=True))
    await wrote.wait()
    second = asyncio.create_task(_unit(database, "b"))
    await _until(lambda: _queued(database) == 1)
    go.set()
    with pytest.raises(Failed):
        await first
    assert await second == ["b"]


async def test_writes_left_for_a_waiter_that_gave_up_are_still_committed(database: Database) -> None:
    """The waiting unit is cancelled just as the turn is handed to it: nobody is left to
    commit the first unit's writes but the unit of work itself."""
    waiter: list[asyncio.Task[list[str]]] = []
    loop = asyncio.get_running_loop()
    first, go = await _first_holding_the_turn(database, before_end=lambda: loop.call_soon(waiter[0].cancel))
    waiter.append(asyncio.create_task(_unit(database, "never")))
    await _until(lambda: _queued(database) == 1)
    go.set()
    assert await asyncio.wait_for(first, timeout=10) == ["a"]
    with pytest.raises(asyncio.CancelledError):
        await waiter[0]
    assert await _unit(database, "b") == ["a", "b"]


async def test_units_queued_behind_a_busy_lock_commit_together(database: Database) -> None:
    """Another process holds the write lock: this one's units queue for the turn meanwhile,
    and once it is free they commit in far fewer commits than units."""
    statements = _statements(database)
    path = database.url.split(":///", 1)[1]
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    units = [asyncio.create_task(_unit(database, f"u{n:02}")) for n in range(8)]
    await _until(lambda: _queued(database) == 7)
    other.execute("ROLLBACK")
    other.close()
    results = await asyncio.gather(*units)
    everything = sorted(f"u{n:02}" for n in range(8))
    assert results[-1] == everything
    assert all(set(seen) <= set(everything) and seen for seen in results)
    assert 1 <= statements.count("COMMIT") < 8
    async with database.reader() as session:
        assert sorted((await session.execute(select(BOARDS.c.uri))).scalars()) == everything
