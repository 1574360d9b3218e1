"""Use cases of the boards context: posting, deleting, and reading boards and threads.

The service never commits: ``Database.writer()`` is the unit of work around each use case.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import math
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row

from imageboard.boards import repository as repo
from imageboard.boards.markup import QuoteRef, comment_excerpt, find_quotes, render_comment
from imageboard.boards.models import Board, Post, Thread
from imageboard.boards.poster_ids import poster_id
from imageboard.boards.schemas import (
    Backlink,
    BoardPage,
    BoardSpec,
    BoardSummary,
    BoardView,
    CatalogEntry,
    CatalogSort,
    NewPost,
    OverboardPage,
    PostCreated,
    PostView,
    ThreadState,
    ThreadView,
)
from imageboard.boards.tripcodes import sign
from imageboard.core.clock import utcnow
from imageboard.core.db import Database, ReadSession, WriteSession
from imageboard.core.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from imageboard.core.geoip import country_of
from imageboard.events import EventPublisher, PostDeleted, ThreadArchived, ThreadPruned, ThreadUpdated
from imageboard.events import PostCreated as PostCreatedEvent
from imageboard.media import MediaService

# Per-board anti-spam overrides, carried on BoardView for the antispam context to read.
ANTISPAM_OVERRIDES = (
    "threads_per_window",
    "thread_window",
    "replies_per_window",
    "reply_window",
    "files_per_hour",
    "duplicate_window",
    "max_links",
    "warmup_seconds",
    "captcha_mode",
    "network_list_action",
    "automated_checks",
)
MAX_NAME = 100
MAX_SUBJECT = 100
MAX_OPTIONS = 100
MAX_PASSWORD = 128
INDEX_REPLIES = 5
BOARD_LINK = re.compile(r">>>/([a-z0-9]{1,32})/")


class BoardsService:
    def __init__(
        self,
        db: Database,
        *,
        secret: bytes,
        clock: Callable[[], datetime] = utcnow,
        media: MediaService | None = None,
        events: EventPublisher | None = None,
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
        self.screen: (
            Callable[[WriteSession, Board, NewPost], Awaitable[tuple[NewPost, bool, DomainError | None]]] | None
        ) = None
        # Search: indexes a new post (by its id) inside the posting transaction, set by the
        # composition root when IMAGEBOARD_SEARCH_INDEXING=inline (else a worker does it).
        self.indexer: Callable[[WriteSession, int], Awaitable[None]] | None = None

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

    async def count_boards(self) -> int:
        async with self.db.reader() as session:
            return await repo.count_boards(session)

    async def get_board(self, uri: str) -> BoardView:
        async with self.db.reader() as session:
            return board_view(await _board_record_or_404(session, uri))

    async def home(self) -> list[BoardSummary]:
        async with self.db.reader() as session:
            boards = await repo.all_boards(session)
            activity = await repo.board_activity(session, self.clock() - timedelta(days=1))
        return [BoardSummary(board_view(b), *activity.get(b.id, (0, None))) for b in boards]

    # --- posting ----------------------------------------------------------------------

    async def create_post(self, new: NewPost) -> PostCreated:
        """Everything a post needs happens in this one write transaction — the board and its
        next number (one statement), moderation's screen, the rows and the events — because
        on SQLite every write transaction queues behind the single writer."""
        now = self.clock()
        refusal: DomainError | None = None
        async with self.db.writer() as session:
            board = await repo.claim_post_number(session, new.board, now)
            if board is None:
                raise NotFound(f"There is no board /{new.board}/.", code="board_not_found")
            held = new.hold_for_review
            if self.screen is not None:  # moderation: may refuse (ban, filter), rewrite or hold the post
                new, screened, refusal = await self.screen(session, board, new)
                held = held or screened
            if refusal is None:
                created = await self._store(session, board, new, held=held, now=now)
            else:
                # Refused after recording why (a warning seen, a ban): the record is committed,
                # the number goes back — the board's row is locked by us, nobody took the next.
                await repo.give_back_post_number(session, board.id)
        if refusal is not None:
            raise refusal
        return created

    async def _store(
        self, session: WriteSession, board: Board, new: NewPost, *, held: bool, now: datetime
    ) -> PostCreated:
        self._validate(board, new)
        options = _options(new.options)
        number = board.last_post_no
        sage = "sage" in options
        thread = await self._thread_for(session, board, new, number, now, count_reply=not held, sage=sage)
        post = await self._write_post(session, board, thread, new, number, now, sage=sage)
        if self.indexer is not None:  # search: searchable from the moment it commits
            await self.indexer(session, post.id)
        if held:  # moderation: invisible (no bump, no count) until staff approve it
            post.held = True
            thread.held = thread.held or post.is_op
            await session.flush()
        elif post.is_op:
            await self._archive_overflow(session, board, now)
        else:
            await self._after_reply(session, board, thread)
        if not held:
            self._announce_post(session, board, thread, post, len(new.files))
        return PostCreated(
            board=board.uri, thread_no=thread.no, post_no=number, noko="nonoko" not in options, held=held
        )

    def _validate(self, board: Board, new: NewPost) -> None:
        comment = new.comment.strip()
        has_files = new.has_files or bool(new.files)
        if len(new.name) > MAX_NAME:
            raise InvalidInput(f"The name is too long: at most {MAX_NAME} characters.", field="name")
        if len(new.subject) > MAX_SUBJECT:
            raise InvalidInput(f"The subject is too long: at most {MAX_SUBJECT} characters.", field="sub")
        if len(new.options) > MAX_OPTIONS:
            raise InvalidInput(f"The options field is too long: at most {MAX_OPTIONS} characters.", field="email")
        if len(new.password) > MAX_PASSWORD:
            raise InvalidInput(f"The password is too long: at most {MAX_PASSWORD} characters.", field="pwd")
        if len(comment) > board.max_comment_length:
            raise InvalidInput(
                f"The comment is too long: {len(comment)} characters, "
                f"at most {board.max_comment_length} on /{board.uri}/.",
                field="com",
            )
        if has_files and board.text_only:
            raise InvalidInput(f"/{board.uri}/ is text-only: post without a file.", field="upfile")
        if len(new.files) > board.max_files:
            raise InvalidInput(f"Too many files: at most {board.max_files} per post on /{board.uri}/.", field="upfile")
        if new.thread_no == 0:
            if board.require_subject and not new.subject.strip():
                raise InvalidInput("A new thread needs a subject.", field="sub")
            if board.require_file and not board.text_only and not has_files:
                raise InvalidInput("A new thread needs a file.", field="upfile")
        if not comment and not has_files:
            raise InvalidInput("The post is empty: write a comment or attach a file.", field="com")

    async def _thread_for(
        self,
        session: WriteSession,
        board: Board,
        new: NewPost,
        number: int,
        now: datetime,
        *,
        count_reply: bool,
        sage: bool,
    ) -> Thread:
        """The new thread, or the thread replied to — with the reply already counted (and the
        thread bumped) when ``count_reply``: one statement instead of a read and an update."""
        if new.thread_no == 0:
            return await repo.add_thread(
                session,
                Thread(
                    board_id=board.id,
                    no=number,
                    subject=new.subject.strip(),
                    created_at=now,
                    bumped_at=now,
                    updated_at=now,
                    reply_count=0,
                    file_count=0,
                ),
            )
        if count_reply:
            counted = await repo.count_reply(
                session, board.id, new.thread_no, now=now, bump=not sage, bump_limit=board.bump_limit
            )
            if counted is not None:
                return counted
        # Held replies are not counted; and when counting failed, this says why.
        thread = await repo.thread_by_no(session, board.id, new.thread_no, for_update=True)
        if thread is None:
            raise NotFound(
                f"Thread No.{new.thread_no} does not exist on /{board.uri}/ (it may have been deleted).",
                field="resto",
                code="thread_not_found",
            )
        if thread.archived:
            raise Forbidden("This thread is archived: it can be read but no longer replied to.", code="thread_archived")
        if thread.locked:
            raise Forbidden("This thread is closed: no more replies are accepted.", code="thread_locked")
        return thread

    async def _write_post(
        self,
        session: WriteSession,
        board: Board,
        thread: Thread,
        new: NewPost,
        number: int,
        now: datetime,
        *,
        sage: bool,
    ) -> Post:
        signature = sign("" if board.forced_anonymous else new.name, secret=self.secret)
        comment = _clean_text(new.comment)
        quotes = find_quotes(comment, board=board.uri)
        targets = await repo.thread_numbers_of(session, ((q.board, q.post_no) for q in quotes))
        known = await repo.board_uris(session, _linked_boards(comment) | {q.board for q in quotes})
        html = render_comment(
            comment,
            board=board.uri,
            thread_no=thread.no,
            targets={QuoteRef(b, n): t for (b, n), t in targets.items()},
            known_boards=known,
        )
        # The first lookup loads the country database (~0.1 s): keep it off the event loop.
        country = await asyncio.to_thread(country_of, new.ip) if board.country_flags and new.ip else None
        post = await repo.add_post(
            session,
            Post(
                board_id=board.id,
                thread_id=thread.id,
                no=number,
                is_op=new.thread_no == 0,
                created_at=now,
                name=signature.name or board.default_name,
                tripcode=signature.tripcode,
                subject=new.subject.strip() if new.thread_no == 0 else "",
                comment=comment,
                comment_html=html,
                sage=sage,
                poster_id=poster_id(new.ip, board=board.uri, thread_no=thread.no, secret=self.secret)
                if board.poster_ids and new.ip
                else None,
                country_code=country.code if country else None,
                country_name=country.name if country else None,
                ip=new.ip,
                capcode=new.capcode,
                password_digest=self._digest(new.password) if new.password else None,
            ),
        )
        # Threads elsewhere gain a backlink, so their pages change too. Touched after commit in
        # a transaction of its own: locking another thread's row while holding this board's
        # could deadlock with a post there quoting back.
        elsewhere = [(b, t) for (b, _n), t in targets.items() if (b, t) != (board.uri, thread.no)]
        if elsewhere:
            session.after_commit(lambda: self._touch_threads(elsewhere, now))
        quoted_here = [q for q in quotes if (q.board, q.post_no) in targets]
        if quoted_here:
            ids = {b.uri: b.id for b in await repo.all_boards(session) if b.uri in {q.board for q in quoted_here}}
            await repo.add_quotes(session, post.id, ((ids[q.board], q.post_no) for q in quoted_here))
        if new.files:
            await self._attach_files(session, board, thread, post, new)
        return post

    async def _attach_files(
        self, session: WriteSession, board: Board, thread: Thread, post: Post, new: NewPost
    ) -> None:
        if self.media is None:
            raise InvalidInput("This site does not accept files.", field="upfile", code="files_disabled")
        if not post.is_op and thread.file_count + len(new.files) > board.image_limit:
            raise Forbidden(
                f"This thread has reached its image limit ({board.image_limit}): reply without a file.",
                field="upfile",
                code="image_limit",
            )
        if board.unique_files:
            for file in new.files:
                holders = await self.media.posts_with_blob(session, board.id, file.sha256)
                if await repo.live_posts_among(session, holders):
                    raise Conflict(
                        f"This file is already posted in a thread on /{board.uri}/: post a different one.",
                        field="upfile",
                        code="duplicate_file",
                    )
        await self.media.attach(session, post_id=post.id, board_id=board.id, board_uri=board.uri, files=new.files)
        thread.file_count += len(new.files)

    def _announce_post(self, session: WriteSession, board: Board, thread: Thread, post: Post, files: int) -> None:
        view = post_view(post, board.uri, thread.no)
        self.events.record(
            session,
            PostCreatedEvent(
                board=board.uri,
                thread_no=thread.no,
                post_no=post.no,
                is_op=post.is_op,
                sage=post.sage,
                files=files,
                post=public_post(view),
            ),
        )
        if not post.is_op:
            self.events.record(
                session,
                ThreadUpdated(
                    board=board.uri,
                    thread_no=thread.no,
                    bumped_at=thread.bumped_at,
                    reply_count=thread.reply_count,
                    file_count=thread.file_count,
                ),
            )

    async def _touch_threads(self, threads: list[tuple[str, int]], when: datetime) -> None:
        async with self.db.writer() as session:
            await repo.touch_threads(session, threads, when)

    async def _after_reply(self, session: WriteSession, board: Board, thread: Thread) -> None:
        """The reply is counted already (``repo.count_reply``); a cyclic thread past its
        limit loses its oldest replies."""
        if thread.cyclic and thread.reply_count > board.cyclic_limit:
            surplus = await repo.oldest_replies(session, thread.id, thread.reply_count - board.cyclic_limit)
            await repo.delete_posts(session, [p.id for p in surplus])
            thread.reply_count -= len(surplus)
            await session.flush()

    async def _archive_overflow(self, session: WriteSession, board: Board, now: datetime) -> None:
        """Threads pushed off the last page go to the archive, or are pruned when the board
        keeps none — never dropped without a trace."""
        for thread in await repo.threads_past_capacity(session, board.id, board.threads_per_page * board.pages):
            if board.archive_enabled and board.archive_days > 0:
                thread.archived = True
                thread.archived_at = now
                thread.updated_at = now
                self.events.record(session, ThreadArchived(board=board.uri, thread_no=thread.no, archived_at=now))
            else:
                await repo.delete_thread(session, thread.id)
                self.events.record(session, ThreadPruned(board=board.uri, thread_no=thread.no, reason="capacity"))
        await session.flush()

    # --- deleting by the poster ---------------------------------------------------------

    async def delete_own_post(self, board_uri: str, no: int, password: str, *, file_only: bool = False) -> bool:
        """Delete a post (a thread, if it is the opening post) whose deletion password matches.
        Returns True when a whole thread was removed."""
        async with self.db.writer() as session:
            board = await _board_or_404(session, board_uri)
            post = await repo.post_by_no(session, board.id, no)
            if post is None:
                raise NotFound(f"Post No.{no} does not exist on /{board.uri}/.", code="post_not_found")
            if (
                not password
                or not post.password_digest
                or not hmac.compare_digest(post.password_digest, self._digest(password))
            ):
                raise Forbidden(
                    "Wrong password: this post was made with another deletion password.",
                    field="pwd",
                    code="wrong_password",
                )
            now = self.clock()
            if file_only:
                removed = await self.media.delete_files_of_posts(session, [post.id]) if self.media else 0
                if not removed:
                    raise InvalidInput("This post has no file to delete.", code="no_file")
                thread = await session.get(Thread, post.thread_id)
                if thread is not None:
                    thread.updated_at = now
                    thread.file_count = max(0, thread.file_count - removed)
                    self.events.record(
                        session, ThreadUpdated(board=board.uri, thread_no=thread.no, file_count=thread.file_count)
                    )
                await repo.touch_board(session, board.id, now)
                return False
            thread = await session.get(Thread, post.thread_id)
            thread_no = thread.no if thread is not None else post.no
            self.events.record(
                session, PostDeleted(board=board.uri, thread_no=thread_no, post_no=post.no, is_op=post.is_op)
            )
            if post.is_op:
                await repo.delete_thread(session, post.thread_id)
                await repo.touch_board(session, board.id, now)
                return True
            if self.media is not None and thread is not None:
                lost = len((await self.media.files_for_posts(session, [post.id])).get(post.id, []))
                thread.file_count = max(0, thread.file_count - lost)
            await repo.delete_posts(session, [post.id])
            await self._rebuild_thread(session, board, post.thread_id, now)
            await repo.touch_board(session, board.id, now)
            return False

    async def _rebuild_thread(self, session: WriteSession, board: Board, thread_id: int, now: datetime) -> None:
        """After replies vanish, the thread's counters and bump time are what the remaining
        replies make them — so deleting a spammer's bumps puts the thread back where it was."""
        thread = await session.get(Thread, thread_id)
        if thread is None:
            return
        count, replies = await repo.thread_reply_stats(session, thread.id)
        thread.reply_count = count
        thread.bumped_at = thread.created_at
        for created_at, sage in replies[: board.bump_limit]:
            if not sage:
                thread.bumped_at = max(thread.bumped_at, created_at)
        thread.updated_at = now
        await session.flush()

    def _digest(self, password: str) -> str:
        return hmac.new(self.secret, password.encode(), hashlib.sha256).hexdigest()

    # --- maintenance --------------------------------------------------------------------

    async def prune_archives(self) -> int:
        """Remove archived threads older than their board's archive period."""
        removed = 0
        now = self.clock()
        async with self.db.writer() as session:
            for board in await repo.all_boards(session):
                for thread in await repo.archived_before(session, board.id, now - timedelta(days=board.archive_days)):
                    await repo.delete_thread(session, thread.id)
                    self.events.record(
                        session, ThreadPruned(board=board.uri, thread_no=thread.no, reason="archive_expired")
                    )
                    removed += 1
                    # The archive page and archive.json are cached by the board's version.
                    await repo.touch_board(session, board.id, now)
        return removed

    # --- reading ------------------------------------------------------------------------

    async def version(self, board: str | None = None, thread_no: int | None = None) -> datetime | None:
        """The time of the last write a page depends on: the thread's, the board's, or the
        site's newest when no board is named. None when the board or thread does not exist."""
        async with self.db.reader() as session:
            # Asked before every cached page: one indexed value, executed as Core on the
            # session's connection (no ORM execution machinery).
            connection = await session.connection()
            if board is None:
                return await repo.site_version(connection)
            if thread_no is None:
                return await repo.board_version(connection, board)
            return await repo.thread_version(connection, board, thread_no)

    async def board_page(self, uri: str, page: int) -> BoardPage:
        async with self.db.reader() as session:
            board = await _board_record_or_404(session, uri)
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
        async with self.db.reader() as session:
            board = await _board_record_or_404(session, uri)
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
        async with self.db.reader() as session:
            board, found = await repo.board_with_thread(session, uri, no)
            if board is None:
                raise NotFound(f"There is no board /{uri}/.", code="board_not_found")
            if not found:
                raise NotFound(f"Thread No.{no} does not exist on /{uri}/.", code="thread_not_found")
            [(thread_id, state)] = found.items()
            rows, posters = await repo.thread_post_views(session, thread_id, uri, no)
            posts = [view for _, view in rows]
            by_no = {p.no: p for p in posts}
            for target, source_uri, thread_no, source in await repo.backlinks_into_thread(session, board.id, thread_id):
                by_no[target].backlinks.append(Backlink(board=source_uri, thread_no=thread_no, post_no=source))
            await _attach_files(session, self.media, rows)
        return ThreadView(board=board_view(board), state=state, op=posts[0], replies=posts[1:], unique_posters=posters)

    async def catalog(self, uri: str, sort: CatalogSort = "bump") -> tuple[BoardView, list[CatalogEntry]]:
        async with self.db.reader() as session:
            board = await _board_record_or_404(session, uri)
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
        async with self.db.reader() as session:
            board = await _board_record_or_404(session, uri)
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
        async with self.db.reader() as session:
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


