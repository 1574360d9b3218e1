"""Posting: a new thread or a reply, in one write transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from imageboard.boards import repository as repo
from imageboard.boards.models import Thread
from imageboard.boards.poster_ids import poster_id
from imageboard.boards.schemas import NewPost, PostCreated, PostView
from imageboard.boards.services.base import BoardRow, BoardsBase
from imageboard.boards.services.quoting import render_quoting
from imageboard.boards.services.views import public_post
from imageboard.boards.tripcodes import sign
from imageboard.core.db import WriteSession
from imageboard.core.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from imageboard.core.geoip import country_of
from imageboard.events import PostCreated as PostCreatedEvent
from imageboard.events import ThreadArchived, ThreadPruned, ThreadUpdated
from imageboard.media import IngestedFile, refuse_unlisted_kinds

MAX_NAME = 100
MAX_SUBJECT = 100
MAX_OPTIONS = 100
MAX_PASSWORD = 128


@dataclass(frozen=True, slots=True)
class _Draft:
    """A post made ready before its number is claimed: everything that does not need the
    number, so the board's row is locked for as short a time as possible."""

    new: NewPost
    held: bool
    sage: bool
    comment: str
    comment_html: str
    name: str
    tripcode: str | None
    country_code: str | None
    country_name: str | None
    quotes: list[tuple[int, int]]  # (board id, number) of quoted posts that exist: backlinks
    elsewhere: list[tuple[str, int]]  # threads elsewhere that gain a backlink


@dataclass(slots=True)
class _Target:
    """The thread a post goes to, as it stands once the post is counted in it (its files
    included)."""

    id: int
    no: int
    reply_count: int
    file_count: int
    bumped_at: datetime
    cyclic: bool


@dataclass(frozen=True, slots=True)
class _Written:
    id: int
    view: PostView


