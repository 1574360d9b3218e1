"""The whole site with the API routers wired in the order app.py must use: the API routes
first, then the HTML routes. Boards: /b/ (files optional), /tech/ (work-safe), /int/ (poster
IDs and country flags)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from imageboard.app import create_app
from imageboard.boards import BoardSpec, BoardsService, NewPost
from imageboard.config import Settings
from imageboard.core.db import Database

MEDIA_BASE = "https://media.example.test"
CLIENT_IP = "203.0.113.7"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 17, 30, 15, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 1.0) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@dataclass
class Site:
    client: httpx.AsyncClient
    boards: BoardsService
    clock: Clock
    db: Database
    app: FastAPI

    async def post(self, board: str = "b", thread: int = 0, *, ip: str | None = CLIENT_IP, **fields: str) -> int:
        """Post through the service at the current clock time; returns the post number."""
        self.clock.advance(1)
        created = await self.boards.create_post(
            NewPost(board=board, thread_no=thread, ip=ip, **fields)  # type: ignore[arg-type]
        )
        return created.post_no


async def _site(settings: Settings, database: Database) -> AsyncIterator[Site]:
    clock = Clock()
    app = create_app(settings.model_copy(update={"media_base_url": MEDIA_BASE}), database=database, clock=clock)
    boards: BoardsService = app.state.boards
    await boards.create_board(BoardSpec(uri="b", title="Random", require_file=False))
    await boards.create_board(BoardSpec(uri="tech", title="Technology & <Stuff>", work_safe=True, require_file=False))
    await boards.create_board(
        BoardSpec(uri="int", title="International", require_file=False, poster_ids=True, country_flags=True)
    )
    transport = httpx.ASGITransport(app=app, client=(CLIENT_IP, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield Site(client, boards, clock, database, app)


@pytest.fixture
async def site(settings: Settings, database: Database) -> AsyncIterator[Site]:
    """On SQLite and on PostgreSQL."""
    async for value in _site(settings, database):
        yield value


@pytest.fixture
async def sqlite_site(settings: Settings, sqlite_database: Database) -> AsyncIterator[Site]:
    async for value in _site(settings, sqlite_database):
        yield value
