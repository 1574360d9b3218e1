"""Search over both databases: the boards service with the search service's inline indexer,
as the composition root wires them, a clock the test moves, and the whole site over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from imageboard.app import create_app
from imageboard.boards import BoardSpec, BoardsService, NewPost
from imageboard.config import Settings
from imageboard.core.db import Database
from imageboard.search import SearchService
from imageboard.search.highlight import START, STOP

SECRET = b"test-secret"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Board:
    """The services of one test, and a helper to post."""

    db: Database
    clock: Clock
    boards: BoardsService
    search: SearchService

    async def post(
        self, comment: str, *, thread: int = 0, board: str = "b", ip: str = "203.0.113.7", **fields: object
    ) -> int:
        self.clock.advance(seconds=1)
        created = await self.boards.create_post(
            NewPost(board=board, thread_no=thread, comment=comment, ip=ip, password="pw", **fields)  # type: ignore[arg-type]
        )
        return created.post_no

    async def found(self, q: str, *, board: str | None = None) -> list[tuple[str, int]]:
        """(board, post number) of every hit, newest first, following every page."""
        hits: list[tuple[str, int]] = []
        cursor = None
        while True:
            page = await self.search.search(q, board=board, cursor=cursor, limit=100)
            hits += [(h.board, h.no) for h in page.hits]
            if page.next_cursor is None:
                return hits
            cursor = page.next_cursor


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def site_boards(database: Database, clock: Clock) -> Board:
    boards = BoardsService(database, secret=SECRET, clock=clock)
    search = SearchService(database, clock=clock)
    boards.indexer = search.index_post
    await boards.create_board(BoardSpec(uri="b", title="Random", require_file=False))
    await boards.create_board(BoardSpec(uri="tech", title="Technology", require_file=False, work_safe=True))
    return Board(database, clock, boards, search)


@dataclass
class Site:
    client: httpx.AsyncClient
    app: FastAPI
    boards: BoardsService

    async def post(self, comment: str, *, thread: int = 0, board: str = "b", subject: str = "") -> int:
        created = await self.boards.create_post(
            NewPost(board=board, thread_no=thread, comment=comment, subject=subject, ip="203.0.113.7")
        )
        return created.post_no


def site_settings(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(
        data_dir=tmp_path,
        secret_key="test-secret",
        environment="development",
        page_cache="off",
        antispam="off",
        **overrides,  # type: ignore[arg-type]
    )


@pytest.fixture
async def site(tmp_path: Path, database: Database) -> AsyncIterator[Site]:
    """The whole application on SQLite and on PostgreSQL, with /b/ and /tech/."""
    app = create_app(site_settings(tmp_path), database=database)
    boards: BoardsService = app.state.boards
    await boards.create_board(BoardSpec(uri="b", title="Random", require_file=False))
    await boards.create_board(BoardSpec(uri="tech", title="Technology", require_file=False))
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield Site(client, app, boards)


def only_mark_tags(html: str) -> bool:
    """True when the only tags in ``html`` are <mark> and </mark> and no marker is left."""
    import re

    tags = re.findall(r"<[^>]*>", html)
    return all(tag in ("<mark>", "</mark>") for tag in tags) and START not in html and STOP not in html