class PostingMixin(BoardsBase):
    async def create_post(self, new: NewPost) -> PostCreated:
        """Everything a post needs happens in this one write transaction — moderation's
        screen, the markup, the number, the rows and the events — because on SQLite every
        write transaction queues behind the single writer. The board's next number is claimed
        only once the post is ready: from then until commit the board's row is locked, and
        on PostgreSQL that lock is what posters on one board queue for."""
        now = self.clock()
        refusal: DomainError | None = None
        async with self.db.writer() as session:
            board = await repo.board_record(session, new.board)
            if board is None:
                raise NotFound(f"There is no board /{new.board}/.", code="board_not_found")
            held = new.hold_for_review
            if self.screen is not None:  # moderation: may refuse (ban, filter), rewrite or hold the post
                new, screened, refusal = await self.screen(session, board, new)
                held = held or screened
            if refusal is None:
                draft = await self._draft(session, board, new, held=held)
                created = await self._store(session, board, draft, now=now)
            # Otherwise refused after recording why (a warning seen, a ban): that record
            # commits, and no number was taken.
        if refusal is not None:
            raise refusal
        return created

    async def _draft(self, session: WriteSession, board: BoardRow, new: NewPost, *, held: bool) -> _Draft:
        self._validate(board, new)
        signature = sign("" if board.forced_anonymous else new.name, secret=self.secret)
        comment = _clean_text(new.comment)
        # A new thread (0) has no number yet: nothing can quote into it.
        rendered = await render_quoting(session, comment, board=board.uri, thread_no=new.thread_no)
        # The first lookup loads the country database (~0.1 s): keep it off the event loop.
        country = await asyncio.to_thread(country_of, new.ip) if board.country_flags and new.ip else None
        return _Draft(
            new=new,
            held=held,
            sage="sage" in _options(new.options),
            comment=comment,
            comment_html=rendered.html,
            name=signature.name or board.default_name,
            tripcode=signature.tripcode,
            country_code=country.code if country else None,
            country_name=country.name if country else None,
            quotes=rendered.quotes,
            elsewhere=sorted(rendered.threads - {(board.uri, new.thread_no)}),
        )

    async def _store(self, session: WriteSession, board: BoardRow, draft: _Draft, *, now: datetime) -> PostCreated:
        new, held = draft.new, draft.held
        if new.thread_no and not held:
            thread, post = await self._reply(session, board, draft, now)
        else:
            number = await repo.claim_post_number(session, board.id, now)
            thread = await self._thread_for(session, board, draft, number, now)
            values = {**self._post_values(board, draft, thread.no, now), "thread_id": thread.id, "no": number}
            post_id = await repo.insert_post(session, values)
            post = await self._complete_post(session, board, thread, draft, post_id, values)
        if self.indexer is not None:  # search: searchable from the moment it commits
            await self.indexer(session, post.id)
        if not held:  # a held post (moderation) stays invisible, uncounted, until staff approve it
            if post.view.is_op:
                await self._archive_overflow(session, board, now)
            else:
                await self._after_reply(session, board, thread)
            self._announce_post(session, board, thread, post.view, new.files)
        noko = "nonoko" not in _options(new.options)
        return PostCreated(board=board.uri, thread_no=thread.no, post_no=post.view.no, noko=noko, held=held)

    async def _reply(
        self, session: WriteSession, board: BoardRow, draft: _Draft, now: datetime
    ) -> tuple[_Target, _Written]:
        """A reply that counts: its number, its thread's count and its row in one step (one
        statement on PostgreSQL), so the board's row is locked for as few round trips as
        possible. A reply past the image limit is refused after counting (rolled back)."""
        new, files = draft.new, len(draft.new.files)
        values = self._post_values(board, draft, new.thread_no, now)
        counted = await repo.add_counted_reply(
            session,
            values,
            thread_no=new.thread_no,
            now=now,
            bump=not draft.sage,
            bump_limit=board.bump_limit,
            files=files,
        )
        if counted is None:
            await self._uncounted_target(session, board, new.thread_no, files)
            # The thread could take the reply after all: it changed between the two reads.
            raise Conflict("The thread changed while the reply was posted: send it again.", code="thread_changed")
        thread = self._within_image_limit(board, _Target(**counted.thread), files)
        values.update(thread_id=thread.id, no=counted.number)
        return thread, await self._complete_post(session, board, thread, draft, counted.post_id, values)

    def _validate(self, board: BoardRow, new: NewPost) -> None:
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
        if new.files:
            refuse_unlisted_kinds(new.files, allowed_media=board.allowed_media, board=board.uri)
        if new.thread_no == 0:
            if board.require_subject and not new.subject.strip():
                raise InvalidInput("A new thread needs a subject.", field="sub")
            if board.require_file and not board.text_only and not has_files:
                raise InvalidInput("A new thread needs a file.", field="upfile")
        if not comment and not has_files:
            raise InvalidInput("The post is empty: write a comment or attach a file.", field="com")

    async def _thread_for(
        self, session: WriteSession, board: BoardRow, draft: _Draft, number: int, now: datetime
    ) -> _Target:
        """The new thread, or the thread a held reply goes to. A held post's thread is
        invisible until staff approve it, and the held reply is counted only then. A
        thread's ``file_count`` counts its replies' files (4chan's ``images``), not the
        opening post's."""
        new = draft.new
        if new.thread_no == 0:
            made = await repo.add_thread(
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
                    held=draft.held,
                ),
            )
            return _Target(made.id, made.no, 0, 0, now, made.cyclic)
        return await self._uncounted_target(session, board, new.thread_no, len(new.files))

    async def _uncounted_target(self, session: WriteSession, board: BoardRow, thread_no: int, files: int) -> _Target:
        """The thread replied to, as it would stand with the reply's files, without counting
        the reply; refused with the reason when the thread cannot take a reply."""
        thread = await repo.thread_by_no(session, board.id, thread_no, for_update=True)
        if thread is None:
            raise NotFound(
                f"Thread No.{thread_no} does not exist on /{board.uri}/ (it may have been deleted).",
                field="resto",
                code="thread_not_found",
            )
        if thread.archived:
            raise Forbidden("This thread is archived: it can be read but no longer replied to.", code="thread_archived")
        if thread.locked:
            raise Forbidden("This thread is closed: no more replies are accepted.", code="thread_locked")
        # Held: counted when approved (``staff.approve_post``), but the limit holds already.
        with_files = thread.file_count + files
        target = _Target(thread.id, thread.no, thread.reply_count, with_files, thread.bumped_at, thread.cyclic)
        return self._within_image_limit(board, target, files)

    @staticmethod
    def _within_image_limit(board: BoardRow, thread: _Target, files: int) -> _Target:
        """Refuses a reply whose files take the thread past its image limit (they are already
        counted in ``thread``: the transaction then rolls back)."""
        if files and thread.file_count > board.image_limit:
            raise Forbidden(
                f"This thread has reached its image limit ({board.image_limit}): reply without a file.",
                field="upfile",
                code="image_limit",
            )
        return thread

    def _post_values(self, board: BoardRow, draft: _Draft, thread_no: int, now: datetime) -> dict[str, Any]:
        """The post's row but its thread's id and its number (``repository.replies.REPLY_COLUMNS``)."""
        new = draft.new
        is_op = new.thread_no == 0
        poster = (
            poster_id(new.ip, board=board.uri, thread_no=thread_no, secret=self.secret)
            if board.poster_ids and new.ip
            else None
        )
        return {
            "board_id": board.id,
            "is_op": is_op,
            "created_at": now,
            "name": draft.name,
            "tripcode": draft.tripcode,
            "capcode": new.capcode,
            "subject": new.subject.strip() if is_op else "",
            "comment": draft.comment,
            "comment_html": draft.comment_html,
            "sage": draft.sage,
            "poster_id": poster,
            "country_code": draft.country_code,
            "country_name": draft.country_name,
            "ip": new.ip,
            "password_digest": self._digest(new.password) if new.password else None,
            "held": draft.held,
        }

    async def _complete_post(
        self,
        session: WriteSession,
        board: BoardRow,
        thread: _Target,
        draft: _Draft,
        post_id: int,
        values: dict[str, Any],
    ) -> _Written:
        """What follows the post's row: its quotes, its files, and its view (from ``values``,
        the row just written)."""
        new = draft.new
        # Threads elsewhere gain a backlink, so their pages change too. Touched after commit in
        # a transaction of its own: locking another thread's row while holding this board's
        # could deadlock with a post there quoting back.
        if draft.elsewhere:
            elsewhere, now = draft.elsewhere, values["created_at"]
            session.after_commit(lambda: self._touch_threads(elsewhere, now))
        if draft.quotes:
            await repo.add_quotes(session, post_id, draft.quotes)
        if new.files:
            await self._attach_files(session, board, post_id, new)
        # The view events carry: the row just written, in the read models' column order.
        written: list[Any] = [values.get(column.key) for column in repo.POST_VIEW_COLUMNS]
        view = PostView(board.uri, thread.no, *written)
        return _Written(post_id, view)

    async def _attach_files(self, session: WriteSession, board: BoardRow, post_id: int, new: NewPost) -> None:
        if self.media is None:
            raise InvalidInput("This site does not accept files.", field="upfile", code="files_disabled")
        if board.unique_files:
            for file in new.files:
                holders = await self.media.posts_with_blob(session, board.id, file.sha256)
                if await repo.live_posts_among(session, holders):
                    raise Conflict(
                        f"This file is already posted in a thread on /{board.uri}/: post a different one.",
                        field="upfile",
                        code="duplicate_file",
                    )
        await self.media.attach(session, post_id=post_id, board_id=board.id, board_uri=board.uri, files=new.files)

    def _announce_post(
        self, session: WriteSession, board: BoardRow, thread: _Target, view: PostView, files: Sequence[IngestedFile]
    ) -> None:
        self.events.record(
            session,
            PostCreatedEvent(
                board=board.uri,
                thread_no=thread.no,
                post_no=view.no,
                is_op=view.is_op,
                sage=view.sage,
                files=len(files),
                waiting_files=sum(file.pending for file in files),
                post=public_post(view),
            ),
        )
        if not view.is_op:
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

    async def _after_reply(self, session: WriteSession, board: BoardRow, thread: _Target) -> None:
        """The reply is counted already (``repo.add_counted_reply``); a cyclic thread past its
        limit loses its oldest replies."""
        if thread.cyclic and thread.reply_count > board.cyclic_limit:
            oldest = await repo.oldest_replies(session, thread.id, thread.reply_count - board.cyclic_limit)
            surplus = [post.id for post in oldest]
            files = await self.media.count_live_files(session, surplus) if self.media else 0
            await repo.delete_posts(session, surplus)
            await repo.uncount_replies(session, thread.id, len(surplus), files)
            thread.reply_count -= len(surplus)
            thread.file_count -= files

    async def _archive_overflow(self, session: WriteSession, board: BoardRow, now: datetime) -> None:
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


def _options(raw: str) -> set[str]:
    return {word for word in raw.lower().replace(",", " ").split() if word}


def _clean_text(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()
