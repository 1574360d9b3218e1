"""What staff do to posts: delete (one, or all of a poster's), edit, mark, approve. Bump
order is rebuilt from what remains."""

from __future__ import annotations

from datetime import datetime

from imageboard.boards import repository as repo
from imageboard.boards.models import Board, Thread
from imageboard.boards.services.base import board_to_change_or_404
from imageboard.boards.services.deletion import FileCounter, rebuild_thread, recount_files
from imageboard.boards.staff.common import (
    MAX_BAN_MESSAGE,
    Removed,
    Scope,
    StaffPost,
    archive_overflow,
    clean_text,
    post_or_404,
    rerender,
    staff_post,
    thread_or_404,
)
from imageboard.core.db import WriteSession
from imageboard.core.errors import InvalidInput


async def delete_post(session: WriteSession, uri: str, no: int, now: datetime, files: FileCounter | None) -> Removed:
    """Delete a post; the whole thread when it is the opening post. ``files`` counts the
    files the thread's replies keep (None: a site without files)."""
    board = await board_to_change_or_404(session, uri)
    post = await post_or_404(session, board, no)
    thread = await session.get(Thread, post.thread_id)
    assert thread is not None
    if post.is_op:
        ids = [p.id for p in await repo.staff_posts_of_thread(session, thread.id)]
        await repo.delete_thread(session, thread.id)
        await repo.touch_board(session, board.id, now)
        return Removed(post_ids=ids, threads=[(board.uri, thread.no)], posts=len(ids))
    await repo.delete_posts(session, [post.id])
    await rebuild_thread(session, board, thread.id, now, files)
    await repo.touch_board(session, board.id, now)
    return Removed(post_ids=[post.id], threads=[], posts=1)


async def delete_by_ip(
    session: WriteSession, ip: str, scope: Scope, uri: str, thread_no: int, now: datetime, files: FileCounter | None
) -> Removed:
    """Delete every post from ``ip`` in the thread, on the board, or on the whole site.
    Threads it opened go with their replies; every other thread it replied to gets its
    counters and bump time rebuilt from the replies that remain."""
    board = await board_to_change_or_404(session, uri)
    board_id: int | None = None
    thread_id: int | None = None
    if scope in ("board", "thread"):
        board_id = board.id
    if scope == "thread":
        thread_id = (await thread_or_404(session, board, thread_no)).id
    rows = await repo.staff_posts_by_ip(session, ip, board_id=board_id, thread_id=thread_id)
    # Site-wide, other boards' threads change too: their boards are taken first (board_to_change_or_404).
    await repo.lock_boards(session, {post.board_id for post, _uri, _no in rows})
    removed_ids: list[int] = []
    threads: list[tuple[str, int]] = []
    touched: dict[int, Board] = {}
    opened = {post.thread_id for post, _uri, _no in rows if post.is_op}
    for thread_id_ in opened:
        thread = await session.get(Thread, thread_id_)
        assert thread is not None
        owner = await session.get(Board, thread.board_id)
        assert owner is not None
        removed_ids += [p.id for p in await repo.staff_posts_of_thread(session, thread_id_)]
        threads.append((owner.uri, thread.no))
        touched[owner.id] = owner
        await repo.delete_thread(session, thread_id_)
    replies = [post for post, _uri, _no in rows if post.thread_id not in opened]
    await repo.delete_posts(session, [p.id for p in replies])
    removed_ids += [p.id for p in replies]
    for thread_id_ in {p.thread_id for p in replies}:
        owner = await session.get(Board, next(p.board_id for p in replies if p.thread_id == thread_id_))
        assert owner is not None
        touched[owner.id] = owner
        await rebuild_thread(session, owner, thread_id_, now, files)
    for owner in touched.values():
        await repo.touch_board(session, owner.id, now)
    return Removed(post_ids=removed_ids, threads=threads, posts=len(removed_ids))


async def edit_post(session: WriteSession, uri: str, no: int, comment: str, now: datetime) -> None:
    board = await board_to_change_or_404(session, uri)
    post = await post_or_404(session, board, no)
    text = clean_text(comment)
    if len(text) > board.max_comment_length:
        raise InvalidInput(
            f"The comment is too long: {len(text)} characters, at most {board.max_comment_length} on /{board.uri}/.",
            field="com",
        )
    thread = await session.get(Thread, post.thread_id)
    assert thread is not None
    post.comment = text
    post.edited_at = now
    await repo.staff_delete_quotes_from(session, [post.id])
    await rerender(session, board, thread.no, post)
    thread.updated_at = now
    await repo.touch_board(session, board.id, now)


async def set_ban_message(session: WriteSession, uri: str, no: int, message: str | None, now: datetime) -> None:
    """Show (or, with None, remove) the public "(USER WAS BANNED FOR THIS POST)" mark."""
    board = await board_to_change_or_404(session, uri)
    post = await post_or_404(session, board, no)
    thread = await session.get(Thread, post.thread_id)
    assert thread is not None
    post.ban_message = message.strip()[:MAX_BAN_MESSAGE] if message and message.strip() else None
    await repo.staff_delete_quotes_from(session, [post.id])
    await rerender(session, board, thread.no, post)
    thread.updated_at = now
    await repo.touch_board(session, board.id, now)


async def approve_post(session: WriteSession, uri: str, no: int, now: datetime, files: FileCounter | None) -> StaffPost:
    """Let a held post appear (a reply's files then count in its thread's images). An
    approved thread starts at the top of the board."""
    board = await board_to_change_or_404(session, uri)
    post = await post_or_404(session, board, no)
    if not post.held:
        raise InvalidInput(f"Post No.{no} is not waiting for approval.", code="not_held")
    thread = await session.get(Thread, post.thread_id)
    assert thread is not None
    post.held = False
    if post.is_op:
        thread.held = False
        thread.bumped_at = now
        thread.updated_at = now
        await session.flush()
        await archive_overflow(session, board, now)
    else:
        await rebuild_thread(session, board, thread.id, now, files)
    await repo.touch_board(session, board.id, now)
    return staff_post(post, board.uri, thread.no)


async def recount_thread_files(session: WriteSession, uri: str, thread_no: int, files: FileCounter) -> None:
    """After staff deleted files: the thread's image count is what its replies keep."""
    board = await board_to_change_or_404(session, uri)
    await recount_files(session, await thread_or_404(session, board, thread_no), files)
