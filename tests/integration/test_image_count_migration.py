"""Migration 0012 rebuilds every thread's ``file_count`` from its attachments — the live
files of its visible replies — on SQLite and PostgreSQL, and its downgrade rebuilds the old
count (the opening post's files and held replies' included)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from sqlalchemy import insert, select, update

from imageboard.boards import BoardSpec, BoardsService, NewPost
from imageboard.boards.models import Post, Thread
from imageboard.core.db import Database
from imageboard.core.migrate import downgrade, upgrade
from imageboard.media.models import Attachment, MediaBlob

BEFORE = "0011_partial_held_index"
NOW = datetime(2026, 12, 5, 22, 0, tzinfo=UTC)


async def _attach(db: Database, post_no: int, *deleted: bool) -> None:
    """Files on a post, written as the media context writes them (one blob each)."""
    async with db.writer() as session:
        post_id, board_id = (await session.execute(select(Post.id, Post.board_id).where(Post.no == post_no))).one()
        for position, gone in enumerate(deleted):
            sha = hashlib.sha256(f"{post_no}-{position}".encode()).hexdigest()
            blob = {"sha256": sha, "md5_base64": "A" * 24, "size": 10, "mime": "image/png", "ext": ".png"}
            await session.execute(insert(MediaBlob).values(**blob, kind="image", created_at=NOW))
            file = {"post_id": post_id, "board_id": board_id, "board_uri": "b", "position": position}
            await session.execute(
                insert(Attachment).values(
                    **file, tim=post_no * 1000 + position, blob_sha256=sha, deleted=gone, created_at=NOW
                )
            )


async def _file_count(db: Database) -> int:
    async with db.reader() as session:
        return int((await session.execute(select(Thread.file_count))).scalar_one())


async def test_thread_file_counts_are_rebuilt_from_the_replies_files(fresh_url: str) -> None:
    upgrade(fresh_url, BEFORE)
    db = Database(fresh_url)
    try:
        boards = BoardsService(db, secret=b"test")
        await boards.create_board(BoardSpec(uri="b", title="Random", require_file=False))
        op = (await boards.create_post(NewPost(board="b", thread_no=0, comment="op"))).post_no
        shown = (await boards.create_post(NewPost(board="b", thread_no=op, comment="shown"))).post_no
        held = (await boards.create_post(NewPost(board="b", thread_no=op, comment="held"))).post_no
        await _attach(db, op, False)
        await _attach(db, shown, False, True)  # one live file, one deleted by staff
        await _attach(db, held, False)
        async with db.writer() as session:
            await session.execute(update(Post).where(Post.no == held).values(held=True))
            await session.execute(update(Thread).values(file_count=99))  # whatever the old code left
    finally:
        await db.dispose()

    upgrade(fresh_url)
    db = Database(fresh_url)
    try:
        assert await _file_count(db) == 1  # the shown reply's live file
    finally:
        await db.dispose()

    downgrade(fresh_url, BEFORE)
    db = Database(fresh_url)
    try:
        assert await _file_count(db) == 3  # the opening post's and the held reply's too
    finally:
        await db.dispose()

    upgrade(fresh_url)
    db = Database(fresh_url)
    try:
        assert await _file_count(db) == 1
    finally:
        await db.dispose()
