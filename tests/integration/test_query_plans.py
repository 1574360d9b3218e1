"""Every query behind the hot pages is served by an index on PostgreSQL: the statements a
page really runs are captured and EXPLAINed against a database big enough that the planner
would rather scan a table than use a bad index."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert, text

from imageboard.boards import BoardSpec, BoardsService
from imageboard.boards.models import Post, Thread
from imageboard.core.db import Base, Database

BIG_TABLES = {"posts", "threads", "post_quotes", "attachments"}
# /b/ has a full set of live threads and some archived ones; /g/ (not shown) makes the tables
# big enough that scanning them would be the planner's choice if no index served a query.
LIVE_THREADS, ARCHIVED_THREADS, OTHER_BOARD_THREADS, REPLIES = 150, 300, 12000, 10


async def _fill(db: Database) -> int:
    """Returns the number of /b/'s newest thread."""
    service = BoardsService(db, secret=b"x")
    await service.create_board(BoardSpec(uri="b", title="Random", require_file=False))
    await service.create_board(BoardSpec(uri="g", title="Tech", require_file=False, work_safe=True))
    async with db.writer() as session:
        for uri, live, archived in (("g", 0, OTHER_BOARD_THREADS), ("b", LIVE_THREADS, ARCHIVED_THREADS)):
            await _fill_board(session, uri, live=live, archived=archived)
    async with db.write_engine.begin() as connection:
        await connection.execute(text("ANALYZE"))
    return (LIVE_THREADS + ARCHIVED_THREADS) * 100


async def _fill_board(session: Any, uri: str, *, live: int, archived: int) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    board_id = (await session.execute(text("SELECT id FROM boards WHERE uri = :u"), {"u": uri})).scalar_one()
    threads = []
    for t in range(live + archived):
        when = start + timedelta(minutes=t)
        old = t < archived
        threads.append(
            {
                "board_id": board_id,
                "no": (t + 1) * 100,
                "subject": f"t{t}",
                "created_at": when,
                "bumped_at": when,
                "updated_at": when,
                "reply_count": REPLIES,
                "file_count": 0,
                "sticky": False,
                "locked": False,
                "cyclic": False,
                "archived": old,
                "archived_at": when if old else None,
                "held": False,
            }
        )
    await session.execute(insert(Thread), threads)
    ids = dict((await session.execute(text("SELECT no, id FROM threads WHERE board_id = :b"), {"b": board_id})).all())
    posts = []
    for t in range(live + archived):
        thread_no = (t + 1) * 100
        for r in range(REPLIES + 1):
            posts.append(
                {
                    "board_id": board_id,
                    "thread_id": ids[thread_no],
                    "no": thread_no + r,
                    "is_op": r == 0,
                    "created_at": start + timedelta(minutes=t, seconds=r),
                    "name": "Anonymous",
                    "subject": "",
                    "comment": f">>{thread_no}",
                    "comment_html": "quote",
                    "sage": False,
                    "held": False,
                }
            )
    await session.execute(insert(Post), posts)
    # Every reply quotes its opening post, so backlinks have rows to find.
    await session.execute(
        text(
            "INSERT INTO post_quotes (source_post_id, target_board_id, target_no) "
            "SELECT p.id, p.board_id, t.no FROM posts p JOIN threads t ON t.id = p.thread_id "
            "WHERE p.board_id = :b AND NOT p.is_op"
        ),
        {"b": board_id},
    )
    last = (live + archived) * 100 + REPLIES
    await session.execute(text("UPDATE boards SET last_post_no = :n WHERE id = :b"), {"n": last, "b": board_id})


async def _selects(
    db: Database, page: Callable[[], Awaitable[Any]], marker: str = "", *, writes: bool = False
) -> list[tuple[str, Any]]:
    """The SELECT statements ``page()`` runs on the read engine (the write engine with
    ``writes``) that contain ``marker``, with their parameters."""
    captured: list[tuple[str, Any]] = []
    engine = (db.write_engine if writes else db.read_engine).sync_engine

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if marker in statement and statement.lstrip().upper().startswith("SELECT"):
            captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        await page()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    return captured


