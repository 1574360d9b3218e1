"""Reading: index pages, threads, the catalog, the archive and the overboard, and the version
a cached page is checked against."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime

from imageboard.boards import repository as repo
from imageboard.boards.markup import comment_excerpt
from imageboard.boards.schemas import (
    Backlink,
    BoardPage,
    BoardView,
    CatalogEntry,
    CatalogSort,
    OpeningStamp,
    OverboardPage,
    PostView,
    ThreadOutline,
    ThreadState,
    ThreadView,
)
from imageboard.boards.services.base import BoardRow, BoardsBase, board_record_or_404
from imageboard.boards.services.views import board_view
from imageboard.core.cache import Memo
from imageboard.core.db import TableReads, read_from_primary
from imageboard.core.errors import NotFound
from imageboard.media import MediaService

INDEX_REPLIES = 5


VersionScope = tuple[str | None, int | None]
# A page's version, reused for IMAGEBOARD_VERSION_MEMO_SECONDS so that a hot page costs no
# query at all. Keyed on ``Database.write_generation``: a process always sees its own writes;
# another process's show within the window — as behind the edge's microcache — except to the
# client who made them, whose requests carry the read-your-writes cookie and skip the memo.
VersionMemo = Memo[VersionScope, datetime | None]


class ReadingMixin(BoardsBase):
    version_memo: VersionMemo | None

    async def version(self, board: str | None = None, thread_no: int | None = None) -> datetime | None:
        """The time of the last write a page depends on: the thread's, the board's, or the
        site's newest when no board is named. None when the board or thread does not exist."""
        if self.version_memo is None or read_from_primary.get():
            return await self._read_version(board, thread_no)
        # The generation before the query: a write during it voids the answer.
        generation = self.db.write_generation
        return await self.version_memo.recall(
            (board, thread_no), generation, lambda: self._read_version(board, thread_no)
        )

    async def _read_version(self, board: str | None, thread_no: int | None) -> datetime | None:
        # Asked before every cached page (within the memo's time): one indexed value.
        async with self.db.table_reader() as connection:
            if board is None:
                return await repo.site_version(connection)
            if thread_no is None:
                return await repo.board_version(connection, board)
            return await repo.thread_version(connection, board, thread_no)

    async def board_page(self, uri: str, page: int) -> BoardPage:
        async with self.db.table_reader() as session:
            board = await board_record_or_404(session, uri)
            live = await repo.count_live_threads(session, board.id)
            page_count = max(1, min(board.pages, math.ceil(live / board.threads_per_page)))
            if not 1 <= page <= page_count:
                raise NotFound(f"/{uri}/ has {page_count} page(s); there is no page {page}.", code="page_not_found")
            threads = await repo.live_thread_states(
                session, board.id, uri, offset=(page - 1) * board.threads_per_page, limit=board.threads_per_page
            )
            view = board_view(board)
            previews = await _previews(session, view, board.id, threads, media=self.media)
        return BoardPage(board=view, threads=previews, page=page, page_count=page_count)

    async def board_pages(self, uri: str) -> list[BoardPage]:
        """Every index page with its previews, from one read (4chan's catalog.json)."""
        async with self.db.table_reader() as session:
            board = await board_record_or_404(session, uri)
            per_page = board.threads_per_page
            threads = await repo.live_thread_states(session, board.id, uri, offset=0, limit=per_page * board.pages)
            view = board_view(board)
            previews = {p.state.no: p for p in await _previews(session, view, board.id, threads, media=self.media)}
        states = list(threads.values())
        page_count = max(1, min(board.pages, math.ceil(len(states) / per_page)))
        return [
            BoardPage(
                board=view,
                threads=[previews[s.no] for s in states[n * per_page : (n + 1) * per_page] if s.no in previews],
                page=n + 1,
                page_count=page_count,
            )
            for n in range(page_count)
        ]

    async def thread(self, uri: str, no: int) -> ThreadView:
        async with self.db.table_reader() as session:
            board, thread_id, state = await _board_with_thread_or_404(session, uri, no)
            rows, posters = await repo.thread_post_views(session, thread_id, uri, no)
            posts = [view for _, view in rows]
            by_no = {p.no: p for p in posts}
            for target, source_uri, thread_no, source in await repo.backlinks_into_thread(session, board.id, thread_id):
                by_no[target].backlinks.append(Backlink(board=source_uri, thread_no=thread_no, post_no=source))
            await _attach_files(session, self.media, rows)
        return ThreadView(board=board_view(board), state=state, op=posts[0], replies=posts[1:], unique_posters=posters)

    async def thread_outline(self, uri: str, no: int) -> ThreadOutline:
        """The thread page with its posts as stamps (see ``ThreadOutline``): (id, number,
        view_version) each, and the opening post's subject and comment for the title."""
        async with self.db.table_reader() as session:
            board, thread_id, state = await _board_with_thread_or_404(session, uri, no)
            stamps, posters = await repo.thread_post_stamps(session, thread_id)
        # On PostgreSQL the thread may be deleted between the two statements.
        if not stamps or board.op_comment is None:
            raise NotFound(f"Thread No.{no} does not exist on /{uri}/.", code="thread_not_found")
        op = OpeningStamp(stamps[0], board.op_subject, board.op_comment)
        return ThreadOutline(board=board_view(board), state=state, op=op, replies=stamps[1:], unique_posters=posters)

    async def thread_posts(self, uri: str, no: int, post_ids: Sequence[int]) -> list[tuple[int, int, PostView]]:
        """(post id, view_version, view) of those visible posts of the thread, in order, with
        their backlinks and files; posts no longer there (deleted, held since) are left out."""
        async with self.db.table_reader() as session:
            board, thread_id, _ = await _board_with_thread_or_404(session, uri, no)
            return await _thread_posts(session, self.media, board.id, thread_id, uri, no, post_ids)

    async def catalog(self, uri: str, sort: CatalogSort = "bump") -> tuple[BoardView, list[CatalogEntry]]:
        async with self.db.table_reader() as session:
            board = await board_record_or_404(session, uri)
            threads = await repo.catalog_thread_states(session, board.id, uri, sort)
            ops = await repo.opening_post_views(session, threads)
            await _attach_files(session, self.media, list(ops.values()))
        entries = [
            CatalogEntry(state, ops[thread_id][1], comment_excerpt(ops[thread_id][1].comment, 160))
            for thread_id, state in threads.items()
            if thread_id in ops
        ]
        return board_view(board), entries

    async def archive(self, uri: str) -> tuple[BoardView, list[CatalogEntry]]:
        async with self.db.table_reader() as session:
            board = await board_record_or_404(session, uri)
            threads = await repo.archived_thread_states(session, board.id, uri)
            ops = await repo.opening_post_views(session, threads)
        return board_view(board), [
            CatalogEntry(state, ops[thread_id][1], comment_excerpt(ops[thread_id][1].comment, 100))
            for thread_id, state in threads.items()
            if thread_id in ops
        ]

    async def overboard(self, *, work_safe_only: bool, page: int, per_page: int = 15) -> OverboardPage:
        if page < 1:
            raise NotFound("Pages are numbered from 1.", code="page_not_found")
        async with self.db.table_reader() as session:
            rows = await repo.overboard_thread_states(
                session, work_safe_only=work_safe_only, offset=(page - 1) * per_page, limit=per_page + 1
            )
            page_rows = rows[:per_page]
            by_board: dict[int, dict[int, ThreadState]] = {}
            for thread_id, board_id, state in page_rows:
                by_board.setdefault(board_id, {})[thread_id] = state
            boards = {b.id: board_view(b) for b in await repo.board_records(session) if b.id in by_board}
            previews: dict[tuple[str, int], ThreadView] = {}
            for board_id, threads in by_board.items():
                for preview in await _previews(session, boards[board_id], board_id, threads, media=self.media):
                    previews[(preview.board.uri, preview.state.no)] = preview
            views = [previews[key] for _, _, state in page_rows if (key := (state.board, state.no)) in previews]
        return OverboardPage(work_safe_only=work_safe_only, threads=views, page=page, has_next=len(rows) > per_page)


