"""Every query of the boards context. Functions take the session type they need, so a
write can never run on a replica session."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, literal_column, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from imageboard.boards.models import Board, Post, PostQuote, Thread
from imageboard.core.db import ReadSession, WriteSession

AnySession = ReadSession | WriteSession | AsyncSession


# --- boards -----------------------------------------------------------------------------


async def board_by_uri(session: AnySession, uri: str) -> Board | None:
    result = await session.execute(select(Board).where(Board.uri == uri))
    return result.scalar_one_or_none()


async def all_boards(session: AnySession) -> Sequence[Board]:
    return (await session.execute(select(Board).order_by(Board.uri))).scalars().all()


async def board_uris(session: AnySession, uris: Iterable[str]) -> set[str]:
    wanted = set(uris)
    if not wanted:
        return set()
    rows = await session.execute(select(Board.uri).where(Board.uri.in_(wanted)))
    return set(rows.scalars().all())


async def count_boards(session: AnySession) -> int:
    return int((await session.execute(select(func.count()).select_from(Board))).scalar_one())


async def board_activity(session: AnySession, since: datetime) -> dict[int, tuple[int, datetime | None]]:
    """Posts per board since ``since``, and each board's last post time."""
    recent = (
        select(Post.board_id, func.count().label("n"))
        .where(Post.created_at >= since, Post.held.is_(False))
        .group_by(Post.board_id)
    )
    # Post numbers grow with time, so a board's last post is the one numbered last_post_no:
    # one unique-index lookup per board instead of a scan of every post.
    last = select(Board.id, Post.created_at).outerjoin(
        Post, and_(Post.board_id == Board.id, Post.no == Board.last_post_no)
    )
    counts = {row.board_id: int(row.n) for row in await session.execute(recent)}
    activity: dict[int, tuple[int, datetime | None]] = {}
    for board_id, last_at in await session.execute(last):
        activity[board_id] = (counts.get(board_id, 0), last_at)
    return activity


async def add_board(session: WriteSession, board: Board) -> Board:
    session.add(board)
    await session.flush()
    return board


async def take_post_number(session: WriteSession, board_id: int) -> int:
    """Hand out the board's next post number. The UPDATE locks the board row until commit,
    so concurrent posters on one board are serialised here and no number repeats."""
    result = await session.execute(
        update(Board)
        .where(Board.id == board_id)
        .values(last_post_no=Board.last_post_no + 1)
        .returning(Board.last_post_no)
    )
    return int(result.scalar_one())


async def touch_threads(session: WriteSession, threads: Iterable[tuple[str, int]], when: datetime) -> None:
    """Mark threads changed (a post elsewhere now backlinks into them)."""
    for uri, no in set(threads):
        board_id = select(Board.id).where(Board.uri == uri).scalar_subquery()
        query = update(Thread).where(Thread.board_id == board_id, Thread.no == no).values(updated_at=when)
        await session.execute(query)


async def board_version(session: AnySession, uri: str) -> datetime | None:
    """When anything on the board last changed (every write touches it)."""
    return (await session.execute(select(Board.updated_at).where(Board.uri == uri))).scalar_one_or_none()


async def site_version(session: AnySession) -> datetime | None:
    return (await session.execute(select(func.max(Board.updated_at)))).scalar_one_or_none()


async def thread_version(session: AnySession, uri: str, no: int) -> datetime | None:
    query = select(Thread.updated_at).join(Board, Board.id == Thread.board_id).where(Board.uri == uri, Thread.no == no)
    return (await session.execute(query)).scalar_one_or_none()


async def touch_board(session: WriteSession, board_id: int, when: datetime) -> None:
    await session.execute(update(Board).where(Board.id == board_id).values(updated_at=when))


# --- threads ----------------------------------------------------------------------------


async def thread_by_no(session: AnySession, board_id: int, no: int, *, for_update: bool = False) -> Thread | None:
    query = select(Thread).where(Thread.board_id == board_id, Thread.no == no, Thread.held.is_(False))
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def add_thread(session: WriteSession, thread: Thread) -> Thread:
    session.add(thread)
    await session.flush()
    return thread


def _live(board_id: int) -> Any:
    return and_(Thread.board_id == board_id, Thread.archived.is_(False), Thread.held.is_(False))


