"""The board setting ``unique_files``: a file already shown in a live thread of the board is
refused; once that thread is archived or deleted (or the file removed) it may be posted again,
and other boards are not concerned. On both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from imageboard.boards import BoardSpec, BoardsService, NewPost
from imageboard.boards.models import Board, Post
from imageboard.core.db import Database
from imageboard.core.errors import Conflict
from imageboard.media.schemas import IngestedFile
from imageboard.media.service import MediaService
from imageboard.media.storage_local import LocalStorage

from ...conftest import SECRET
from .conftest import fake_process, ingest

CAT = b"\x89PNG the cat picture " * 40
DOG = b"\x89PNG the dog picture " * 40
OWL = b"\x89PNG the owl picture " * 40


class Site:
    def __init__(self, database: Database, tmp_path: Path) -> None:
        self.db = database
        self.tmp_path = tmp_path
        self.media = MediaService(database, LocalStorage(tmp_path / "media"), workdir=tmp_path / "work",
                                  processor=fake_process)  # fmt: skip
        self.boards = BoardsService(database, secret=SECRET, media=self.media)

    async def file(self, data: bytes, name: str = "picture.png") -> IngestedFile:
        return await ingest(self.media, self.tmp_path, data, name)

    async def post(self, board: str, data: bytes, thread_no: int = 0, comment: str = "look") -> int:
        created = await self.boards.create_post(
            NewPost(board=board, thread_no=thread_no, comment=comment, password="pw", files=(await self.file(data),))
        )
        return created.post_no

    async def refused(self, board: str, data: bytes, thread_no: int = 0) -> Conflict:
        before = await self.posts(board)
        with pytest.raises(Conflict) as caught:
            await self.post(board, data, thread_no)
        # Nothing half-written: the post that would have carried the file is not there.
        assert await self.posts(board) == before
        return caught.value

    async def posts(self, board: str) -> int:
        async with self.db.reader() as session:
            query = select(func.count()).select_from(Post).join(Board).where(Board.uri == board)
            return int((await session.execute(query)).scalar_one())


@pytest.fixture
async def site(database: Database, tmp_path: Path) -> Site:
    site = Site(database, tmp_path)
    # One live thread per board: each new thread pushes the previous one into the archive.
    for uri, unique in (("u", True), ("v", True), ("w", False)):
        await site.boards.create_board(
            BoardSpec(uri=uri, title=uri, require_file=False, unique_files=unique, threads_per_page=2, pages=1)
        )
    return site


async def test_a_file_in_a_live_thread_is_refused_with_a_clear_message(site: Site) -> None:
    first = await site.post("u", CAT)
    error = await site.refused("u", CAT, thread_no=first)  # same thread
    assert error.status == 409
    assert error.code == "duplicate_file"
    assert error.field == "upfile"
    assert error.message == "This file is already posted in a thread on /u/: post a different one."
    # A new thread with it, too; another file is fine.
    assert (await site.refused("u", CAT)).code == "duplicate_file"
    await site.post("u", DOG, thread_no=first)
    assert (await site.refused("u", DOG)).code == "duplicate_file"


async def test_other_boards_are_not_concerned(site: Site) -> None:
    await site.post("u", CAT)
    await site.post("v", CAT)  # unique there too, but the file is on /u/ only
    await site.refused("v", CAT)
    # A board without the setting takes the same file as often as it is posted.
    thread = await site.post("w", CAT)
    await site.post("w", CAT, thread_no=thread)
    await site.post("w", CAT)


async def test_allowed_again_once_the_thread_is_archived(site: Site) -> None:
    await site.post("u", CAT)
    await site.post("u", DOG)
    await site.refused("u", CAT)
    await site.post("u", OWL)  # the third thread pushes the cat's thread into the archive
    _, archived = await site.boards.archive("u")
    assert [entry.op.no for entry in archived] == [1]
    await site.post("u", CAT)  # now in a live thread again...
    await site.refused("u", CAT)  # ...and refused again


async def test_allowed_again_once_the_thread_or_the_file_is_deleted(site: Site) -> None:
    thread = await site.post("u", CAT)
    reply = await site.post("u", DOG, thread_no=thread)
    await site.refused("u", DOG)
    await site.boards.delete_own_post("u", reply, "pw", file_only=True)
    await site.post("u", DOG, thread_no=thread)  # the file is gone from the reply
    await site.refused("u", CAT)
    assert await site.boards.delete_own_post("u", thread, "pw") is True
    await site.post("u", CAT)
    await site.post("u", DOG)
