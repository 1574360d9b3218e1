"""Statements run straight on SQLite's connection (``core.sqlite_direct``) write and read
exactly what SQLAlchemy would, keep the write session's rules (its pending ORM rows are seen,
errors are SQLAlchemy's), and are measured like every other statement."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import bindparam, func, insert, select, text
from sqlalchemy.exc import IntegrityError, MultipleResultsFound, NoResultFound

from imageboard.accounts import AccountsService
from imageboard.boards import BoardSpec, BoardsService, NewPost
from imageboard.boards.models import Board
from imageboard.core import sqlite_direct
from imageboard.core.db import Database
from imageboard.core.migrate import upgrade
from imageboard.events import EventPublisher
from imageboard.moderation import ModerationService
from imageboard.observability.metrics import DB_QUERY_DURATION, REGISTRY
from imageboard.search import SearchService

from ..conftest import SECRET

WHEN = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
BOARDS = Board.__table__
_BOARD_URIS = sqlite_direct.direct(select(BOARDS.c.id, BOARDS.c.uri, BOARDS.c.created_at).order_by(BOARDS.c.id))
_BOARDS_NAMED = sqlite_direct.direct(select(BOARDS.c.id).where(BOARDS.c.uri.in_(bindparam("uris", expanding=True))))
_ADD_BOARD = sqlite_direct.direct(insert(BOARDS).returning(BOARDS.c.id))


async def _fresh(path: Path) -> Database:
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)
    return Database(url)


async def _tables(database: Database) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, as stored (text as SQLite keeps it: times, flags, JSON)."""
    listing = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
    async with database.writer() as session:
        names = list((await session.execute(text(listing))).scalars())
        return {
            name: [tuple(row) for row in await session.execute(text(f'SELECT * FROM "{name}" ORDER BY 1'))]  # noqa: S608
            for name in names
        }


async def _post_a_reply(database: Database) -> None:
    boards = BoardsService(database, secret=SECRET, clock=lambda: WHEN, events=EventPublisher(clock=lambda: WHEN))
    boards.screen = ModerationService(database, boards, AccountsService(database)).screen
    boards.indexer = SearchService(database).index_post
    await boards.create_board(BoardSpec(uri="b", title="Random", require_file=False))
    opened = await boards.create_post(NewPost(board="b", thread_no=0, subject="Hello", comment="A thread"))
    for comment, options in ((">>1 a reply with a quote\n>greentext", ""), ("a reply that does not bump", "sage")):
        await boards.create_post(
            NewPost(
                board="b",
                thread_no=opened.thread_no,
                name="Name#trip",
                options=options,
                comment=comment,
                password="pw",
                ip="203.0.113.9",
            )
        )


def _without_event_ids(row: tuple[object, ...]) -> tuple[object, ...]:
    _id, _event_id, subject, payload, *rest = row
    event = json.loads(str(payload))
    del event["id"], event["occurred_at"]
    return (subject, event, *rest)


@pytest.fixture
async def direct_site(tmp_path: Path) -> AsyncIterator[Database]:
    database = await _fresh(tmp_path / "direct.sqlite3")
    yield database
    await database.dispose()


async def test_a_reply_written_directly_is_the_row_sqlalchemy_writes(tmp_path: Path, direct_site: Database) -> None:
    await _post_a_reply(direct_site)
    written_directly = await _tables(direct_site)

    plain = await _fresh(tmp_path / "plain.sqlite3")
    kept = dict(sqlite_direct._MARKED)
    sqlite_direct._MARKED.clear()
    try:
        await _post_a_reply(plain)
        written_by_sqlalchemy = await _tables(plain)
    finally:
        sqlite_direct._MARKED.update(kept)
        await plain.dispose()

    # An event's id is random and its time the clock's: the outbox is compared without them.
    for tables in (written_directly, written_by_sqlalchemy):
        tables["outbox"] = [_without_event_ids(row) for row in tables["outbox"]]
    assert written_directly == written_by_sqlalchemy
    assert len(written_directly["posts"]) == 3
    assert len(written_directly["outbox"]) >= 4  # the statements compared wrote their rows