async def _plans(db: Database, page: Callable[[], Awaitable[Any]]) -> list[tuple[str, dict[str, Any]]]:
    captured = await _selects(db, page)
    plans = []
    async with db.read_engine.connect() as connection:
        for statement, parameters in captured:
            result = await connection.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters)
            plan = result.scalar_one()
            plans.append((statement, (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]))
    return plans


def _seq_scans(node: dict[str, Any]) -> list[str]:
    found = [node["Relation Name"]] if node.get("Node Type") == "Seq Scan" and node.get("Relation Name") else []
    for child in node.get("Plans", []):
        found += _seq_scans(child)
    return found


@pytest.fixture(scope="module")
async def big_board(postgres_url: str) -> AsyncIterator[tuple[Database, int]]:
    """Plans are asserted on PostgreSQL, where production load runs."""
    db = Database(postgres_url)
    async with db.write_engine.begin() as connection:
        tables = ", ".join(t.name for t in reversed(Base.metadata.sorted_tables))
        await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield db, await _fill(db)
    await db.dispose()


PAGES: dict[str, Callable[[BoardsService, int], Awaitable[Any]]] = {
    "thread page": lambda s, op: s.thread("b", op),
    "board page": lambda s, op: s.board_page("b", 2),
    "catalog": lambda s, op: s.catalog("b"),
    "archive": lambda s, op: s.archive("b"),
    "overboard": lambda s, op: s.overboard(work_safe_only=False, page=1),
    "home": lambda s, op: s.home(),
    "page version": lambda s, op: s.version("b", op),
}


@pytest.mark.parametrize("name", list(PAGES))
async def test_hot_queries_use_indexes(big_board: tuple[Database, int], name: str) -> None:
    db, last_thread = big_board
    service = BoardsService(db, secret=b"x")
    plans = await _plans(db, lambda: PAGES[name](service, last_thread))
    assert plans, "the page ran no query"
    for statement, plan in plans:
        scanned = [t for t in _seq_scans(plan) if t in BIG_TABLES]
        assert not scanned, f"{name}: sequential scan of {scanned} in\n{statement}\n{json.dumps(plan, indent=1)[:3000]}"


async def test_approval_queue_uses_the_partial_held_index(database: Database) -> None:
    """ix_posts_held covers only held posts (so no public page's ``held IS false`` filter can
    pick it); the approval queue, its one user, must still be able to use it on both databases."""
    from imageboard.boards import NewPost
    from imageboard.boards.repository import staff_held_posts

    service = BoardsService(database, secret=b"x")
    await service.create_board(BoardSpec(uri="b", title="Random", require_file=False))
    op = await service.create_post(NewPost(board="b", thread_no=0, comment="visible"))
    for n in range(3):
        await service.create_post(NewPost(board="b", thread_no=op.post_no, comment=f"held {n}", hold_for_review=True))
    async with database.reader() as session:
        held = await staff_held_posts(session, None, limit=10)
    assert [view.comment for view, _uri, _no in held] == ["held 0", "held 1", "held 2"]

    plans = await _queue_plans(database)
    assert plans and all("ix_posts_held" in plan for plan in plans), plans
    async with database.read_engine.connect() as connection:
        if database.is_sqlite:
            query = "SELECT sql FROM sqlite_master WHERE name = 'ix_posts_held'"
        else:
            query = "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_posts_held'"
        definition = (await connection.exec_driver_sql(query)).scalar_one()
    assert "WHERE" in definition.upper() and "held" in definition.split("WHERE")[-1], definition


async def _queue_plans(db: Database) -> list[str]:
    from imageboard.boards.repository import staff_held_posts

    async def queue() -> None:
        async with db.reader() as session:  # the site-wide queue (a board's adds board_id IN)
            await staff_held_posts(session, None, limit=10)

    captured = await _selects(db, queue, "posts.held")
    plans = []
    async with db.read_engine.connect() as connection:
        for statement, parameters in captured:
            if db.is_sqlite:
                rows = await connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
                plans.append(" / ".join(str(row[-1]) for row in rows))
            else:
                # A few rows: PostgreSQL would scan them whatever the indexes; what is asserted
                # is that the partial index can serve the query at all.
                await connection.exec_driver_sql("SET enable_seqscan = off")
                result = await connection.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters)
                plan = result.scalar_one()
                plans.append(json.dumps(plan))
    return plans


