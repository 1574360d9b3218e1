"""Threads: lookups, reply counting, and the thread lists of the index, catalog, archive
and overboard."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Update, and_, bindparam, case, delete, func, select, update

from imageboard.boards.models import Post, Thread
from imageboard.boards.repository.columns import BOARDS, POSTS, THREAD_STATE_COLUMNS, THREADS, AnySession
from imageboard.boards.schemas import ThreadState
from imageboard.core.db import TableReads, WriteSession
from imageboard.core.sqlite_direct import direct

# --- threads ----------------------------------------------------------------------------


async def thread_by_no(session: AnySession, board_id: int, no: int, *, for_update: bool = False) -> Thread | None:
    query = select(Thread).where(Thread.board_id == board_id, Thread.no == no, Thread.held.is_(False))
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


def count_reply_statement(*, bump: bool) -> Update:
    """The thread's UPDATE that counts a reply (``count_reply``), without its RETURNING. No
    parameter is named after a column (``bumps_below``, not ``bump_limit``): SQLAlchemy would
    set that column of the board when the statement runs in a CTE beside the board's claim."""
    now = bindparam("now", type_=Thread.updated_at.type)
    bumped_at = case((THREADS.c.reply_count < bindparam("bumps_below"), now), else_=THREADS.c.bumped_at)
    return (
        update(THREADS)
        .where(
            THREADS.c.board_id == bindparam("of_board"),
            THREADS.c.no == bindparam("thread_no"),
            THREADS.c.held.is_(False),
            THREADS.c.archived.is_(False),
            THREADS.c.locked.is_(False),
        )
        .values(
            reply_count=THREADS.c.reply_count + 1,
            file_count=THREADS.c.file_count + bindparam("files"),
            updated_at=now,
            bumped_at=bumped_at if bump else THREADS.c.bumped_at,
        )
    )


# What ``count_reply`` returns of the thread, in this order.
COUNTED_THREAD = ("id", "no", "reply_count", "file_count", "bumped_at", "cyclic")
_COUNT_REPLY = {
    bump: direct(count_reply_statement(bump=bump).returning(*(THREADS.c[name] for name in COUNTED_THREAD)))
    for bump in (True, False)
}


def count_reply_values(
    board_id: int, no: int, *, now: datetime, bump: bool, bump_limit: int, files: int
) -> dict[str, Any]:
    """The parameters of ``count_reply_statement``."""
    values: dict[str, Any] = {"of_board": board_id, "thread_no": no, "now": now, "files": files}
    if bump:
        values["bumps_below"] = bump_limit
    return values


async def count_reply(
    session: WriteSession, board_id: int, no: int, *, now: datetime, bump: bool, bump_limit: int, files: int
) -> Row[Any] | None:
    """Count a reply carrying ``files`` files on a visible, open thread — and bump it when
    ``bump`` and still below ``bump_limit`` — in one statement that also locks the row until
    commit. The thread's ``COUNTED_THREAD`` columns after counting; None when the thread
    cannot take the reply (missing, held, archived or locked)."""
    values = count_reply_values(board_id, no, now=now, bump=bump, bump_limit=bump_limit, files=files)
    return (await session.execute(_COUNT_REPLY[bump], values)).one_or_none()


async def uncount_replies(session: WriteSession, thread_id: int, removed: int, files: int) -> None:
    """Replies and their files taken off a thread's counts (a cyclic thread dropping its oldest)."""
    query = (
        update(THREADS)
        .where(THREADS.c.id == thread_id)
        .values(reply_count=THREADS.c.reply_count - removed, file_count=THREADS.c.file_count - files)
    )
    await session.execute(query)


async def add_thread(session: WriteSession, thread: Thread) -> Thread:
    session.add(thread)
    await session.flush()
    return thread


def _live(board_id: int) -> Any:
    return and_(THREADS.c.board_id == board_id, THREADS.c.archived.is_(False), THREADS.c.held.is_(False))


async def count_live_threads(session: TableReads, board_id: int) -> int:
    query = select(func.count()).select_from(Thread).where(_live(board_id))
    return int((await session.execute(query)).scalar_one())


ThreadStates = dict[int, ThreadState]  # by thread id, in the order of the query


async def _thread_states(session: TableReads, uri: str, query: Any) -> ThreadStates:
    return {thread_id: ThreadState(uri, *values) for thread_id, *values in (await session.execute(query)).all()}


