"""Bulk loading: many threads and posts written in batches, around the one-post-at-a-time
posting path, keeping every invariant that path keeps.

* Post numbers are taken from ``boards.last_post_no`` up front (``reserve_numbers``), so they
  are unique and never reused even if the load fails half-way.
* Each thread's ``reply_count``, ``bumped_at`` (not by sage, not past the bump limit) and
  ``updated_at`` match its replies; threads past the board's capacity are archived by the
  caller, never lost.
* ``comment_html`` is rendered by :func:`imageboard.boards.markup.render_comment`; quotes
  of earlier posts of the thread are live links and recorded in ``post_quotes`` (backlinks).
* Names and tripcodes go through :func:`imageboard.boards.tripcodes.sign`, poster IDs through
  :func:`imageboard.boards.poster_ids.poster_id`.

Everything happens in one transaction (the caller's ``Database.writer()``): other writers
wait, and a failed load leaves nothing behind. The search index is not this context's: the
caller has the search context index the new posts afterwards.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from imageboard.boards import bulk
from imageboard.boards.bulk import BoardRow, RowShape
from imageboard.boards.markup import QuoteRef, render_comment
from imageboard.boards.poster_ids import poster_id
from imageboard.boards.tripcodes import sign
from imageboard.core.db import Database, WriteSession
from imageboard.core.numbers import is_decimal

BATCH = 20_000  # posts per round trip to the database


class Renderer:
    """Renders comments line by line, keeping the HTML of lines without a quote.

    For text that keeps every markup construct on one line (no ``[code]`` block), the
    comment's HTML is its lines' HTML joined by ``<br>``; the first comments are checked
    against a whole render, so a markup change that breaks this stops the load loudly.
    Comments with a code block are rendered whole.
    """

    CHECKS = 200
    MAX_LINES = 50_000

    def __init__(self, board: str, known_boards: set[str]) -> None:
        self.board = board
        self.known_boards = known_boards
        self._lines: dict[str, str] = {}
        self._quote: str | None = None
        self._checked = 0

    def whole(self, text: str, thread_no: int, quoted: Sequence[int]) -> str:
        targets = {QuoteRef(self.board, no): thread_no for no in quoted}
        return render_comment(
            text, board=self.board, thread_no=thread_no, targets=targets, known_boards=self.known_boards
        )

    def _line(self, line: str, thread_no: int, quoted: Sequence[int]) -> str:
        if ">>" in line:
            digits = line[2:]
            if is_decimal(digits) and int(digits) in quoted:
                # A quote of a post of this thread alone on its line: the same HTML for every
                # number, so it is rendered once (with the number 1) and the number put in.
                if self._quote is None:
                    self._quote = self.whole(">>1", 1, (1,))
                return self._quote.replace("1", digits)
            return self.whole(line, thread_no, quoted)
        html = self._lines.get(line)
        if html is None:
            if len(self._lines) >= self.MAX_LINES:
                self._lines.clear()
            html = self._lines[line] = self.whole(line, thread_no, ())
        return html

    def __call__(self, text: str, thread_no: int, quoted: Sequence[int]) -> str:
        if "[code]" in text:
            if quoted:
                return self.whole(text, thread_no, quoted)
            html = self._lines.get(text)
            if html is None:
                html = self._lines[text] = self.whole(text, thread_no, ())
            return html
        html = "<br>".join(self._line(line, thread_no, quoted) for line in text.split("\n"))
        if self._checked < self.CHECKS:
            self._checked += 1
            if html != self.whole(text, thread_no, quoted):
                raise RuntimeError(f"line-by-line rendering differs from render_comment for {text!r}")
        return html


@dataclass(slots=True)
class LoadedThread:
    id: int
    no: int
    created_at: datetime
    bumped_at: datetime
    updated_at: datetime
    reply_count: int = 0
    archived: bool = False
    archived_at: datetime | None = None
    written: bool = False  # its row is in the database (later changes need an UPDATE)
    changed: bool = False


@dataclass(slots=True)
class _Ids:
    thread: int
    post: int


@dataclass(slots=True)
class Load:
    """One bulk load: the transaction, the row shapes and the ids handed out so far."""

    session: WriteSession
    shapes: tuple[RowShape, RowShape, RowShape]
    ids: _Ids
    secret: bytes
    known_boards: set[str]
    now: datetime
    on_written: Callable[[int], None] = lambda _posts: None
    loaders: list[BoardLoader] = field(default_factory=list)

    async def board(self, board: BoardRow, posts: int, *, password: str = "") -> BoardLoader:
        """A loader for ``posts`` posts on ``board``; their numbers are reserved now."""
        newest = await bulk.newest_post_time(self.session, board.id)
        first_no = await bulk.reserve_numbers(self.session, board.id, posts, self.now)
        digest = hmac.new(self.secret, password.encode(), hashlib.sha256).hexdigest() if password else None
        loader = BoardLoader(self, board, first_no, posts, digest)
        loader.not_before = newest
        self.loaders.append(loader)
        return loader


class BoardLoader:
    """Posts of one board, buffered and written in batches."""

    def __init__(self, load: Load, board: BoardRow, first_no: int, posts: int, digest: str | None) -> None:
        self.load = load
        self.board = board
        self.next_no = first_no
        self.last_no = first_no + posts - 1
        self.digest = digest
        self.renderer = Renderer(board.uri, load.known_boards)
        self.threads: list[LoadedThread] = []
        self._new_threads: list[LoadedThread] = []
        self._subjects: dict[int, str] = {}
        self._posts: list[tuple[Any, ...]] = []
        self._quotes: list[tuple[Any, ...]] = []
        self._signatures: dict[str, tuple[str, str | None]] = {}
        self._poster_ids: dict[tuple[str, int], str] = {}
        self.archived = 0  # threads this load pushed into the archive
        # The board's newest post before the load: posts written after it with later numbers
        # should not be older (the caller picks the times).
        self.not_before: datetime | None = None

    def _signature(self, raw_name: str) -> tuple[str, str | None]:
        if self.board.forced_anonymous or not raw_name:
            return self.board.default_name, None
        found = self._signatures.get(raw_name)
        if found is None:
            signed = sign(raw_name, secret=self.load.secret)
            found = self._signatures[raw_name] = (signed.name or self.board.default_name, signed.tripcode)
        return found

    def _poster_id(self, ip: str, thread_no: int) -> str:
        # The same posters come back to a thread: each ID is made once (parsing the address
        # costs more than the HMAC).
        key = (ip, thread_no)
        found = self._poster_ids.get(key)
        if found is None:
            if len(self._poster_ids) >= 100_000:
                self._poster_ids.clear()
            found = self._poster_ids[key] = poster_id(ip, board=self.board.uri, thread_no=thread_no,
                                                      secret=self.load.secret)  # fmt: skip
        return found

    def _post(
        self, thread: LoadedThread, *, at: datetime, comment: str, quoted: Sequence[int], name: str, ip: str,
        sage: bool, is_op: bool = False, subject: str = "",
    ) -> int:  # fmt: skip
        if self.next_no > self.last_no:
            raise RuntimeError(f"more posts than the {self.last_no} numbers reserved on /{self.board.uri}/")
        no, post_id = self.next_no, self.load.ids.post
        self.next_no += 1
        self.load.ids.post += 1
        shown_name, tripcode = self._signature(name)
        shown_id = self._poster_id(ip, thread.no) if self.board.poster_ids else None
        # In the order of bulk.POST_COLUMNS.
        self._posts.append(
            self.load.shapes[1].given_row(
                (
                    post_id, self.board.id, thread.id, no, is_op, at, shown_name, tripcode, None, subject, comment,
                    self.renderer(comment, thread.no, quoted), sage, shown_id, None, None, ip, self.digest, None,
                    False,
                )
            )
        )  # fmt: skip
        quote_shape = self.load.shapes[2]
        self._quotes.extend(
            quote_shape.row({"source_post_id": post_id, "target_board_id": self.board.id, "target_no": q})
            for q in dict.fromkeys(quoted)
        )
        return no

    def open_thread(
        self, *, at: datetime, subject: str, comment: str, name: str, ip: str, archived_at: datetime | None = None
    ) -> LoadedThread:
        """A new thread; ``archived_at`` writes it straight to the archive (old content)."""
        thread = LoadedThread(self.load.ids.thread, self.next_no, at, at, at)
        thread.archived, thread.archived_at = archived_at is not None, archived_at
        self.load.ids.thread += 1
        self.threads.append(thread)
        self._new_threads.append(thread)
        self._subjects[thread.id] = subject
        self._post(thread, at=at, comment=comment, quoted=(), name=name, ip=ip, sage=False, is_op=True, subject=subject)
        return thread

    def reply(
        self, thread: LoadedThread, *, at: datetime, comment: str, quoted: Sequence[int] = (), name: str = "",
        ip: str, sage: bool = False,
    ) -> int:  # fmt: skip
        """A reply, bumping the thread as the posting path does; returns its number."""
        no = self._post(thread, at=at, comment=comment, quoted=quoted, name=name, ip=ip, sage=sage)
        thread.reply_count += 1
        thread.updated_at = at
        if not sage and thread.reply_count <= self.board.bump_limit:
            thread.bumped_at = at
        thread.changed = thread.written
        return no

    @property
    def buffered(self) -> int:
        return len(self._posts)

    async def flush(self) -> None:
        """Threads before their posts, posts before the quotes that point from them."""
        shape_threads, shape_posts, shape_quotes = self.load.shapes
        rows = [self._thread_row(t) for t in self._new_threads]
        await bulk.insert(self.load.session, shape_threads, rows)
        for thread in self._new_threads:
            thread.written = True
        await bulk.insert(self.load.session, shape_posts, self._posts)
        await bulk.insert(self.load.session, shape_quotes, self._quotes)
        self.load.on_written(len(self._posts))
        self._new_threads.clear()
        self._posts.clear()
        self._quotes.clear()

    async def finish(self) -> None:
        if self.next_no <= self.last_no:
            raise RuntimeError(f"{self.last_no - self.next_no + 1} reserved numbers left unused on /{self.board.uri}/")
        await self.flush()
        changed = [t for t in self.threads if t.changed]
        await bulk.update_threads(
            self.load.session,
            [(t.id, t.reply_count, t.bumped_at, t.updated_at, t.archived, t.archived_at) for t in changed],
        )
        await self._settle_capacity()

    async def _settle_capacity(self) -> None:
        """Threads past the board's live capacity (by bump order, the ones there before the
        load included) go to the archive — at about the time enough newer threads had pushed
        them off — or, on a board that keeps no archive, are pruned."""
        session, capacity = self.load.session, self.board.capacity
        ranked = await bulk.live_threads(session, self.board.id)
        past = ranked[capacity:]
        if not self.board.keeps_archive:
            await bulk.delete_threads(session, [thread_id for thread_id, _bumped, _updated in past])
            return
        archived = []
        for rank, (thread_id, _bumped, updated) in enumerate(past, start=capacity):
            pushed_off = max(updated, ranked[rank - capacity][1]) + timedelta(minutes=1)
            archived.append((thread_id, min(self.load.now, pushed_off)))
        await bulk.archive_threads(session, archived)
        self.archived = len(archived)

    def _thread_row(self, t: LoadedThread) -> tuple[Any, ...]:
        return self.load.shapes[0].row(
            {
                "id": t.id, "board_id": self.board.id, "no": t.no, "subject": self._subjects.pop(t.id, ""),
                "created_at": t.created_at, "bumped_at": t.bumped_at, "updated_at": t.updated_at,
                "reply_count": t.reply_count, "file_count": 0, "sticky": False, "locked": False, "cyclic": False,
                "archived": t.archived, "archived_at": t.archived_at, "held": False,
            }
        )  # fmt: skip


@asynccontextmanager
async def bulk_load(
    db: Database,
    *,
    secret: bytes,
    now: datetime,
    drop_indexes: bool = False,
    on_written: Callable[[int], None] | None = None,
) -> AsyncIterator[Load]:
    """A bulk load in one transaction. With ``drop_indexes`` (worth it from ~100k posts) the
    secondary indexes of threads, posts and quotes are dropped first and rebuilt at the end."""
    async with db.writer() as session:
        await bulk.lock_tables(session)
        dropped = await bulk.secondary_indexes(session) if drop_indexes else []
        for name, _statement in dropped:
            await bulk.drop_index(session, name)
        thread_id, post_id = await bulk.next_ids(session)
        load = Load(
            session=session,
            shapes=await bulk.shapes(session),
            ids=_Ids(thread_id, post_id),
            secret=secret,
            known_boards={b.uri for b in await bulk.board_rows(session)},
            now=now,
        )
        if on_written is not None:
            load.on_written = on_written
        yield load
        for loader in load.loaders:
            await loader.finish()
        for _name, statement in dropped:
            await bulk.create_index(session, statement)
        await bulk.fix_sequences(session)
        await bulk.analyze(session)
