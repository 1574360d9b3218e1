"""``posts.view_version`` (migration 0013) moves on every change to what a post shows, and on
nothing else, on SQLite and PostgreSQL — the thread page finds its rendered replies by it
(web.fragments), so a change that missed it would leave a stale post on the page.

The changes are made as directly as the tables allow (the paths that make them in the
application are covered, page by page, by ``test_page_cache.py``): what is tested here is
that the database counts them whoever writes.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select, text, update

from imageboard.boards import BoardSpec, BoardsService, NewPost
from imageboard.boards.models import Post, PostQuote
from imageboard.core.db import Database
from imageboard.media.models import Attachment, MediaBlob

NOW = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
TRIGGERS = {
    "sqlite": {
        "posts_view_changed",
        "posts_quoting_changed",
        "post_quotes_added",
        "post_quotes_removed",
        "attachments_added",
        "attachments_changed",
        "attachments_removed",
        "media_blobs_changed",
    },
    "postgresql": {
        "posts_view_changed",
        "posts_quoting_changed",
        "post_quotes_changed",
        "attachments_changed",
        "media_blobs_changed",
    },
}


async def _versions(db: Database) -> dict[int, int]:
    async with db.reader(primary=True) as session:
        return dict((await session.execute(select(Post.no, Post.view_version))).all())


async def _write(db: Database, *statements: object) -> None:
    async with db.writer() as session:
        for statement in statements:
            await session.execute(statement)  # type: ignore[call-overload]


async def _thread(db: Database) -> tuple[BoardsService, int, int, int]:
    """A thread with two replies, the second quoting the first: (service, op, quoted, quoting)."""
    boards = BoardsService(db, secret=b"x", clock=lambda: NOW)
    await boards.create_board(BoardSpec(uri="b", title="Random", require_file=False))
    op = (await boards.create_post(NewPost(board="b", thread_no=0, comment="op", password="pw"))).post_no
    quoted = (await boards.create_post(NewPost(board="b", thread_no=op, comment="first", password="pw"))).post_no
    quoting = await boards.create_post(NewPost(board="b", thread_no=op, comment=f">>{quoted} yes", password="pw"))
    return boards, op, quoted, quoting.post_no


def _changed(before: dict[int, int], after: dict[int, int]) -> set[int]:
    return {no for no in after if after[no] != before.get(no)}


async def test_the_triggers_are_all_there_at_head(database: Database) -> None:
    """A later migration that rebuilds one of these tables on SQLite drops its triggers."""
    async with database.reader(primary=True) as session:
        if database.is_sqlite:
            names = (await session.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))).scalars()
            dialect = "sqlite"
        else:
            names = (await session.execute(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"))).scalars()
            dialect = "postgresql"
        assert TRIGGERS[dialect] <= set(names)


async def test_a_quote_moves_the_quoted_post_and_nothing_else(database: Database) -> None:
    boards, op, quoted, quoting = await _thread(database)
    versions = await _versions(database)
    assert versions[op] == 0 and versions[quoting] == 0
    assert versions[quoted] == 1  # its backlink from the quoting reply
    await boards.create_post(NewPost(board="b", thread_no=op, comment="no quote", password="pw"))
    assert _changed(versions, await _versions(database)) == {quoting + 1}  # only the new post, new


async def test_any_change_of_the_row_moves_it_once(database: Database) -> None:
    _, op, _quoted, _quoting = await _thread(database)
    before = await _versions(database)
    await _write(database, update(Post).where(Post.no == op).values(comment_html="edited"))
    await _write(database, update(Post).where(Post.no == op).values(ban_message="BANNED"))
    after = await _versions(database)
    assert after[op] == before[op] + 2 and _changed(before, after) == {op}


async def test_the_quoting_post_going_or_hiding_moves_the_quoted_one(database: Database) -> None:
    _, _, quoted, quoting = await _thread(database)
    before = await _versions(database)
    await _write(database, update(Post).where(Post.no == quoting).values(held=True))
    held = await _versions(database)
    assert _changed(before, held) == {quoting, quoted}
    await _write(database, update(Post).where(Post.no == quoting).values(held=False))
    shown = await _versions(database)
    assert _changed(held, shown) == {quoting, quoted}
    # Deleting the quoting post removes its quote rows by cascade: the quoted post moves.
    await _write(database, delete(Post).where(Post.no == quoting))
    after = await _versions(database)
    assert quoting not in after and after[quoted] == shown[quoted] + 1


async def test_a_quote_row_removed_moves_its_target(database: Database) -> None:
    _, _, quoted, _quoting = await _thread(database)
    before = await _versions(database)
    await _write(database, delete(PostQuote).where(PostQuote.target_no == quoted))
    assert _changed(before, await _versions(database)) == {quoted}


async def test_files_and_their_blobs_move_the_posts_showing_them(database: Database) -> None:
    _, _op, quoted, _quoting = await _thread(database)
    async with database.reader(primary=True) as session:
        post_id, board_id = (await session.execute(select(Post.id, Post.board_id).where(Post.no == quoted))).one()
    sha = hashlib.sha256(b"view-version").hexdigest()
    blob = {"sha256": sha, "md5_base64": "A" * 24, "size": 10, "mime": "image/png", "ext": ".png", "kind": "image"}
    file = {"post_id": post_id, "board_id": board_id, "board_uri": "b", "tim": 1, "blob_sha256": sha}
    steps = [
        insert(MediaBlob).values(**blob, created_at=NOW),
        insert(Attachment).values(**file, created_at=NOW),
        update(Attachment).where(Attachment.tim == 1).values(spoiler=True),
        update(MediaBlob).where(MediaBlob.sha256 == sha).values(width=640, height=480),
        delete(Attachment).where(Attachment.tim == 1),
    ]
    moved = []
    for step in steps:
        before = await _versions(database)
        await _write(database, step)
        moved.append(_changed(before, await _versions(database)))
    # The blob alone shows on no post yet; each later step moves the post with the file.
    assert moved == [set(), {quoted}, {quoted}, {quoted}, {quoted}]


async def test_a_moved_or_renumbered_quoting_post_moves_the_quoted_one(database: Database) -> None:
    _, _op, quoted, quoting = await _thread(database)
    before = await _versions(database)
    await _write(database, update(Post).where(Post.no == quoting).values(no=quoting + 1000))
    assert _changed(before, await _versions(database)) == {quoted, quoting + 1000}
