"""Deletion by the poster (with the post's deletion password) and pruning of expired archives."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from imageboard.boards import repository as repo
from imageboard.boards.models import Board, Thread
from imageboard.boards.services.base import BoardsBase, board_to_change_or_404
from imageboard.core.db import WriteSession
from imageboard.core.errors import Forbidden, InvalidInput, NotFound
from imageboard.events import PostDeleted, ThreadPruned, ThreadUpdated

# How many live files these posts carry: the media context's ``count_live_files``.
FileCounter = Callable[[WriteSession, Sequence[int]], Awaitable[int]]


class DeletionMixin(BoardsBase):
    async def delete_own_post(self, board_uri: str, no: int, password: str, *, file_only: bool = False) -> bool:
        """Delete a post (a thread, if it is the opening post) whose deletion password matches.
        Returns True when a whole thread was removed."""
        async with self.db.writer() as session:
            board = await board_to_change_or_404(session, board_uri)
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
                if not removed or self.media is None:
                    raise InvalidInput("This post has no file to delete.", code="no_file")
                thread = await session.get(Thread, post.thread_id)
                if thread is not None:
                    thread.updated_at = now
                    await recount_files(session, thread, self.media.count_live_files)
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
            await repo.delete_posts(session, [post.id])
            files = self.media.count_live_files if self.media else None
            await rebuild_thread(session, board, post.thread_id, now, files)
            await repo.touch_board(session, board.id, now)
            return False

    # --- maintenance --------------------------------------------------------------------

    async def prune_archives(self) -> int:
        """Remove archived threads older than their board's archive period."""
        removed = 0
        now = self.clock()
        async with self.db.writer() as session:
            for board in await repo.all_boards(session):
                expired = await repo.archived_before(session, board.id, now - timedelta(days=board.archive_days))
                if not expired:
                    continue
                # The archive page and archive.json are cached by the board's version; and the
                # board is taken before its threads, as every write takes them (board_to_change_or_404).
                await repo.touch_board(session, board.id, now)
                for thread in expired:
                    await repo.delete_thread(session, thread.id)
                    self.events.record(
                        session, ThreadPruned(board=board.uri, thread_no=thread.no, reason="archive_expired")
                    )
                    removed += 1
        return removed


async def rebuild_thread(
    session: WriteSession, board: Board, thread_id: int, now: datetime, files: FileCounter | None
) -> None:
    """After replies vanish (or appear: an approved post), the thread's counters and bump
    time are what the visible replies make them — so deleting a spammer's bumps puts the
    thread back where it was. ``files`` counts the replies' files (None: a site without
    files). (Staff deletions use this too: ``boards.staff``.)"""
    thread = await session.get(Thread, thread_id)
    if thread is None:
        return
    count, replies = await repo.thread_reply_stats(session, thread.id)
    thread.reply_count = count
    thread.bumped_at = thread.created_at
    for _post_id, created_at, sage in replies[: board.bump_limit]:
        if not sage:
            thread.bumped_at = max(thread.bumped_at, created_at)
    if files is not None:
        thread.file_count = await _replies_files(session, replies, files)
    thread.updated_at = now
    await session.flush()


async def recount_files(session: WriteSession, thread: Thread, files: FileCounter) -> None:
    """The thread's image count after files were deleted: the live files of its visible
    replies (the opening post's file is not counted, as on 4chan)."""
    _count, replies = await repo.thread_reply_stats(session, thread.id)
    thread.file_count = await _replies_files(session, replies, files)


async def _replies_files(
    session: WriteSession, replies: Sequence[tuple[int, datetime, bool]], files: FileCounter
) -> int:
    """The live files of those replies (``repo.thread_reply_stats``'s rows)."""
    return await files(session, [post_id for post_id, _created_at, _sage in replies])
