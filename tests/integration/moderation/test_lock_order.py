"""Every write that changes a board's threads takes the board's row before any thread's, in
the order posting does (its claim of the next number, then the thread). In the other order, a
deletion holding a thread while it waits for the board and a reply holding the board while
it waits for that thread wait for each other until PostgreSQL aborts one of them."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import text

from imageboard.core.db import Database
from tests.statements import write_statements

from .conftest import ADMIN, Mod

PASSWORD = "lock-order"
postgres_only = pytest.mark.parametrize("database", ["postgres"], indirect=True)


async def _wait_until_someone_waits_for_a_lock(database: Database) -> None:
    deadline = time.monotonic() + 10
    async with database.write_engine.connect() as watcher:
        while time.monotonic() < deadline:
            waiting = await watcher.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
            if waiting:
                return
            # A transaction sees pg_stat_activity as it was at its first read: end it, or every
            # later poll repeats a snapshot taken before anyone waited (under load, CI failed so).
            await watcher.rollback()
            await asyncio.sleep(0.02)
    raise AssertionError("nothing waited for a lock")


@postgres_only
async def test_a_deletion_waits_for_the_board_before_it_takes_the_thread(mod: Mod, database: Database) -> None:
    op = await mod.post("first", password=PASSWORD)
    reply = await mod.post("to delete", thread=op, password=PASSWORD)
    async with database.write_engine.begin() as poster:  # a reply between its claim and its thread's count
        await poster.execute(text("UPDATE boards SET updated_at = updated_at WHERE uri = 'b'"))
        deletion = asyncio.create_task(mod.boards.delete_own_post("b", reply, PASSWORD))
        await _wait_until_someone_waits_for_a_lock(database)
        # The deletion waits for the board without holding the thread: the reply goes on.
        # (Taking the thread first, it made this wait until PostgreSQL found the deadlock.)
        await poster.execute(text("SET LOCAL lock_timeout = '5s'"))
        await poster.execute(text("UPDATE threads SET updated_at = updated_at WHERE no = :no"), {"no": op})
    assert await asyncio.wait_for(deletion, 10) is False
    assert await _post_count(database) == 1


@postgres_only
async def test_staff_deleting_a_posters_posts_waits_for_the_boards_first(mod: Mod, database: Database) -> None:
    op = await mod.post("first", ip="198.51.100.1")
    await mod.post("spam here", thread=op, ip="203.0.113.66")
    tech = await mod.post("elsewhere", board="tech", ip="198.51.100.2")
    await mod.post("spam there", thread=tech, board="tech", ip="203.0.113.66")
    async with database.write_engine.begin() as poster:  # a reply on /tech/ holds its board
        await poster.execute(text("UPDATE boards SET updated_at = updated_at WHERE uri = 'tech'"))
        deletion = asyncio.create_task(mod.moderation.actions.delete_by_poster(ADMIN, "b", op + 1, "site"))
        await _wait_until_someone_waits_for_a_lock(database)
        await poster.execute(text("SET LOCAL lock_timeout = '5s'"))
        await poster.execute(
            text("UPDATE threads SET updated_at = updated_at WHERE no = :no AND board_id = "
                 "(SELECT id FROM boards WHERE uri = 'tech')"),
            {"no": tech},
        )  # fmt: skip
    assert await asyncio.wait_for(deletion, 10) == 2
    assert await _post_count(database) == 2


@postgres_only
async def test_moving_a_thread_takes_both_boards_in_id_order(mod: Mod, database: Database) -> None:
    tech = await mod.post("to move", board="tech")
    async with database.write_engine.begin() as mover:  # a move from /b/ to /tech/, in flight
        await mover.execute(text("SELECT id FROM boards WHERE uri = 'b' FOR UPDATE"))
        moving = asyncio.create_task(mod.moderation.actions.move_thread(ADMIN, "tech", tech, "b"))
        await _wait_until_someone_waits_for_a_lock(database)
        # The other move waits for /b/ (the lower id) without holding /tech/.
        await mover.execute(text("SET LOCAL lock_timeout = '5s'"))
        await mover.execute(text("SELECT id FROM boards WHERE uri = 'tech' FOR UPDATE"))
    moved = await asyncio.wait_for(moving, 10)
    assert moved > 0


async def test_backlinks_touch_the_boards_before_their_threads(mod: Mod, database: Database) -> None:
    op = await mod.post("first")

    def keep(statement: str) -> bool:
        return statement.lstrip().upper().startswith(("UPDATE BOARDS", "UPDATE THREADS"))

    with write_statements(database, keep) as touched:
        await mod.post(f">>>/b/{op} a link from elsewhere", board="tech")
    # The new thread's claim on /tech/; then, after its commit, the quoted thread's board
    # and thread (its page gained a backlink).
    assert [s.split()[1].lower() for s in touched] == ["boards", "boards", "threads"]


async def _post_count(database: Database) -> int:
    async with database.reader(primary=True) as session:
        return int((await session.execute(text("SELECT count(*) FROM posts"))).scalar_one())
