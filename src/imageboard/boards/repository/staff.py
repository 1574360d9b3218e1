"""Staff (moderation) queries, used by boards/staff/ only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update

from imageboard.boards.models import Board, Post, PostQuote, Thread
from imageboard.boards.repository.columns import AnySession
from imageboard.core.db import WriteSession

# =========================================================================================
# --- staff (moderation) ------------------------------------------------------------------
# Queries behind boards/staff/: they see held posts and threads, and posters' addresses.
# Nothing here is used by a public page.
# =========================================================================================


async def staff_thread_by_no(
    session: AnySession, board_id: int, no: int, *, for_update: bool = False
) -> Thread | None:
    """A thread whether or not it is held for approval."""
    query = select(Thread).where(Thread.board_id == board_id, Thread.no == no)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def staff_posts_of_thread(session: AnySession, thread_id: int) -> Sequence[Post]:
    """Every post of a thread, held ones included."""
    query = select(Post).where(Post.thread_id == thread_id).order_by(Post.no)
    return (await session.execute(query)).scalars().all()


async def staff_posts_by_ids(session: AnySession, post_ids: Sequence[int]) -> Sequence[tuple[Post, str, int]]:
    """(post, board URI, thread number) for the given post ids."""
    if not post_ids:
        return []
    query = (
        select(Post, Board.uri, Thread.no)
        .join(Board, Board.id == Post.board_id)
        .join(Thread, Thread.id == Post.thread_id)
        .where(Post.id.in_(post_ids))
    )
    return [(row[0], str(row[1]), int(row[2])) for row in (await session.execute(query)).all()]


async def staff_posts_by_ip(
    session: AnySession,
    ip: str,
    *,
    board_id: int | None = None,
    thread_id: int | None = None,
    limit: int | None = None,
) -> Sequence[tuple[Post, str, int]]:
    """Posts from one address, newest first, with their board URI and thread number."""
    query = (
        select(Post, Board.uri, Thread.no)
        .join(Board, Board.id == Post.board_id)
        .join(Thread, Thread.id == Post.thread_id)
        .where(Post.ip == ip)
        .order_by(Post.created_at.desc(), Post.id.desc())
    )
    if board_id is not None:
        query = query.where(Post.board_id == board_id)
    if thread_id is not None:
        query = query.where(Post.thread_id == thread_id)
    if limit is not None:
        query = query.limit(limit)
    return [(row[0], str(row[1]), int(row[2])) for row in (await session.execute(query)).all()]


async def staff_held_posts(
    session: AnySession, board_ids: Sequence[int] | None, *, limit: int
) -> Sequence[tuple[Post, str, int]]:
    """Posts waiting for approval, oldest first; ``board_ids`` None means every board."""
    query = (
        select(Post, Board.uri, Thread.no)
        .join(Board, Board.id == Post.board_id)
        .join(Thread, Thread.id == Post.thread_id)
        # Bare ``held`` (not ``IS true``): the condition of the partial index ix_posts_held.
        .where(Post.held)
        .order_by(Post.created_at, Post.id)
        .limit(limit)
    )
    if board_ids is not None:
        if not board_ids:
            return []
        query = query.where(Post.board_id.in_(board_ids))
    return [(row[0], str(row[1]), int(row[2])) for row in (await session.execute(query)).all()]


async def staff_has_visible_post_by_ip(session: AnySession, board_id: int, ip: str) -> bool:
    query = select(Post.id).where(Post.board_id == board_id, Post.ip == ip, Post.held.is_(False)).limit(1)
    return (await session.execute(query)).first() is not None


async def staff_delete_quotes_from(session: WriteSession, post_ids: Sequence[int]) -> None:
    if post_ids:
        await session.execute(delete(PostQuote).where(PostQuote.source_post_id.in_(post_ids)))


async def staff_retarget_quotes(
    session: WriteSession, from_board_id: int, to_board_id: int, numbers: dict[int, int]
) -> None:
    """Backlinks into moved posts follow them to their new board and numbers."""
    for old, new in numbers.items():
        await session.execute(
            update(PostQuote)
            .where(PostQuote.target_board_id == from_board_id, PostQuote.target_no == old)
            .values(target_board_id=to_board_id, target_no=new)
        )


async def staff_purge_post_ips(session: WriteSession, board_id: int, cutoff: datetime) -> int:
    """Forget the address of every post on the board older than ``cutoff``."""
    result = await session.execute(
        update(Post)
        .where(Post.board_id == board_id, Post.created_at < cutoff, Post.ip.is_not(None))
        .values(ip=None)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def staff_update_board(session: WriteSession, board_id: int, values: dict[str, Any]) -> None:
    if values:
        await session.execute(update(Board).where(Board.id == board_id).values(**values))


async def staff_touch_threads(session: WriteSession, board_id: int, when: datetime) -> None:
    """Mark every thread of the board changed: their pages show board settings (banners,
    announcement, title), and thread pages are cached by the thread's own version."""
    await session.execute(update(Thread).where(Thread.board_id == board_id).values(updated_at=when))