async def _sqlite_plan(
    db: Database, page: Callable[[], Awaitable[Any]], marker: str, *, writes: bool = False
) -> str:
    """SQLite's plan of the one statement ``page()`` runs that contains ``marker``."""
    captured = await _selects(db, page, marker, writes=writes)
    assert len(captured) == 1, captured
    statement, parameters = captured[0]
    async with db.read_engine.connect() as connection:
        rows = (await connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)).all()
    return " / ".join(str(row[-1]) for row in rows)


async def _small_site(db: Database) -> BoardsService:
    from imageboard.boards import NewPost

    service = BoardsService(db, secret=b"x")
    for uri in ("b", "g"):
        await service.create_board(BoardSpec(uri=uri, title=uri, require_file=False))
        for n in range(3):
            op = await service.create_post(NewPost(board=uri, thread_no=0, comment=f"{uri} {n}"))
            for r in range(3):
                await service.create_post(NewPost(board=uri, thread_no=op.post_no, comment=f"reply {r}"))
    return service


async def test_home_counts_a_days_posts_from_the_time_index(sqlite_database: Database) -> None:
    """The home page's posts-in-the-last-day per board reads the day's range of
    ix_posts_created_at alone; grouping by the board column would let SQLite walk every post
    of the site along the (board_id, no) index instead."""
    service = await _small_site(sqlite_database)
    plan = await _sqlite_plan(sqlite_database, service.home, "count(*)")
    assert "SEARCH posts USING COVERING INDEX ix_posts_created_at" in plan, plan
    assert "SCAN posts" not in plan, plan
    assert sorted(s.posts_last_day for s in await service.home()) == [12, 12]


async def test_opening_posts_come_from_the_partial_index_on_sqlite(sqlite_database: Database) -> None:
    """The catalog's (and board pages') opening posts: SQLite uses ix_posts_opening only when
    its predicate is the one SQLAlchemy renders (``is_op = 1``); otherwise it walks every post
    of each thread."""
    service = await _small_site(sqlite_database)
    plan = await _sqlite_plan(sqlite_database, lambda: service.catalog("b"), "posts.is_op")
    assert "USING INDEX ix_posts_opening" in plan, plan
    _board, entries = await service.catalog("b")
    assert sorted(e.op.comment for e in entries) == ["b 0", "b 1", "b 2"]


async def test_waiting_files_are_asked_for_with_the_partial_indexs_own_predicate(sqlite_database: Database) -> None:
    """Every post with files asks whether a file of its board waits for a worker, and the
    worker claims them: both read ix_attachments_processing, not every attachment of the
    site. The statements spell the index's predicate with its literal: with a bound value in
    its place SQLite prepares the statement anew on every run to see whether the index
    applies, and PostgreSQL's generic plans of a prepared statement cannot use it at all."""
    from imageboard.media import repository as media_repository

    await _small_site(sqlite_database)

    async def ask() -> bool:
        async with sqlite_database.reader(primary=True) as session:
            return await media_repository.has_processing(session, board_uri="b")

    async def claim() -> list[Any]:
        now = datetime.now(UTC)
        async with sqlite_database.writer() as session:
            return await media_repository.claim_processing(session, now=now, lease_until=now, board_uri="b", limit=4)

    for page, writes in ((ask, False), (claim, True)):
        [(statement, _parameters)] = await _selects(sqlite_database, page, "FROM attachments", writes=writes)
        assert "attachments.status = 'processing'" in statement, statement
        plan = await _sqlite_plan(sqlite_database, page, "FROM attachments", writes=writes)
        assert "USING INDEX ix_attachments_processing" in plan, plan
    assert await ask() is False
