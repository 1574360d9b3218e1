"""The posting use case's view of a board before the write: reused for a few seconds, so a
refused post costs no database work, and read again once that time is up."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from starlette.datastructures import UploadFile

from imageboard.antispam import AntispamConfig, AntispamService, RateLimited, SpamPolicy
from imageboard.antispam.memory import MemoryChallengeStore, MemoryRateLimiter
from imageboard.boards import BoardSpec, BoardsService, BoardView, NewPost
from imageboard.boards.models import Post
from imageboard.core.db import Database
from imageboard.core.errors import UnsupportedMedia
from imageboard.media import MediaService
from imageboard.media.storage_local import LocalStorage
from imageboard.media.uploads import SiteMediaLimits
from imageboard.posting import PostingService, Submission
from imageboard.posting.service import BOARD_TTL

from .. import media_samples as samples

SECRET = b"test-secret"


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingBoards(BoardsService):
    def __init__(self, db: Database, media: MediaService | None = None) -> None:
        super().__init__(db, secret=SECRET, media=media)
        self.board_reads = 0

    async def get_board(self, uri: str) -> BoardView:
        self.board_reads += 1
        return await super().get_board(uri)


async def _posting(
    database: Database, media: MediaService | None = None
) -> tuple[PostingService, CountingBoards, Monotonic, int]:
    boards = CountingBoards(database, media)
    await boards.create_board(BoardSpec(uri="b", title="Random", require_file=False, replies_per_window=2))
    op = await boards.create_post(NewPost(board="b", thread_no=0, comment="op", ip="198.51.100.1"))
    clock = Monotonic()
    limiter = MemoryRateLimiter(clock=clock)
    antispam = AntispamService(
        AntispamConfig(policy=SpamPolicy(warmup_seconds=0), gate_refusals=0),
        limiter=limiter,
        challenges=MemoryChallengeStore(clock=clock),
        secret=SECRET,
        clock=clock,
    )
    posting = PostingService(boards, antispam=antispam, media=media, limits=SiteMediaLimits(), monotonic=clock)
    return posting, boards, clock, op.thread_no


def reply(thread: int, n: int) -> Submission:
    return Submission(board="b", thread_no=thread, comment=f"reply {n}", ip="203.0.113.7", password="pw")


async def test_the_board_is_read_once_per_ttl_and_refusals_read_nothing(database: Database) -> None:
    posting, boards, _clock, thread = await _posting(database)
    await posting.submit(reply(thread, 1))
    await posting.submit(reply(thread, 2))
    reads = boards.board_reads
    with pytest.raises(RateLimited):  # the board's own limit: 2 replies per window
        await posting.submit(reply(thread, 3))
    assert reads == boards.board_reads == 1


async def test_a_changed_policy_applies_once_the_ttl_is_up(database: Database) -> None:
    posting, boards, clock, thread = await _posting(database)
    await posting.submit(reply(thread, 1))
    await posting.submit(reply(thread, 2))
    async with database.writer() as session:  # staff lift the board's reply limit
        await session.execute(text("UPDATE boards SET replies_per_window = 0 WHERE uri = 'b'"))
    clock.now += BOARD_TTL / 2
    with pytest.raises(RateLimited):  # the settings seen a moment ago still hold
        await posting.submit(reply(thread, 3))
    clock.now += BOARD_TTL / 2 + 0.1
    await posting.submit(reply(thread, 4))  # read again: no reply limit any more
    assert boards.board_reads == 2


async def test_uploads_reuse_the_kept_board_and_the_write_checks_their_kind(database: Database, tmp_path: Path) -> None:
    """A post with files reads the board no more often than a text post; the kinds a board
    takes are checked again against the board the write transaction reads, so a kind staff
    have just turned off is refused even while the kept settings still allow it."""
    media = MediaService(database, LocalStorage(tmp_path / "media"), workdir=tmp_path / "tmp")
    posting, boards, clock, thread = await _posting(database, media)
    picture = samples.png_bytes(64, 48)

    def upload(n: int) -> Submission:
        files = [UploadFile(io.BytesIO(picture), filename=f"cat{n}.png")]
        return Submission(board="b", thread_no=thread, comment=f"picture {n}", ip=f"203.0.113.{n}", uploads=files)

    await posting.submit(upload(1))
    assert boards.board_reads == 1
    async with database.writer() as session:  # staff stop taking PNGs on /b/
        await session.execute(text("UPDATE boards SET allowed_media = 'jpg,gif' WHERE uri = 'b'"))
    clock.now += BOARD_TTL / 2
    with pytest.raises(UnsupportedMedia) as refused:
        await posting.submit(upload(2))
    message = str(refused.value)
    assert "not allowed on /b/" in message and "JPG, GIF" in message and "type PNG" in message
    assert boards.board_reads == 1  # the kept board let the file through; the write did not
    async with database.reader() as session:
        comments = (await session.execute(select(Post.comment).where(Post.comment.like("picture%")))).scalars().all()
        assert comments == ["picture 1"]
        assert (await session.execute(select(func.count()).select_from(Post))).scalar_one() == 2