# --- helpers ----------------------------------------------------------------------------


async def _board_or_404(session: ReadSession | WriteSession, uri: str) -> Board:
    board = await repo.board_by_uri(session, uri)
    if board is None:
        raise NotFound(f"There is no board /{uri}/.", code="board_not_found")
    return board


async def _board_record_or_404(session: ReadSession, uri: str) -> Row[Any]:
    board = await repo.board_record(session, uri)
    if board is None:
        raise NotFound(f"There is no board /{uri}/.", code="board_not_found")
    return board


async def _previews(
    session: ReadSession,
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
            omitted_files=max(0, state.file_count - sum(len(p.files) for p in (op, *tail))),
        )
        for state, op, tail in previews
    ]


async def _attach_files(session: ReadSession, media: MediaService | None, rows: repo.PostViews) -> None:
    if media is None or not rows:
        return
    files = await media.files_for_posts(session, [post_id for post_id, _ in rows])
    for post_id, view in rows:
        view.files = files.get(post_id, [])


async def _attach_backlinks(session: ReadSession, board_id: int, posts: Sequence[PostView]) -> None:
    by_no = {p.no: p for p in posts}
    for target, uri, thread_no, source in await repo.backlinks_to(session, board_id, list(by_no)):
        by_no[target].backlinks.append(Backlink(board=uri, thread_no=thread_no, post_no=source))


