"""Reads go to the replica, writes to the primary, and a poster reads the primary for a
moment after posting — against two real PostgreSQL databases (the second one stands in for
a replica that has not caught up yet)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sqlalchemy import text

from imageboard.app import create_app
from imageboard.boards import BoardSpec, BoardsService
from imageboard.config import Settings
from imageboard.core.db import Database, read_from_primary
from imageboard.core.migrate import upgrade

from ..conftest import _admin, _postgres_url

JSON = {"accept": "application/json"}


@pytest.fixture(scope="module")
def primary_and_replica() -> Iterator[tuple[str, str]]:
    names = [f"imageboard_primary_{os.getpid()}", f"imageboard_replica_{os.getpid()}"]
    for name in names:
        _admin(f'DROP DATABASE IF EXISTS "{name}"')
        _admin(f'CREATE DATABASE "{name}"')
        upgrade(_postgres_url(name))
    yield _postgres_url(names[0]), _postgres_url(names[1])
    for name in names:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def site(settings: Settings, primary_and_replica: tuple[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    primary, replica = primary_and_replica
    for url in (primary, replica):  # the board exists on both; the posts will not
        db = Database(url)
        service = BoardsService(db, secret=b"x")
        if not await service.count_boards():
            await service.create_board(BoardSpec(uri="b", title="Random", require_file=False))
        await db.dispose()
    database = Database(primary, replica_url=replica)
    app = create_app(settings, database=database)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
    await database.dispose()


async def test_writes_go_to_the_primary_and_reads_to_the_replica(site: httpx.AsyncClient) -> None:
    created = await site.post("/b/post", data={"com": "written to the primary"}, headers=JSON)
    assert created.status_code == 201, created.text
    no = created.json()["no"]
    assert site.cookies.get("ib_wrote"), "the poster is marked to read the primary for a while"

    # The poster reads their own write, from the primary.
    own = await site.get(f"/b/thread/{no}")
    assert own.status_code == 200 and "written to the primary" in own.text

    # Anyone else reads the replica, which has not caught up (here: never will).
    async with httpx.AsyncClient(transport=site._transport, base_url="http://testserver") as stranger:
        theirs = await stranger.get(f"/b/thread/{no}")
        assert theirs.status_code == 404
        catalog = await stranger.get("/b/catalog.json")
        assert catalog.status_code == 200 and "written to the primary" not in catalog.text

    # Once the mark expires the poster reads the replica too.
    site.cookies.clear()
    site.cookies.set("ib_wrote", "1")  # a time long past
    assert (await site.get(f"/b/thread/{no}")).status_code == 404


async def test_the_table_reader_chooses_its_database_as_the_session_reader_does(
    primary_and_replica: tuple[str, str],
) -> None:
    primary, replica = primary_and_replica
    database = Database(primary, replica_url=replica)
    where = text("SELECT current_database()")
    try:
        async with database.table_reader() as connection:
            assert (await connection.execute(where)).scalar_one() == replica.rsplit("/", 1)[1]
        async with database.table_reader(primary=True) as connection:
            assert (await connection.execute(where)).scalar_one() == primary.rsplit("/", 1)[1]
        marked = read_from_primary.set(True)  # a client who has just written
        try:
            async with database.table_reader() as connection, database.reader() as session:
                assert (await connection.execute(where)).scalar_one() == primary.rsplit("/", 1)[1]
                assert (await session.execute(where)).scalar_one() == primary.rsplit("/", 1)[1]
        finally:
            read_from_primary.reset(marked)
    finally:
        await database.dispose()
