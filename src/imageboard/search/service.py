"""Use cases of the search context: searching, and keeping the index up to date.

New posts reach the index in one of two ways (``IMAGEBOARD_SEARCH_INDEXING``):

inline (default)
    ``index_post`` runs inside the posting transaction (``BoardsService.indexer``): a post is
    searchable the moment it is committed, and never before.
worker
    the ``search`` worker group indexes each ``post.created`` event (``tasks.py``), and a
    periodic catch-up indexes whatever recent post the index lacks (posts held for approval
    announce nothing; a worker that was down catches up). Posting does no index work.

Deleted and edited posts need neither: the database updates the index in the same
transaction (see ``models.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from imageboard.core.clock import utcnow
from imageboard.core.db import Database, WriteSession
from imageboard.core.errors import NotFound
from imageboard.search import repository as repo
from imageboard.search.highlight import marked_html, plain
from imageboard.search.query import parse
from imageboard.search.schemas import SearchHitView, SearchResultsView, decode_cursor, encode_cursor

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
REINDEX_BATCH = 5000
CATCH_UP_WINDOW = timedelta(hours=1)
CATCH_UP_BATCH = 500


class SearchService:
    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.clock = clock

    # --- searching ----------------------------------------------------------------------------

    async def search(
        self, q: str, *, board: str | None = None, cursor: str | None = None, limit: int = DEFAULT_LIMIT
    ) -> SearchResultsView:
        """Live posts matching ``q``, newest first, on one board or (``board`` None) every
        board. Raises InvalidInput for an empty, too long or too complex query or a bad
        cursor, NotFound for an unknown board."""
        query = parse(q)
        before = decode_cursor(cursor) if cursor else None
        limit = max(1, min(limit, MAX_LIMIT))
        async with self.db.reader() as session:
            board_id = None
            if board:
                board_id = await repo.board_id(session, board)
                if board_id is None:
                    raise NotFound(f"There is no board /{board}/.", field="board", code="board_not_found")
            rows = await repo.search(session, query, board_id=board_id, before=before, limit=limit + 1)
        hits = [
            SearchHitView(
                board=row.board,
                thread_no=row.thread_no,
                no=row.no,
                is_op=row.is_op,
                created_at=row.created_at,
                subject=plain(row.subject),
                subject_html=marked_html(row.subject_marked),
                snippet_html=marked_html(row.comment_marked),
            )
            for row in rows[:limit]
        ]
        following = encode_cursor(rows[limit - 1].post_id) if len(rows) > limit else None
        return SearchResultsView(
            query=query.text, board=board or None, hits=hits, next_cursor=following, searchable=query.searchable
        )

    # --- indexing -----------------------------------------------------------------------------

    async def index_post(self, session: WriteSession, post_id: int) -> None:
        """Index a post inside the caller's transaction, the one that wrote it (the posting
        transaction, inline)."""
        await repo.index_new_post(session, post_id)

    async def index_post_no(self, board: str, no: int) -> bool:
        """Index a post by its number, in a transaction of its own (the worker). Idempotent;
        False when the post no longer exists (deleted before the worker got to it)."""
        async with self.db.writer() as session:
            post_id = await repo.post_id(session, board, no)
            if post_id is None:
                return False
            await repo.index_posts(session, [post_id])
            return True

    async def catch_up(self, *, window: timedelta = CATCH_UP_WINDOW) -> int:
        """Index the posts of the last ``window`` the index lacks; returns how many."""
        since = self.clock() - window
        done = 0
        while True:
            async with self.db.writer() as session:
                missing = await repo.unindexed_since(session, since, limit=CATCH_UP_BATCH)
                await repo.index_posts(session, missing)
            done += len(missing)
            if len(missing) < CATCH_UP_BATCH:
                return done

    async def reindex(self, *, batch: int = REINDEX_BATCH, after_id: int = 0) -> int:
        """Rebuild the whole index from ``posts`` (or only the posts with ids above
        ``after_id``: those a bulk load just added), a range of ids per transaction (so the
        site keeps posting meanwhile), and drop rows of posts that are gone; returns how
        many posts the index holds. For a database loaded around the posting path (bulk
        loads, restores of old dumps)."""
        async with self.db.reader() as session:
            top = await repo.max_post_id(session)
        for after in range(after_id, top, batch):
            async with self.db.writer() as session:
                await repo.index_range(session, after, min(after + batch, top))
        async with self.db.writer() as session:
            await repo.clear_orphans(session)
        indexed = await self.indexed_count()
        log.info("search index rebuilt: %d posts", indexed)
        return indexed

    async def indexed_count(self) -> int:
        async with self.db.reader() as session:
            return await repo.indexed_count(session)