def _options(raw: str) -> set[str]:
    return {word for word in raw.lower().replace(",", " ").split() if word}


def _clean_text(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def _linked_boards(comment: str) -> set[str]:
    return set(BOARD_LINK.findall(comment))


def board_view(board: Board | Row[Any]) -> BoardView:
    """The read model of a board entity, or of its row (the read paths select columns)."""
    return BoardView(
        uri=board.uri,
        title=board.title,
        description=board.description,
        work_safe=board.work_safe,
        threads_per_page=board.threads_per_page,
        pages=board.pages,
        bump_limit=board.bump_limit,
        image_limit=board.image_limit,
        max_comment_length=board.max_comment_length,
        forced_anonymous=board.forced_anonymous,
        default_name=board.default_name,
        poster_ids=board.poster_ids,
        text_only=board.text_only,
        require_subject=board.require_subject,
        require_file=board.require_file,
        country_flags=board.country_flags,
        cyclic_limit=board.cyclic_limit,
        archive_enabled=board.archive_enabled,
        archive_days=board.archive_days,
        max_files=board.max_files,
        max_file_mb=board.max_file_mb,
        allowed_media=board.allowed_media,
        unique_files=board.unique_files,
        last_post_no=board.last_post_no,
        **{name: getattr(board, name) for name in ANTISPAM_OVERRIDES},
        created_at=board.created_at,
        updated_at=board.updated_at,
        announcement=board.announcement,
        banners=tuple(board.banners.split()),
        custom_spoiler=board.custom_spoiler,
    )


def public_post(view: PostView) -> dict[str, Any]:
    """A post as events carry it (``post.created``, ``post.updated``): what the public API
    shows of it, never the poster's address."""
    return dataclasses.asdict(view)


def post_view(post: Post, uri: str, thread_no: int) -> PostView:
    return PostView(
        board=uri,
        thread_no=thread_no,
        no=post.no,
        is_op=post.is_op,
        created_at=post.created_at,
        name=post.name,
        tripcode=post.tripcode,
        capcode=post.capcode,
        subject=post.subject,
        comment=post.comment,
        comment_html=post.comment_html,
        poster_id=post.poster_id,
        country_code=post.country_code,
        country_name=post.country_name,
        sage=post.sage,
        edited_at=post.edited_at,
    )
