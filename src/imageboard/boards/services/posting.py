"""Posting: a new thread or a reply, in one write transaction."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime

from imageboard.boards import repository as repo
from imageboard.boards.markup import QuoteRef, find_quotes, render_comment
from imageboard.boards.models import Board, Post, Thread
from imageboard.boards.poster_ids import poster_id
from imageboard.boards.schemas import NewPost, PostCreated
from imageboard.boards.services.base import BoardsBase
from imageboard.boards.services.views import post_view, public_post
from imageboard.boards.tripcodes import sign
from imageboard.core.db import WriteSession
from imageboard.core.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from imageboard.core.geoip import country_of
from imageboard.events import PostCreated as PostCreatedEvent
from imageboard.events import ThreadArchived, ThreadPruned, ThreadUpdated

MAX_NAME = 100
MAX_SUBJECT = 100
MAX_OPTIONS = 100
MAX_PASSWORD = 128
BOARD_LINK = re.compile(r">>>/([a-z0-9]{1,32})/")


class PostingMixin(BoardsBase):
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


def _options(raw: str) -> set[str]:
    return {word for word in raw.lower().replace(",", " ").split() if word}


def _clean_text(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def _linked_boards(comment: str) -> set[str]:
    return set(BOARD_LINK.findall(comment))
