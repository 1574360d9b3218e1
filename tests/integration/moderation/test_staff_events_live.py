"""Staff actions reach an open thread's live-update stream: the whole application (the ``all``
role: outbox relay, bus, live hub and SSE in one process) served over HTTP, with the real
media context, and the actions taken through the moderation service as the staff pages do."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pyvips
from fastapi import FastAPI

from imageboard.accounts import Actor, SiteRole
from imageboard.app import create_app
from imageboard.boards import BoardSpec, BoardsService
from imageboard.config import Settings
from imageboard.core.db import Database
from imageboard.moderation import ModerationService
from tests.integration.events.conftest import serve
from tests.integration.events.test_sse import Stream, open_stream

ADMIN = Actor(user_id=0, username="admin", site_role=SiteRole.ADMIN)
JSON = {"accept": "application/json"}


@pytest.fixture
async def live_site(tmp_path: Path, sqlite_database: Database) -> AsyncIterator[tuple[FastAPI, str]]:
    settings = Settings(
        data_dir=tmp_path, secret_key="test-secret", environment="development", page_cache="off", antispam="off"
    )
    boards = BoardsService(sqlite_database, secret=settings.secret)
    await boards.create_board(BoardSpec(uri="b", title="Random", require_file=False))
    app = create_app(settings, database=sqlite_database)
    async with app.router.lifespan_context(app), serve(app) as url:
        yield app, url


async def post(client: httpx.AsyncClient, comment: str, thread: int = 0, picture: bytes | None = None) -> int:
    files = {"upfile": ("pic.png", picture, "image/png")} if picture else {"upfile": ("", b"")}
    response = await client.post("/b/post", data={"com": comment, "resto": str(thread)}, files=files, headers=JSON)
    assert response.status_code == 201, response.text
    return int(response.json()["no"])


async def next_of(stream: Stream, kind: str) -> dict[str, object]:
    """The data of the next event of ``kind`` (skipping the thread.updated a reply brings)."""
    while True:
        frame = await stream.event(wait=5.0)
        if frame["event"] == kind:
            return dict(json.loads(frame["data"]))


async def test_staff_edits_and_deletions_reach_an_open_thread(live_site: tuple[FastAPI, str]) -> None:
    app, url = live_site
    moderation: ModerationService = app.state.moderation
    picture = bytes(pyvips.Image.black(64, 48).draw_circle([200], 32, 24, 16, fill=True).write_to_buffer(".png"))
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        op = await post(client, "a thread to watch")
        reply = await post(client, "a typo here", thread=op, picture=picture)
        other = await post(client, "another reply", thread=op)
        async with open_stream(client, f"{url}/b/thread/{op}/events") as stream:
            await moderation.actions.edit_post(ADMIN, "b", reply, "no typo here")
            edited = await next_of(stream, "post.updated")
            assert edited["post_no"] == reply
            assert edited["post"]["comment"] == "no typo here"  # type: ignore[index]

            await moderation.actions.spoiler_file(ADMIN, "b", reply)
            assert (await next_of(stream, "post.updated"))["post_no"] == reply

            await moderation.actions.delete_file(ADMIN, "b", reply)
            gone_file = await next_of(stream, "file.deleted")
            assert gone_file["post_no"] == reply and gone_file["by_staff"] is True
            assert len(str(gone_file["sha256"])) == 64

            await moderation.actions.delete_post(ADMIN, "b", other)
            deleted = await next_of(stream, "post.deleted")
            assert (deleted["post_no"], deleted["is_op"], deleted["by_staff"]) == (other, False, True)

            await moderation.actions.set_flag(ADMIN, "b", op, "locked", True)
            assert (await next_of(stream, "thread.updated"))["locked"] is True

            await moderation.actions.delete_post(ADMIN, "b", op)
            thread = await next_of(stream, "post.deleted")
            assert (thread["post_no"], thread["is_op"]) == (op, True)
        for frame_data in (edited, gone_file, deleted, thread):
            assert "203.0.113" not in json.dumps(frame_data) and "127.0.0.1" not in json.dumps(frame_data)