async def count_live_threads(session: AnySession, board_id: int) -> int:
    query = select(func.count()).select_from(Thread).where(_live(board_id))
    return int((await session.execute(query)).scalar_one())


async def live_threads(session: AnySession, board_id: int, *, offset: int, limit: int) -> Sequence[Thread]:
    query = (
        select(Thread)
        .where(_live(board_id))
        .order_by(Thread.sticky.desc(), Thread.bumped_at.desc(), Thread.no.desc())
        .offset(offset)
        .limit(limit)
    )
    return (await session.execute(query)).scalars().all()


async def catalog_threads(session: AnySession, board_id: int, sort: str) -> Sequence[Thread]:
    order = {
        "bump": (Thread.sticky.desc(), Thread.bumped_at.desc(), Thread.no.desc()),
        "created": (Thread.sticky.desc(), Thread.no.desc()),
        "replies": (Thread.sticky.desc(), Thread.reply_count.desc(), Thread.no.desc()),
    }[sort]
    return (await session.execute(select(Thread).where(_live(board_id)).order_by(*order))).scalars().all()


async def threads_past_capacity(session: WriteSession, board_id: int, capacity: int) -> Sequence[Thread]:
    """Live, non-sticky threads that have fallen off the last page."""
    query = (
        select(Thread)
        .where(_live(board_id), Thread.sticky.is_(False))
        .order_by(Thread.bumped_at.desc(), Thread.no.desc())
        .offset(capacity)
    )
    return (await session.execute(query)).scalars().all()


async def archived_threads(session: AnySession, board_id: int) -> Sequence[Thread]:
    query = (
        select(Thread)
        .where(Thread.board_id == board_id, Thread.archived.is_(True))
        .order_by(Thread.archived_at.desc(), Thread.no.desc())
    )
    return (await session.execute(query)).scalars().all()


async def archived_before(session: WriteSession, board_id: int, cutoff: datetime) -> Sequence[Thread]:
    query = select(Thread).where(Thread.board_id == board_id, Thread.archived.is_(True), Thread.archived_at < cutoff)
    return (await session.execute(query)).scalars().all()


async def overboard_threads(
    session: AnySession, *, work_safe_only: bool, offset: int, limit: int
) -> Sequence[tuple[Thread, Board]]:
    query = (
        select(Thread, Board)
        .join(Board, Board.id == Thread.board_id)
        .where(Thread.archived.is_(False), Thread.held.is_(False))
        .order_by(Thread.bumped_at.desc(), Thread.id.desc())
        .offset(offset)
        .limit(limit)
    )
    if work_safe_only:
        query = query.where(Board.work_safe.is_(True))
    return [(row[0], row[1]) for row in (await session.execute(query)).all()]


async def delete_thread(session: WriteSession, thread_id: int) -> None:
    await session.execute(delete(Post).where(Post.thread_id == thread_id))
    await session.execute(delete(Thread).where(Thread.id == thread_id))


# --- posts ------------------------------------------------------------------------------


async def add_post(session: WriteSession, post: Post) -> Post:
    session.add(post)
    await session.flush()
    return post


async def add_quotes(session: WriteSession, source_post_id: int, targets: Iterable[tuple[int, int]]) -> None:
    for board_id, no in set(targets):
        session.add(PostQuote(source_post_id=source_post_id, target_board_id=board_id, target_no=no))
    await session.flush()


async def post_by_no(session: AnySession, board_id: int, no: int) -> Post | None:
    query = select(Post).where(Post.board_id == board_id, Post.no == no)
    return (await session.execute(query)).scalar_one_or_none()


async def posts_of_thread(session: AnySession, thread_id: int) -> Sequence[Post]:
    query = select(Post).where(Post.thread_id == thread_id, Post.held.is_(False)).order_by(Post.no)
    return (await session.execute(query)).scalars().all()


async def opening_posts(session: AnySession, thread_ids: Sequence[int]) -> dict[int, Post]:
    if not thread_ids:
        return {}
    # A bare ``is_op`` (not ``IS true``) lets PostgreSQL use the partial index ix_posts_opening.
    query = select(Post).where(Post.thread_id.in_(thread_ids), Post.is_op, Post.held.is_(False))
    return {post.thread_id: post for post in (await session.execute(query)).scalars()}


