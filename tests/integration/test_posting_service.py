"""The posting use case's view of a board before the write: reused for a few seconds, so a
refused post costs no database work, and read again once that time is up."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from imageboard.antispam import AntispamConfig, AntispamService, RateLimited, SpamPolicy
from imageboard.antispam.memory import MemoryChallengeStore, MemoryRateLimiter
from imageboard.boards import BoardSpec, BoardsService, BoardView, NewPost
from imageboard.core.db import Database
from imageboard.media.uploads import SiteMediaLimits
from imageboard.posting import PostingService, Submission
from imageboard.posting.service import BOARD_TTL

SECRET = b"test-secret"


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingBoards(BoardsService):
    def __init__(self, db: Database) -> None:
        super().__init__(db, secret=SECRET)
        self.board_reads = 0

    async def get_board(self, uri: str) -> BoardView:
        self.board_reads += 1
        return await super().get_board(uri)


async def _posting(database: Database) -> tuple[PostingService, CountingBoards, Monotonic, int]:
    boards = CountingBoards(database)
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
    posting = PostingService(boards, antispam=antispam, media=None, limits=SiteMediaLimits(), monotonic=clock)
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
