"""Moderation over both databases: the services wired as the app wires them, with a clock
the test moves, and actors for every role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from imageboard.accounts import AccountsService, Actor, BoardRole, SiteRole
from imageboard.app import create_app
from imageboard.boards import BoardSpec, BoardsService, NewPost
from imageboard.config import Settings
from imageboard.core.db import Database
from imageboard.moderation import ModerationService

from .http_site import Site, make_site

SECRET = b"test-secret"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Mod:
    """The services of one test, and helpers to post and act."""

    clock: Clock
    boards: BoardsService
    accounts: AccountsService
    moderation: ModerationService

    async def post(
        self, comment: str, *, thread: int = 0, ip: str | None = "203.0.113.7", board: str = "b", **kw: object
    ) -> int:
        created = await self.boards.create_post(
            NewPost(board=board, thread_no=thread, comment=comment, ip=ip, **kw)  # type: ignore[arg-type]
        )
        self.clock.advance(seconds=1)
        return created.post_no


ADMIN = Actor(user_id=1, username="admin", site_role=SiteRole.ADMIN)
GLOBAL_MOD = Actor(user_id=2, username="gmod", site_role=SiteRole.GLOBAL_MODERATOR)
GLOBAL_JANITOR = Actor(user_id=3, username="gjan", site_role=SiteRole.GLOBAL_JANITOR)
OWNER = Actor(user_id=4, username="owner", board_roles={"b": BoardRole.OWNER})
MOD = Actor(user_id=5, username="mod", board_roles={"b": BoardRole.MODERATOR})
JANITOR = Actor(user_id=6, username="jan", board_roles={"b": BoardRole.JANITOR})
OTHER_MOD = Actor(user_id=7, username="techmod", board_roles={"tech": BoardRole.MODERATOR})


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def mod(database: Database, clock: Clock) -> Mod:
    boards = BoardsService(database, secret=SECRET, clock=clock)
    accounts = AccountsService(database, clock=clock)
    moderation = ModerationService(database, boards, accounts, clock=clock)
    boards.screen = moderation.screen
    await boards.create_board(BoardSpec(uri="b", title="Random", require_file=False, bump_limit=300))
    await boards.create_board(BoardSpec(uri="tech", title="Technology", require_file=False))
    return Mod(clock, boards, accounts, moderation)


@pytest.fixture
async def site(tmp_path: Path, sqlite_database: Database) -> AsyncIterator[Site]:
    """The application over HTTP on SQLite, with /b/ and /tech/ (files optional) and a stand-in
    for the media context's file operations."""
    settings = Settings(
        data_dir=tmp_path, secret_key="test-secret", environment="development", page_cache="off", antispam="off"
    )
    boards = BoardsService(sqlite_database, secret=settings.secret)
    await boards.create_board(BoardSpec(uri="b", title="Random", require_file=False))
    await boards.create_board(BoardSpec(uri="tech", title="Technology", require_file=False))
    async for made in make_site(create_app(settings, database=sqlite_database)):
        yield made
