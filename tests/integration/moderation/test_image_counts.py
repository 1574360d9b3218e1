"""A thread's image count over HTTP with the real media context, on both databases: the files
on its replies (the opening post's not counted, as 4chan's ``images``), the same number in
thread documents, index pages, the catalog and ``/api/v1``, kept right when posters or staff
delete files and posts, and the image limit enforced on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from imageboard.accounts import Actor, SiteRole
from imageboard.app import create_app
from imageboard.boards import BoardSpec, BoardsService
from imageboard.config import Settings
from imageboard.core.db import Database

from .http_site import JSON, Site
from .test_board_images_and_file_bans import picture

ADMIN = Actor(user_id=0, username="admin", site_role=SiteRole.ADMIN)
PASSWORD = "deletion-password"


@pytest.fixture
async def site(tmp_path: Path, database: Database) -> Site:
    settings = Settings(data_dir=tmp_path, secret_key="test-secret", environment="development", antispam="off")
    boards = BoardsService(database, secret=settings.secret)
    await boards.create_board(BoardSpec(uri="b", title="Random", require_file=False))
    await boards.create_board(BoardSpec(uri="lim", title="Limited", require_file=False, image_limit=2))
    app = create_app(settings, database=database)
    return Site(app=app, transport=httpx.ASGITransport(app=app, client=("203.0.113.7", 40000)))


async def _post(client: httpx.AsyncClient, board: str, thread: int, seed: int | None) -> httpx.Response:
    form = {"resto": str(thread), "com": f"post {seed}", "pwd": PASSWORD}
    files = {"upfile": ("pic.png", picture(seed), "image/png")} if seed is not None else None
    return await client.post(f"/{board}/post", data=form, files=files, headers=JSON)


async def _posted(client: httpx.AsyncClient, board: str, thread: int, seed: int | None) -> int:
    response = await _post(client, board, thread, seed)
    assert response.status_code == 201, response.text
    return int(response.json()["no"])


async def _counts(client: httpx.AsyncClient, op: int, board: str = "b") -> dict[str, Any]:
    """``images`` (and ``omitted_images``) wherever the thread is shown."""
    thread = (await client.get(f"/{board}/thread/{op}.json")).json()["posts"][0]
    index = (await client.get(f"/{board}/1.json")).json()["threads"][0]["posts"][0]
    catalog = (await client.get(f"/{board}/catalog.json")).json()[0]["threads"][0]
    v1 = (await client.get(f"/api/v1/boards/{board}/threads/{op}")).json()
    assert index["no"] == catalog["no"] == op
    images = {thread["images"], index["images"], catalog["images"], v1["file_count"]}
    assert len(images) == 1, (thread, index, catalog, v1["file_count"])
    return {"images": images.pop(), "omitted": (index["omitted_images"], catalog["omitted_images"]),
            "limit": thread.get("imagelimit", 0)}  # fmt: skip


async def test_images_count_the_replies_files_wherever_the_thread_is_shown(site: Site) -> None:
    client = site.client()
    op = await _posted(client, "b", 0, 1)
    with_file = await _posted(client, "b", op, 2)
    await _posted(client, "b", op, None)
    poster_deletes = await _posted(client, "b", op, 3)
    staff_deletes = await _posted(client, "b", op, 4)
    for _ in range(5):  # pushes the replies with files out of the index's preview
        await _posted(client, "b", op, None)
    assert await _counts(client, op) == {"images": 3, "omitted": (3, 3), "limit": 0}

    await site.boards.delete_own_post("b", poster_deletes, PASSWORD, file_only=True)
    assert (await _counts(client, op))["images"] == 2
    await site.boards.delete_own_post("b", op, PASSWORD, file_only=True)  # the opening post's file
    assert (await _counts(client, op))["images"] == 2
    await site.moderation.actions.delete_post(ADMIN, "b", staff_deletes)
    assert (await _counts(client, op))["images"] == 1
    await site.moderation.actions.delete_file(ADMIN, "b", with_file)
    assert await _counts(client, op) == {"images": 0, "omitted": (0, 0), "limit": 0}


async def test_the_image_limit_counts_the_replies_files(site: Site) -> None:
    client = site.client()
    op = await _posted(client, "lim", 0, 1)
    await _posted(client, "lim", op, 2)
    await _posted(client, "lim", op, 3)  # the second image reply reaches the limit of two
    assert (await _counts(client, op, "lim"))["images"] == 2
    assert (await _counts(client, op, "lim"))["limit"] == 1
    refused = await _post(client, "lim", op, 4)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "image_limit"
    await _posted(client, "lim", op, None)  # replies without a file are still taken
    assert (await _counts(client, op, "lim"))["images"] == 2


async def test_a_held_replys_files_count_once_staff_approve_it(site: Site) -> None:
    client = site.client()
    op = await _posted(client, "lim", 0, 1)
    await site.moderation.admin.update_board(ADMIN, "lim", {"hold_links_files": True})
    held = await _post(client, "lim", op, 2)
    assert held.status_code == 201 and held.json().get("held") is True, held.text
    assert (await _counts(client, op, "lim"))["images"] == 0  # invisible until approved
    await site.moderation.actions.approve(ADMIN, "lim", int(held.json()["no"]))
    assert (await _counts(client, op, "lim"))["images"] == 1
