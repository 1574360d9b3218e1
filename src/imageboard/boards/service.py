"""Use cases of the boards context: posting, deleting, and reading boards and threads.

The service never commits: ``Database.writer()`` is the unit of work around each use case.
``BoardsService`` is assembled from one part per use case in ``services/``; the boards
themselves (create, list, look up) are kept here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from imageboard.boards import repository as repo
from imageboard.boards.models import Board
from imageboard.boards.schemas import BoardSpec, BoardSummary, BoardView
from imageboard.boards.services.base import board_record_or_404
from imageboard.boards.services.deletion import DeletionMixin
from imageboard.boards.services.posting import PostingMixin
from imageboard.boards.services.reading import ReadingMixin, VersionMemo
from imageboard.boards.services.views import board_view, post_view, public_post
from imageboard.core.cache import Memo
from imageboard.core.clock import utcnow
from imageboard.core.db import Database, read_from_primary
from imageboard.core.errors import Conflict
from imageboard.events import EventPublisher
from imageboard.media import MediaService

__all__ = ["BoardsService", "board_view", "post_view", "public_post"]

# How long a process keeps the home page's count of each board's posts of the last day.
DAY_COUNT_SECONDS = 60.0


class BoardsService(PostingMixin, DeletionMixin, ReadingMixin):
    def __init__(
        self,
        db: Database,
        *,
        secret: bytes,
        clock: Callable[[], datetime] = utcnow,
        media: MediaService | None = None,
        events: EventPublisher | None = None,
        version_memo_seconds: float = 0.0,
    ) -> None:
        self.db = db
        self.secret = secret
        self.clock = clock
        # Attaches uploaded files inside the posting transaction and adds them to read models.
        self.media = media
        # Domain events go to the outbox in the same transaction as the change they report.
        self.events = events or EventPublisher()
        # Moderation's check of every new post, set by the composition root: bans, warnings,
        # word filters (which may rewrite the text) and whether to hold it for approval. It
        # runs first in the posting transaction and returns the post to write, whether to
        # hold it, and — when it refused after recording why (a warning seen, a ban by a
        # filter) — the error to answer with once that record is committed.
        self.screen = None
        # Search: indexes a new post (by its id) inside the posting transaction, set by the
        # composition root when IMAGEBOARD_SEARCH_INDEXING=inline (else a worker does it).
        self.indexer = None
        # Pages' versions remembered briefly per process (IMAGEBOARD_VERSION_MEMO_SECONDS).
        self.version_memo = VersionMemo(version_memo_seconds) if version_memo_seconds > 0 else None
        # The home page's posts of the last day per board: a figure a minute old is as good.
        self.day_counts: Memo[None, dict[str, int]] = Memo(DAY_COUNT_SECONDS)
        # The board list every page's navigation shows, remembered as briefly and as exactly.
        self.navigation_memo: Memo[None, list[BoardView]] | None = (
            Memo(version_memo_seconds) if version_memo_seconds > 0 else None
        )

    # --- boards -----------------------------------------------------------------------

    async def create_board(self, spec: BoardSpec) -> BoardView:
        now = self.clock()
        async with self.db.writer() as session:
            if await repo.board_by_uri(session, spec.uri):
                raise Conflict(f"/{spec.uri}/ already exists", field="uri", code="board_exists")
            board = await repo.add_board(
                session, Board(**spec.model_dump(), last_post_no=0, created_at=now, updated_at=now)
            )
            return board_view(board)

    async def list_boards(self) -> list[BoardView]:
        async with self.db.reader() as session:
            return [board_view(board) for board in await repo.board_records(session)]

    async def navigation_boards(self) -> list[BoardView]:
        """``list_boards`` for the navigation of pages: read once per process within
        IMAGEBOARD_VERSION_MEMO_SECONDS, as a page's version is (a board created or changed
        here shows at once, elsewhere within that time). A page being rendered anyway
        should not pay a query of every board's settings for its menu."""
        if self.navigation_memo is None or read_from_primary.get():
            return await self.list_boards()
        return list(await self.navigation_memo.recall(None, self.db.write_generation, self.list_boards))

    async def count_boards(self) -> int:
        async with self.db.reader() as session:
            return await repo.count_boards(session)

    async def get_board(self, uri: str) -> BoardView:
        async with self.db.reader() as session:
            return board_view(await board_record_or_404(session, uri))

    async def home(self) -> list[BoardSummary]:
        """Every board with its posts of the last day and its last post's time. The count walks
        the day's posts (O(posts a day): 11,500 took half of an uncached home page, a
        million would take a tenth of a second), so each process keeps it for
        ``DAY_COUNT_SECONDS``; the last post's time is one index lookup a board, always read."""
        boards = await self.navigation_boards()
        counts = await self.day_counts.recall(None, 0, self._count_day_posts)
        async with self.db.table_reader() as session:
            last = await repo.last_post_times(session)
        return [BoardSummary(board, counts.get(board.uri, 0), last.get(board.uri)) for board in boards]

    async def _count_day_posts(self) -> dict[str, int]:
        async with self.db.table_reader() as session:
            return await repo.posts_per_board_since(session, self.clock() - timedelta(days=1))
