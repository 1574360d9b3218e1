"""The version memo: a hot page's version is reused for a moment instead of queried, without
hiding a process's own writes, or a poster's writes from the poster."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import event

from imageboard.app import create_app
from imageboard.boards import BoardSpec, BoardsService
from imageboard.boards.schemas import NewPost
from imageboard.config import Settings
from imageboard.core.db import Database, read_from_primary

JSON = {"accept": "application/json"}


@pytest.fixture
async def other_process(sqlite_url: str, sqlite_database: Database) -> AsyncIterator[BoardsService]:
    """Another process's view of the same database: its own engines, its own write counter."""
    other = Database(sqlite_url)
    yield BoardsService(other, secret=b"x")
    await other.dispose()


def count_queries(db: Database) -> list[str]:
    seen: list[str] = []

    @event.listens_for(db.read_engine.sync_engine, "before_cursor_execute")
    def _count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    return seen


async def _thread(service: BoardsService) -> int:
    await service.create_board(BoardSpec(uri="b", title="Random", require_file=False))
    return (await service.create_post(NewPost(board="b", thread_no=0, comment="op", password="pw"))).post_no


async def test_a_remembered_version_costs_no_query(sqlite_database: Database) -> None:
    service = BoardsService(sqlite_database, secret=b"x", version_memo_seconds=60)
    thread = await _thread(service)
    queries = count_queries(sqlite_database)
    first = await service.version("b", thread)
    asked = len(queries)
    assert first is not None and asked == 1
    assert await service.version("b", thread) == first
    assert await service.version("b", thread) == first
    assert len(queries) == asked  # no query for the repeats
    assert await service.version("b", 999_999) is None
    assert await service.version("b", 999_999) is None
    assert len(queries) == asked + 1  # a missing thread is remembered too


async def test_own_writes_show_at_once(sqlite_database: Database) -> None:
    service = BoardsService(sqlite_database, secret=b"x", version_memo_seconds=60)
    thread = await _thread(service)
    before = (await service.version("b", thread), await service.version("b"), await service.version())
    await service.create_post(NewPost(board="b", thread_no=thread, comment="reply", password="pw"))
    after = (await service.version("b", thread), await service.version("b"), await service.version())
    assert all(new is not None and old is not None and new > old for old, new in zip(before, after, strict=True))


async def test_other_process_writes_show_within_the_window(
    sqlite_database: Database, other_process: BoardsService
) -> None:
    service = BoardsService(sqlite_database, secret=b"x", version_memo_seconds=0.3)
    thread = await _thread(service)
    old = await service.version("b", thread)
    await other_process.create_post(NewPost(board="b", thread_no=thread, comment="elsewhere", password="pw"))
    assert await service.version("b", thread) == old  # remembered: the window has not passed
    token = read_from_primary.set(True)  # the poster's own requests
    try:
        fresh = await service.version("b", thread)
    finally:
        read_from_primary.reset(token)
    assert fresh is not None and old is not None and fresh > old
    await asyncio.sleep(0.35)
    assert await service.version("b", thread) == fresh  # everyone, once the window passed


async def test_without_a_window_every_request_asks(sqlite_database: Database, other_process: BoardsService) -> None:
    service = BoardsService(sqlite_database, secret=b"x")
    thread = await _thread(service)
    old = await service.version("b", thread)
    await other_process.create_post(NewPost(board="b", thread_no=thread, comment="elsewhere", password="pw"))
    new = await service.version("b", thread)
    assert new is not None and old is not None and new > old


async def test_poster_sees_their_reply_made_through_another_process(
    settings: Settings, sqlite_database: Database, sqlite_url: str
) -> None:
    """Over HTTP, with two site processes: the read-your-writes cookie set by the one that took
    the post makes the other skip its memo for that client."""
    remembering = settings.model_copy(update={"version_memo_seconds": 60})
    other = Database(sqlite_url)
    try:
        here, there = create_app(remembering, database=sqlite_database), create_app(remembering, database=other)
        thread = await _thread(BoardsService(sqlite_database, secret=b"x"))
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=here), base_url="http://testserver") as reader,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=there), base_url="http://testserver") as poster,
        ):
            assert (await reader.get(f"/b/thread/{thread}")).status_code == 200  # remembered here
            posted = await poster.post("/b/post", data={"com": "my reply", "resto": str(thread)}, headers=JSON)
            assert posted.status_code == 201, posted.text
            reader_again = await reader.get(f"/b/thread/{thread}")
            assert "my reply" not in reader_again.text  # the window has not passed for others
            reader.cookies.update(poster.cookies)  # the poster's next request lands here
            assert "my reply" in (await reader.get(f"/b/thread/{thread}")).text
    finally:
        await other.dispose()