async def _previews(
    session: TableReads,
    board: BoardView,
    board_id: int,
    threads: Mapping[int, ThreadState],
    *,
    media: MediaService | None = None,
) -> list[ThreadView]:
    ops = await repo.opening_post_views(session, threads)
    replies = await repo.last_reply_views(session, threads, INDEX_REPLIES)
    rows: repo.PostViews = []
    previews: list[tuple[ThreadState, PostView, list[PostView]]] = []
    for thread_id, state in threads.items():
        if thread_id not in ops:
            continue
        tail = replies[thread_id]
        rows += [ops[thread_id], *tail]
        previews.append((state, ops[thread_id][1], [view for _, view in tail]))
    await _attach_backlinks(session, board_id, [view for _, view in rows])
    await _attach_files(session, media, rows)
    return [
        ThreadView(
            board=board,
            state=state,
            op=op,
            replies=tail,
            omitted_posts=max(0, state.reply_count - len(tail)),
            omitted_files=max(0, state.file_count - sum(reply.live_file_count for reply in tail)),
        )
        for state, op, tail in previews
    ]


async def _board_with_thread_or_404(session: TableReads, uri: str, no: int) -> tuple[BoardRow, int, ThreadState]:
    board, found = await repo.board_with_thread(session, uri, no)
    if board is None:
        raise NotFound(f"There is no board /{uri}/.", code="board_not_found")
    if not found:
        raise NotFound(f"Thread No.{no} does not exist on /{uri}/.", code="thread_not_found")
    [(thread_id, state)] = found.items()
    return board, thread_id, state


async def _thread_posts(
    session: TableReads,
    media: MediaService | None,
    board_id: int,
    thread_id: int,
    uri: str,
    no: int,
    post_ids: Sequence[int],
) -> list[tuple[int, int, PostView]]:
    found = await repo.thread_post_views_by_id(session, thread_id, uri, no, post_ids)
    await _attach_backlinks(session, board_id, [view for _, _, view in found])
    await _attach_files(session, media, [(post_id, view) for post_id, _, view in found])
    return found


async def _attach_files(session: TableReads, media: MediaService | None, rows: repo.PostViews) -> None:
    if media is None or not rows:
        return
    files = await media.files_for_posts(session, [post_id for post_id, _ in rows])
    for post_id, view in rows:
        view.files = files.get(post_id, [])


async def _attach_backlinks(session: TableReads, board_id: int, posts: Sequence[PostView]) -> None:
    by_no = {p.no: p for p in posts}
    for target, uri, thread_no, source in await repo.backlinks_to(session, board_id, list(by_no)):
        by_no[target].backlinks.append(Backlink(board=uri, thread_no=thread_no, post_no=source))