# Built once: the thread page's first query; a new statement object on every call costs
# its cache key and the matching of its result columns to the cached compilation's.
_BOARD_WITH_THREAD = direct(
    select(
        BOARDS,
        THREADS.c.id.label("thread_id"),
        *(c.label(f"thread_{c.key}") for c in THREAD_STATE_COLUMNS),
        POSTS.c.subject.label("op_subject"),
        POSTS.c.comment.label("op_comment"),
    )
    .outerjoin(
        THREADS,
        and_(THREADS.c.board_id == BOARDS.c.id, THREADS.c.no == bindparam("thread_no"), THREADS.c.held.is_(False)),
    )
    # A bare ``is_op`` (not ``IS true``) lets PostgreSQL use the partial index ix_posts_opening.
    .outerjoin(POSTS, and_(POSTS.c.thread_id == THREADS.c.id, POSTS.c.is_op))
    .where(BOARDS.c.uri == bindparam("uri"))
)
_STATE_END = len(BOARDS.c) + 1 + len(THREAD_STATE_COLUMNS)


async def board_with_thread(session: TableReads, uri: str, no: int) -> tuple[Row[Any] | None, ThreadStates]:
    """The board's columns (as ``board_record``), then ``op_subject`` and ``op_comment``, the
    text of the thread's opening post (a thread page's title), and its visible thread ``no``
    as {id: state}, in one query: the thread page's first round trip."""
    row = (await session.execute(_BOARD_WITH_THREAD, {"uri": uri, "thread_no": no})).one_or_none()
    if row is None:
        return None, {}
    thread_id, *state = row[len(BOARDS.c) : _STATE_END]
    return row, ({} if thread_id is None else {thread_id: ThreadState(uri, *state)})


async def live_thread_states(session: TableReads, board_id: int, uri: str, *, offset: int, limit: int) -> ThreadStates:
    query = (
        select(THREADS.c.id, *THREAD_STATE_COLUMNS)
        .where(_live(board_id))
        .order_by(THREADS.c.sticky.desc(), THREADS.c.bumped_at.desc(), THREADS.c.no.desc())
        .offset(offset)
        .limit(limit)
    )
    return await _thread_states(session, uri, query)


async def catalog_thread_states(session: TableReads, board_id: int, uri: str, sort: str) -> ThreadStates:
    order = {
        "bump": (THREADS.c.sticky.desc(), THREADS.c.bumped_at.desc(), THREADS.c.no.desc()),
        "created": (THREADS.c.sticky.desc(), THREADS.c.no.desc()),
        "replies": (THREADS.c.sticky.desc(), THREADS.c.reply_count.desc(), THREADS.c.no.desc()),
    }[sort]
    return await _thread_states(
        session, uri, select(THREADS.c.id, *THREAD_STATE_COLUMNS).where(_live(board_id)).order_by(*order)
    )


async def threads_past_capacity(session: WriteSession, board_id: int, capacity: int) -> Sequence[Thread]:
    """Live, non-sticky threads that have fallen off the last page."""
    query = (
        select(Thread)
        .where(_live(board_id), Thread.sticky.is_(False))
        .order_by(Thread.bumped_at.desc(), Thread.no.desc())
        .offset(capacity)
    )
    return (await session.execute(query)).scalars().all()


async def archived_thread_states(session: TableReads, board_id: int, uri: str) -> ThreadStates:
    query = (
        select(THREADS.c.id, *THREAD_STATE_COLUMNS)
        .where(THREADS.c.board_id == board_id, THREADS.c.archived.is_(True))
        .order_by(THREADS.c.archived_at.desc(), THREADS.c.no.desc())
    )
    return await _thread_states(session, uri, query)


async def archived_before(session: WriteSession, board_id: int, cutoff: datetime) -> Sequence[Thread]:
    query = select(Thread).where(Thread.board_id == board_id, Thread.archived.is_(True), Thread.archived_at < cutoff)
    return (await session.execute(query)).scalars().all()


async def overboard_thread_states(
    session: TableReads, *, work_safe_only: bool, offset: int, limit: int
) -> list[tuple[int, int, ThreadState]]:
    """(thread id, board id, state) of live threads of every board, in bump order."""
    query = (
        select(THREADS.c.id, THREADS.c.board_id, BOARDS.c.uri, *THREAD_STATE_COLUMNS)
        .join(BOARDS, BOARDS.c.id == THREADS.c.board_id)
        .where(THREADS.c.archived.is_(False), THREADS.c.held.is_(False))
        .order_by(THREADS.c.bumped_at.desc(), THREADS.c.id.desc())
        .offset(offset)
        .limit(limit)
    )
    if work_safe_only:
        query = query.where(BOARDS.c.work_safe.is_(True))
    return [(a, b, ThreadState(uri, *values)) for a, b, uri, *values in (await session.execute(query)).all()]


async def delete_thread(session: WriteSession, thread_id: int) -> None:
    await session.execute(delete(Post).where(Post.thread_id == thread_id))
    await session.execute(delete(Thread).where(Thread.id == thread_id))