async def last_replies(session: AnySession, thread_ids: Sequence[int], count: int) -> dict[int, list[Post]]:
    """The last ``count`` replies of each thread, oldest first, in one query."""
    result: dict[int, list[Post]] = {thread_id: [] for thread_id in thread_ids}
    if not thread_ids or count <= 0:
        return result
    # The ranking subquery carries the whole row: joining it back to posts by id made
    # PostgreSQL scan the posts table for the outer side.
    ranked = (
        select(
            Post,
            func.row_number().over(partition_by=Post.thread_id, order_by=Post.no.desc()).label("rank"),
        )
        .where(Post.thread_id.in_(thread_ids), Post.is_op.is_(False), Post.held.is_(False))
        .subquery()
    )
    recent = aliased(Post, ranked)
    query = select(recent).where(ranked.c.rank <= count).order_by(ranked.c.thread_id, ranked.c.no)
    for post in (await session.execute(query)).scalars():
        result[post.thread_id].append(post)
    return result


async def thread_numbers_of(session: AnySession, wanted: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """For quoted (board URI, post number) pairs, the number of the thread each post is in."""
    pairs = set(wanted)
    if not pairs:
        return {}
    query = (
        select(Board.uri, Post.no, Thread.no)
        .join(Post, Post.board_id == Board.id)
        .join(Thread, Thread.id == Post.thread_id)
        .where(or_(*(and_(Board.uri == uri, Post.no == no) for uri, no in pairs)), Post.held.is_(False))
    )
    return {(uri, no): thread_no for uri, no, thread_no in (await session.execute(query)).all()}


async def backlinks_to(
    session: AnySession, board_id: int, target_nos: Sequence[int]
) -> list[tuple[int, str, int, int]]:
    """(quoted post number, quoting board URI, quoting thread number, quoting post number)."""
    if not target_nos:
        return []
    query = (
        select(PostQuote.target_no, Board.uri, Thread.no, Post.no)
        .join(Post, Post.id == PostQuote.source_post_id)
        .join(Thread, Thread.id == Post.thread_id)
        .join(Board, Board.id == Post.board_id)
        .where(PostQuote.target_board_id == board_id, PostQuote.target_no.in_(target_nos), Post.held.is_(False))
        .order_by(Post.board_id, Post.no)
    )
    return [(int(a), str(b), int(c), int(d)) for a, b, c, d in (await session.execute(query)).all()]


async def live_posts_among(session: AnySession, post_ids: Sequence[int]) -> list[int]:
    """Those of the posts that stand in a live (not archived) thread."""
    if not post_ids:
        return []
    query = (
        select(Post.id)
        .join(Thread, Thread.id == Post.thread_id)
        .where(Post.id.in_(post_ids), Thread.archived.is_(False))
    )
    return list((await session.execute(query)).scalars().all())


async def delete_posts(session: WriteSession, post_ids: Sequence[int]) -> None:
    if post_ids:
        await session.execute(delete(Post).where(Post.id.in_(post_ids)))


async def oldest_replies(session: WriteSession, thread_id: int, count: int) -> Sequence[Post]:
    query = select(Post).where(Post.thread_id == thread_id, Post.is_op.is_(False)).order_by(Post.no).limit(count)
    return (await session.execute(query)).scalars().all()


async def thread_reply_stats(session: WriteSession, thread_id: int) -> tuple[int, list[tuple[datetime, bool]]]:
    """Reply count and, in order, each reply's (time, sage) — what the bump time is rebuilt from."""
    query = (
        select(Post.created_at, Post.sage)
        .where(Post.thread_id == thread_id, Post.is_op.is_(False), Post.held.is_(False))
        .order_by(Post.no)
    )
    rows = [(row[0], bool(row[1])) for row in (await session.execute(query)).all()]
    return len(rows), rows


async def unique_poster_counts(session: AnySession, thread_ids: Sequence[int]) -> dict[int, int]:
    if not thread_ids:
        return {}
    query = (
        select(Post.thread_id, func.count(func.distinct(func.coalesce(Post.ip, literal_column("''")))))
        .where(Post.thread_id.in_(thread_ids), Post.held.is_(False))
        .group_by(Post.thread_id)
    )
    return {int(a): int(b) for a, b in (await session.execute(query)).all()}


# =========================================================================================
# --- staff (moderation) ------------------------------------------------------------------
# Queries behind boards/staff.py: they see held posts and threads, and posters' addresses.
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
        .where(Post.held.is_(True))
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
