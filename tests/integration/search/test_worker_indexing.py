"""IMAGEBOARD_SEARCH_INDEXING=worker: posting does no index work; the ``search`` worker group
indexes each post.created event, and the periodic catch-up what no event announces."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from imageboard.app import create_app
from imageboard.boards import BoardSpec, BoardsService, NewPost, staff
from imageboard.core.db import Database
from imageboard.events import EventSettings, PostCreated, WorkerRegistry
from imageboard.events.runtime import EventsRuntime
from imageboard.search import SearchService
from imageboard.search import tasks as search_tasks

from .conftest import site_settings


async def _found(search: SearchService, q: str) -> list[int]:
    return [hit.no for hit in (await search.search(q)).hits]


async def _eventually_found(search: SearchService, q: str, expected: list[int], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while (found := await _found(search, q)) != expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"{q!r}: found {found}, expected {expected}")
        await asyncio.sleep(0.05)


async def test_the_worker_group_indexes_new_posts(tmp_path: Path, database: Database) -> None:
    app = create_app(site_settings(tmp_path, search_indexing="worker"), database=database)
    boards: BoardsService = app.state.boards
    search: SearchService = app.state.search
    runtime: EventsRuntime = app.state.events
    assert boards.indexer is None
    assert search_tasks.SEARCH_GROUP in runtime.registry.registrations
    assert "search-catch-up" in runtime.registry.periodic
    del runtime.registry.periodic["search-catch-up"]  # run by hand below: only events index here
    await boards.create_board(BoardSpec(uri="b", title="Random", require_file=False))
    await runtime.start()
    try:
        op = (await boards.create_post(NewPost(board="b", thread_no=0, comment="queued wombat"))).post_no
        reply = (
            await boards.create_post(NewPost(board="b", thread_no=op, comment="wombat reply", password="pw"))
        ).post_no
        await _eventually_found(search, "wombat", [reply, op])

        # A held post announces nothing: the catch-up indexes it, and approval shows it.
        held = (
            await boards.create_post(NewPost(board="b", thread_no=op, comment="held wombat", hold_for_review=True))
        ).post_no
        assert await search.catch_up() == 1
        assert await _found(search, "wombat") == [reply, op]
        async with database.writer() as session:
            await staff.approve_post(session, "b", held, boards.clock(), None)
        assert await _found(search, "wombat") == [held, reply, op]

        # Deleting needs no event handling: the database drops the index row with the post.
        await boards.delete_own_post("b", reply, "pw")
        assert await _found(search, "wombat") == [held, op]
        assert await search.indexed_count() == 2
    finally:
        await runtime.stop(grace=2)


async def test_the_handler_is_idempotent_and_skips_posts_that_are_gone(database: Database) -> None:
    boards = BoardsService(database, secret=b"x")
    search = SearchService(database)
    await boards.create_board(BoardSpec(uri="b", title="Random", require_file=False))
    created = await boards.create_post(NewPost(board="b", thread_no=0, comment="redelivered quokka", password="pw"))
    event = PostCreated(board="b", thread_no=created.thread_no, post_no=created.post_no)
    for _ in range(3):  # at-least-once delivery: the same event again changes nothing
        assert await search_tasks.index_created_post(search, event)
    assert await _found(search, "quokka") == [created.post_no]
    assert await search.indexed_count() == 1
    await boards.delete_own_post("b", created.post_no, "pw")
    assert not await search_tasks.index_created_post(search, event)
    assert await search.indexed_count() == 0


@pytest.mark.parametrize(("mode", "registered"), [("inline", False), ("worker", True)])
async def test_the_registrar_acts_only_in_worker_mode(
    tmp_path: Path, database: Database, mode: str, registered: bool
) -> None:
    settings = site_settings(tmp_path, search_indexing=mode)
    runtime = EventsRuntime(
        settings, EventSettings(worker_tasks="imageboard.search.tasks:register"), db=database, role="worker"
    )
    registry = WorkerRegistry()
    search_tasks.register(registry, runtime)
    search_tasks.register(registry, runtime)  # named twice (DEFAULT_TASKS and the setting): no error
    assert (search_tasks.SEARCH_GROUP in registry.registrations) is registered
    assert ("search-catch-up" in registry.periodic) is registered
