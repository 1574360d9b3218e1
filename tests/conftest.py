"""Shared fixtures: databases (SQLite and the real PostgreSQL server), services and the app.

Data-layer tests take the ``database`` fixture and so run once on each database. PostgreSQL
tests use a database created for this test run and dropped afterwards; when the server is
not reachable they fail — CI starts it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy import text

from imageboard.app import create_app
from imageboard.boards import BoardSpec, BoardsService
from imageboard.config import Settings
from imageboard.core.db import Base, Database
from imageboard.core.migrate import upgrade

POSTGRES_ADMIN_DSN = os.environ.get("IMAGEBOARD_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
SECRET = b"test-secret"


def _postgres_url(name: str) -> str:
    base = POSTGRES_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"


def _admin(sql: str) -> None:
    """Run one statement on the server's admin database, from inside or outside a loop."""

    async def run() -> None:
        connection = await asyncpg.connect(POSTGRES_ADMIN_DSN)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, run()).result()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    name = f"imageboard_test_{os.getpid()}"
    _admin(f'DROP DATABASE IF EXISTS "{name}"')
    _admin(f'CREATE DATABASE "{name}"')
    url = _postgres_url(name)
    upgrade(url)
    yield url
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("sqlite") / "test.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind, not migrated: for the migrations' own tests."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrate.sqlite3'}"
        return
    name = f"imageboard_migration_{os.getpid()}"
    _admin(f'DROP DATABASE IF EXISTS "{name}"')
    _admin(f'CREATE DATABASE "{name}"')
    try:
        yield _postgres_url(name)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _empty(db: Database) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    async with db.write_engine.begin() as connection:
        if db.is_sqlite:
            for table in tables:
                await connection.execute(text(f"DELETE FROM {table}"))  # noqa: S608  (names from our own metadata)
        else:
            await connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgres"])
async def database(request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    url = request.getfixturevalue(f"{request.param}_url")
    db = Database(url, pool_size=20, max_overflow=20)
    await _empty(db)
    yield db
    await db.dispose()


@pytest.fixture
async def sqlite_database(sqlite_url: str) -> AsyncIterator[Database]:
    db = Database(sqlite_url)
    await _empty(db)
    yield db
    await db.dispose()


@pytest.fixture
def boards(database: Database) -> BoardsService:
    return BoardsService(database, secret=SECRET)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # Anti-spam has suites of its own; elsewhere one test client posting fast is not a spammer.
    return Settings(data_dir=tmp_path, secret_key="test-secret", environment="development", antispam="off")


@pytest.fixture
async def app_client(settings: Settings, sqlite_database: Database) -> AsyncIterator[httpx.AsyncClient]:
    """The whole application in-process on SQLite, with /b/ (files optional) and /tech/."""
    service = BoardsService(sqlite_database, secret=settings.secret)
    await service.create_board(BoardSpec(uri="b", title="Random", require_file=False))
    await service.create_board(BoardSpec(uri="tech", title="Technology", work_safe=True, require_file=False))
    app = create_app(settings, database=sqlite_database)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