async def test_a_direct_statement_runs_without_sqlalchemy_and_reads_its_types_back(direct_site: Database) -> None:
    async with direct_site.writer() as session:
        made = await session.execute(_ADD_BOARD, {"uri": "zz", "title": "Zed", "created_at": WHEN, "updated_at": WHEN})
        board_id = made.scalar_one()
        assert isinstance(made, sqlite_direct.DirectResult)
        rows = (await session.execute(_BOARD_URIS)).all()
    assert rows[-1] == (board_id, "zz", WHEN)
    assert rows[-1].uri == "zz" and rows[-1]._mapping["created_at"] == WHEN
    assert rows[-1].created_at.tzinfo is not None  # the column's own result processing


async def test_a_direct_result_reads_as_sqlalchemys_does(direct_site: Database) -> None:
    async with direct_site.writer() as session:
        for uri in ("aa", "bb"):
            await session.execute(_ADD_BOARD, {"uri": uri, "title": uri, "created_at": WHEN, "updated_at": WHEN})
        result = await session.execute(_BOARD_URIS)
        assert [row.uri for row in result] == ["aa", "bb"]
        with pytest.raises(MultipleResultsFound):
            (await session.execute(_BOARD_URIS)).one_or_none()
        assert (await session.execute(_BOARD_URIS)).scalars().all() == [row[0] for row in result.all()]
        assert (await session.execute(_BOARD_URIS)).mappings().first()["uri"] == "aa"
        await session.execute(text("DELETE FROM boards"))
        with pytest.raises(NoResultFound):
            (await session.execute(_BOARD_URIS)).one()
        assert (await session.execute(_BOARD_URIS)).scalar_one_or_none() is None


async def test_a_statement_that_expands_its_parameters_goes_through_sqlalchemy(direct_site: Database) -> None:
    async with direct_site.writer() as session:
        for uri in ("aa", "bb", "cc"):
            await session.execute(_ADD_BOARD, {"uri": uri, "title": uri, "created_at": WHEN, "updated_at": WHEN})
        found = await session.execute(_BOARDS_NAMED, {"uris": ["aa", "cc"]})
        assert not isinstance(found, sqlite_direct.DirectResult)
        assert len(found.all()) == 2


async def test_reads_before_the_first_write_do_not_take_the_write_lock(direct_site: Database) -> None:
    """Another process can write while a unit of work has only read, and the unit's next read
    sees that commit; once the unit has written, it holds the lock."""
    path = direct_site.url.split(":///", 1)[1]
    other = Database(direct_site.url)
    lock_taker = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        async with direct_site.writer() as session:
            assert (await session.execute(_BOARD_URIS)).all() == []
            lock_taker.execute("BEGIN IMMEDIATE")  # free: nothing holds it
            lock_taker.execute("ROLLBACK")
            async with other.writer() as elsewhere:
                elsewhere.add(Board(uri="o", title="O", created_at=WHEN, updated_at=WHEN))
            seen = [row.uri for row in (await session.execute(_BOARD_URIS)).all()]
            await session.execute(_ADD_BOARD, {"uri": "u", "title": "U", "created_at": WHEN, "updated_at": WHEN})
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                lock_taker.execute("BEGIN IMMEDIATE")
            mine = [row.uri for row in (await session.execute(_BOARD_URIS)).all()]
    finally:
        lock_taker.close()
        await other.dispose()
    assert seen == ["o"]
    assert mine == ["o", "u"]


async def test_a_direct_statement_sees_the_sessions_pending_rows(direct_site: Database) -> None:
    async with direct_site.writer() as session:
        session.add(Board(uri="orm", title="Added through the ORM", created_at=WHEN, updated_at=WHEN))
        uris = [row.uri for row in (await session.execute(_BOARD_URIS)).all()]
    assert "orm" in uris


async def test_a_direct_statements_error_is_sqlalchemys_and_rolls_the_unit_back(direct_site: Database) -> None:
    values = {"uri": "dup", "title": "Dup", "created_at": WHEN, "updated_at": WHEN}

    async def add_twice() -> None:
        async with direct_site.writer() as session:
            await session.execute(_ADD_BOARD, {**values, "uri": "kept-only-if-committed"})
            await session.execute(_ADD_BOARD, values)
            await session.execute(_ADD_BOARD, values)

    with pytest.raises(IntegrityError):
        await add_twice()
    async with direct_site.writer() as session:
        count = (await session.execute(select(func.count()).select_from(BOARDS))).scalar_one()
    assert count == 0


