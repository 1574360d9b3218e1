"""PostgreSQL connections handed out by the pool are live, without a ping before every use:
one the server closed is replaced, one idle for a while is pinged first."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection

from imageboard.core import db as db_module
from imageboard.core.db import Database


@pytest.fixture
async def pg(postgres_url: str) -> AsyncIterator[Database]:
    database = Database(postgres_url, pool_size=2, max_overflow=0)
    yield database
    await database.dispose()


async def _backend_pid(database: Database) -> int:
    async with database.reader() as session:
        return int((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one())


class Pings:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = AsyncAdapt_asyncpg_connection.ping

        def counting(connection: AsyncAdapt_asyncpg_connection) -> None:
            self.count += 1
            original(connection)

        monkeypatch.setattr(AsyncAdapt_asyncpg_connection, "ping", counting)


async def test_busy_connections_are_not_pinged(pg: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    pings = Pings(monkeypatch)
    first = await _backend_pid(pg)
    for _ in range(5):
        assert await _backend_pid(pg) == first  # the same pooled connection, reused
    assert pings.count == 0


async def test_a_connection_the_server_closed_is_replaced(pg: Database, postgres_url: str) -> None:
    victim = await _backend_pid(pg)
    admin = Database(postgres_url, pool_size=1, max_overflow=0)
    try:
        async with admin.writer() as session:
            await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": victim})
    finally:
        await admin.dispose()
    await asyncio.sleep(0.2)  # the client sees the socket close
    replacement = await _backend_pid(pg)  # no error: the dead connection is not handed out
    assert replacement != victim


async def test_an_idle_connection_is_pinged_first(pg: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    pings = Pings(monkeypatch)
    first = await _backend_pid(pg)
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 0.05)
    await asyncio.sleep(0.1)
    assert await _backend_pid(pg) == first  # pinged, alive, kept
    assert pings.count == 1
