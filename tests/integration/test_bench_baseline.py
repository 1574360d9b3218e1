"""The write benchmark's raw-driver baseline writes the rows the site writes.

The benchmarks issue defines the baseline of text replies as "the raw rate of inserting the
same rows through the database driver alone". A reply through the posting path — wired as
the site wires it: moderation's screen, the search document inline, the events' outbox — and
one through ``bench/driver.py`` must therefore grow the same tables by the same number of
rows, on both databases. When the posting path starts writing another row, this fails until
the baseline writes it too.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import asyncpg
import pytest
from sqlalchemy import text

from imageboard.accounts import AccountsService
from imageboard.boards import BoardSpec, BoardsService, NewPost
from imageboard.core.db import Database
from imageboard.moderation import ModerationService
from imageboard.search import SearchService

from ..conftest import SECRET

BENCH = Path(__file__).resolve().parents[2] / "bench"
COMMENT = "a reply the way the write load sends it #1"


@pytest.fixture(scope="module")
def driver() -> ModuleType:
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module("driver")
    finally:
        sys.path.remove(str(BENCH))


async def _row_counts(database: Database) -> dict[str, int]:
    """Rows of every table (FTS5's own shadow tables aside: the virtual table counts)."""
    if database.is_sqlite:
        listing = (
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'search_fts_%'"
        )
    else:
        listing = (
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        )
    async with database.writer() as session:
        names = sorted((await session.execute(text(listing))).scalars())
        counts = {}
        for name in names:  # names read from the catalogue, not given
            counts[name] = int((await session.execute(text(f'SELECT count(*) FROM "{name}"'))).scalar_one())  # noqa: S608
        return counts


async def _ids(database: Database, thread_no: int) -> tuple[int, int]:
    """The ids of board /b/ and of its thread ``thread_no``, as the benchmark reads them."""
    query = text(
        "SELECT boards.id, threads.id FROM boards JOIN threads ON threads.board_id = boards.id "
        "WHERE uri = 'b' AND no = :no"
    )
    async with database.writer() as session:
        board_id, thread_id = (await session.execute(query, {"no": thread_no})).one()
    return int(board_id), int(thread_id)


def _grown(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before.get(name, 0) for name in after if after[name] != before.get(name, 0)}


async def test_the_driver_baseline_writes_the_rows_of_a_text_reply(database: Database, driver: ModuleType) -> None:
    boards = BoardsService(database, secret=SECRET)
    boards.screen = ModerationService(database, boards, AccountsService(database)).screen
    boards.indexer = SearchService(database).index_post
    await boards.create_board(BoardSpec(uri="b", title="Random", require_file=False))
    opened = await boards.create_post(NewPost(board="b", thread_no=0, comment="a thread to reply to"))
    board_id, thread_id = await _ids(database, opened.thread_no)

    before = await _row_counts(database)
    await boards.create_post(NewPost(board="b", thread_no=opened.thread_no, comment=COMMENT, password="benchpass"))
    site = _grown(before, await _row_counts(database))

    html = driver.render(COMMENT, "b", opened.thread_no, ())
    before = await _row_counts(database)
    if database.is_sqlite:
        connection = driver.sqlite_connect(database.url.split(":///", 1)[1])
        try:
            driver.SqliteReplies(connection, board_id).write(thread_id, COMMENT, html)
        finally:
            connection.close()
    else:
        connection = await asyncpg.connect(database.url.replace("postgresql+asyncpg://", "postgresql://", 1))
        try:
            replies = await driver.PgReplies.prepare(connection, board_id)
            await replies.write(connection, thread_id, COMMENT, html)
        finally:
            await connection.close()
    baseline = _grown(before, await _row_counts(database))

    assert site == baseline
    assert {"posts", "outbox"} <= set(site), site  # the comparison saw the rows it is about
    assert site["outbox"] == 2  # post.created and thread.updated


async def test_the_core_row_set_writes_the_post_alone(sqlite_database: Database, driver: ModuleType) -> None:
    """``--rows core``, the older baseline kept beside it for comparison: the post's row, and
    the board and thread updated — no search document, no outbox rows."""
    boards = BoardsService(sqlite_database, secret=SECRET)
    await boards.create_board(BoardSpec(uri="b", title="Random", require_file=False))
    opened = await boards.create_post(NewPost(board="b", thread_no=0, comment="a thread to reply to"))
    board_id, thread_id = await _ids(sqlite_database, opened.thread_no)
    before = await _row_counts(sqlite_database)
    connection = driver.sqlite_connect(sqlite_database.url.split(":///", 1)[1])
    try:
        number = driver.SqliteReplies(connection, board_id, "core").write(thread_id, COMMENT, COMMENT)
    finally:
        connection.close()
    assert _grown(before, await _row_counts(sqlite_database)) == {"posts": 1}
    assert number == opened.thread_no + 1