async def test_direct_statements_are_measured(direct_site: Database) -> None:
    """A read made before the unit's first write runs outside its transaction: measured as a
    read; after that, as the write engine's."""
    from imageboard.observability.database import instrument_database

    instrument_database(direct_site)

    def observed(engine: str, operation: str) -> float:
        labels = {"engine": engine, "operation": operation}
        return REGISTRY.get_sample_value(f"{DB_QUERY_DURATION._name}_count", labels) or 0.0

    before = {(e, o): observed(e, o) for e in ("read", "write") for o in ("SELECT", "INSERT")}
    async with direct_site.writer() as session:
        await session.execute(_BOARD_URIS)
        await session.execute(_ADD_BOARD, {"uri": "m", "title": "M", "created_at": WHEN, "updated_at": WHEN})
        await session.execute(_BOARD_URIS)
        await session.execute(_BOARD_URIS)
    grown = {key: observed(*key) - count for key, count in before.items()}
    assert grown == {("read", "SELECT"): 1, ("write", "INSERT"): 1, ("read", "INSERT"): 0, ("write", "SELECT"): 2}


async def _uris(database: Database) -> list[str]:
    async with database.reader() as session:
        return list((await session.execute(select(BOARDS.c.uri).order_by(BOARDS.c.uri))).scalars())


async def test_direct_and_orm_writes_of_one_unit_commit_together(direct_site: Database) -> None:
    """In either order: the ORM's connection is the one the direct statements write on."""
    async with direct_site.writer() as session:
        await session.execute(_ADD_BOARD, {"uri": "d1", "title": "D", "created_at": WHEN, "updated_at": WHEN})
        session.add(Board(uri="o1", title="O", created_at=WHEN, updated_at=WHEN))
        await session.flush()
    async with direct_site.writer() as session:
        session.add(Board(uri="o2", title="O", created_at=WHEN, updated_at=WHEN))
        await session.flush()
        await session.execute(_ADD_BOARD, {"uri": "d2", "title": "D", "created_at": WHEN, "updated_at": WHEN})
    async with direct_site.writer() as session:  # an entity added, nothing else: flushed at commit
        session.add(Board(uri="o3", title="O", created_at=WHEN, updated_at=WHEN))
    assert await _uris(direct_site) == ["d1", "d2", "o1", "o2", "o3"]


async def test_a_unit_cancelled_after_a_direct_write_leaves_nothing_behind(direct_site: Database) -> None:
    wrote = asyncio.Event()

    async def interrupted() -> None:
        async with direct_site.writer() as session:
            await session.execute(_ADD_BOARD, {"uri": "gone", "title": "G", "created_at": WHEN, "updated_at": WHEN})
            wrote.set()
            await asyncio.sleep(60)  # the client goes away here

    task = asyncio.create_task(interrupted())
    await wrote.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with direct_site.writer() as session:  # the next unit starts a transaction of its own
        await session.execute(_ADD_BOARD, {"uri": "next", "title": "N", "created_at": WHEN, "updated_at": WHEN})
    assert await _uris(direct_site) == ["next"]


async def test_a_table_readers_direct_statement_needs_no_pooled_connection(direct_site: Database) -> None:
    """The public pages' reads: a marked statement runs on the reader connection, and reads
    the latest commit; another statement checks a pooled connection out as before."""
    async with direct_site.writer() as session:
        await session.execute(_ADD_BOARD, {"uri": "r", "title": "R", "created_at": WHEN, "updated_at": WHEN})
    pool = direct_site.read_engine.sync_engine.pool
    async with direct_site.table_reader() as connection:
        rows = (await connection.execute(_BOARD_URIS)).all()
        assert connection.sync_connection is None  # nothing checked out
        named = (await connection.execute(_BOARDS_NAMED, {"uris": ["r"]})).all()
        assert connection.sync_connection is not None
        assert pool.checkedout() == 1
    assert pool.checkedout() == 0
    assert [(row.uri, row.created_at) for row in rows] == [("r", WHEN)]
    assert len(named) == 1
