"""Every query of the boards context. Functions take the session type they need, so a
write can never run on a replica session.

The public pages' queries select columns (SQLAlchemy Core) and build the read models from
the rows directly: loading hundreds of ORM entities per page and copying each into a view
cost more than the SQL itself."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, bindparam, case, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from imageboard.boards.models import Board, Post, PostQuote, Thread
from imageboard.boards.schemas import PostView, ThreadState
from imageboard.core.db import ReadSession, WriteSession

AnySession = ReadSession | WriteSession | AsyncSession

# The columns of a PostView after its (board, thread_no), and of a ThreadState after its
# board, in the dataclasses' field order: rows are unpacked into them positionally.
POST_VIEW_COLUMNS = (
    Post.no, Post.is_op, Post.created_at, Post.name, Post.tripcode, Post.capcode, Post.subject, Post.comment,
    Post.comment_html, Post.poster_id, Post.country_code, Post.country_name, Post.sage, Post.edited_at,
)  # fmt: skip
THREAD_STATE_COLUMNS = (
    Thread.no, Thread.subject, Thread.created_at, Thread.bumped_at, Thread.updated_at, Thread.reply_count,
    Thread.file_count, Thread.sticky, Thread.locked, Thread.cyclic, Thread.archived, Thread.archived_at,
)  # fmt: skip


def _check_order(columns: Sequence[Any], model: type[Any], after: int) -> None:
    names = [f.name for f in dataclasses.fields(model)][after : after + len(columns)]
    if names != [c.key for c in columns]:
        raise RuntimeError(f"{model.__name__}'s fields and the columns selected for it are out of step")


_check_order(POST_VIEW_COLUMNS, PostView, after=2)
_check_order(THREAD_STATE_COLUMNS, ThreadState, after=1)


# --- boards -----------------------------------------------------------------------------


async def board_by_uri(session: AnySession, uri: str) -> Board | None:
    result = await session.execute(select(Board).where(Board.uri == uri))
    return result.scalar_one_or_none()


async def board_record(session: AnySession, uri: str) -> Row[Any] | None:
    """The board's columns, for reading (``service.board_view`` takes it like an entity)."""
    return (await session.execute(select(Board.__table__).where(Board.uri == uri))).one_or_none()


async def board_records(session: AnySession) -> Sequence[Row[Any]]:
    return (await session.execute(select(Board.__table__).order_by(Board.uri))).all()


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


# The posting statements are built once: they run for every post, and building one costs
# more than SQLite takes to run it.
_CLAIM_POST_NUMBER = (
    update(Board)
    .where(Board.uri == bindparam("board_uri"))
    .values(last_post_no=Board.last_post_no + 1, updated_at=bindparam("now", type_=Board.updated_at.type))
    .returning(Board)
    .execution_options(populate_existing=True, synchronize_session=False)
)


async def claim_post_number(session: WriteSession, uri: str, now: datetime) -> Board | None:
    """The posting transaction's first statement: the board with its next post number in
    ``last_post_no``, marked changed at ``now`` — one statement for the read, the number and
    the touch. The UPDATE locks the board row until commit, so posters on one board are
    serialised here and no number repeats. None when there is no such board."""
    return (await session.execute(_CLAIM_POST_NUMBER, {"board_uri": uri, "now": now})).scalar_one_or_none()


async def give_back_post_number(session: WriteSession, board_id: int) -> None:
    """Undo ``claim_post_number`` in the same transaction (the row is still locked by it)."""
    await session.execute(update(Board).where(Board.id == board_id).values(last_post_no=Board.last_post_no - 1))


async def touch_threads(session: WriteSession, threads: Iterable[tuple[str, int]], when: datetime) -> None:
    """Mark threads changed (a post elsewhere now backlinks into them), and their boards: the
    index pages show backlinks too, and they are cached by the board's version."""
    pairs = set(threads)
    for uri, no in pairs:
        board_id = select(Board.id).where(Board.uri == uri).scalar_subquery()
        query = update(Thread).where(Thread.board_id == board_id, Thread.no == no).values(updated_at=when)
        await session.execute(query)
    for uri in {uri for uri, _ in pairs}:
        await session.execute(update(Board).where(Board.uri == uri).values(updated_at=when))


async def board_version(session: AnySession | AsyncConnection, uri: str) -> datetime | None:
    """When anything on the board last changed (every write touches it)."""
    return (await session.execute(select(Board.updated_at).where(Board.uri == uri))).scalar_one_or_none()


async def site_version(session: AnySession | AsyncConnection) -> datetime | None:
    return (await session.execute(select(func.max(Board.updated_at)))).scalar_one_or_none()


async def thread_version(session: AnySession | AsyncConnection, uri: str, no: int) -> datetime | None:
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


def _count_reply(*, bump: bool) -> Any:
    now = bindparam("now", type_=Thread.updated_at.type)
    bumped_at = case((Thread.reply_count < bindparam("bump_limit"), now), else_=Thread.bumped_at)
    return (
        update(Thread)
        .where(
            Thread.board_id == bindparam("of_board"),
            Thread.no == bindparam("thread_no"),
            Thread.held.is_(False),
            Thread.archived.is_(False),
            Thread.locked.is_(False),
        )
        .values(reply_count=Thread.reply_count + 1, updated_at=now, bumped_at=bumped_at if bump else Thread.bumped_at)
        .returning(Thread)
        .execution_options(populate_existing=True, synchronize_session=False)
    )


_COUNT_REPLY = {True: _count_reply(bump=True), False: _count_reply(bump=False)}


async def count_reply(
    session: WriteSession, board_id: int, no: int, *, now: datetime, bump: bool, bump_limit: int
) -> Thread | None:
    """Count a reply on a visible, open thread — and bump it when ``bump`` and still below
    ``bump_limit`` — in one statement that also locks the row until commit. None when the
    thread cannot take the reply (missing, held, archived or locked)."""
    values = {"of_board": board_id, "thread_no": no, "now": now} | ({"bump_limit": bump_limit} if bump else {})
    return (await session.execute(_COUNT_REPLY[bump], values)).scalar_one_or_none()


async def add_thread(session: WriteSession, thread: Thread) -> Thread:
    session.add(thread)
    await session.flush()
    return thread


def _live(board_id: int) -> Any:
    return and_(Thread.board_id == board_id, Thread.archived.is_(False), Thread.held.is_(False))


async def count_live_threads(session: AnySession, board_id: int) -> int:
    query = select(func.count()).select_from(Thread).where(_live(board_id))
    return int((await session.execute(query)).scalar_one())


ThreadStates = dict[int, ThreadState]  # by thread id, in the order of the query


async def _thread_states(session: AnySession, uri: str, query: Any) -> ThreadStates:
    return {thread_id: ThreadState(uri, *values) for thread_id, *values in (await session.execute(query)).all()}


async def board_with_thread(session: AnySession, uri: str, no: int) -> tuple[Row[Any] | None, ThreadStates]:
    """The board's columns (as ``board_record``) and its visible thread ``no`` as {id: state},
    in one query: the thread page's first round trip."""
    thread = [Thread.id.label("thread_id"), *(c.label(f"thread_{c.key}") for c in THREAD_STATE_COLUMNS)]
    joined = and_(Thread.board_id == Board.id, Thread.no == no, Thread.held.is_(False))
    query = select(Board.__table__, *thread).outerjoin(Thread, joined).where(Board.uri == uri)
    row = (await session.execute(query)).one_or_none()
    if row is None:
        return None, {}
    values = row[len(Board.__table__.c) :]
    return row, ({} if values[0] is None else {values[0]: ThreadState(uri, *values[1:])})


async def live_thread_states(session: AnySession, board_id: int, uri: str, *, offset: int, limit: int) -> ThreadStates:
    query = (
        select(Thread.id, *THREAD_STATE_COLUMNS)
        .where(_live(board_id))
        .order_by(Thread.sticky.desc(), Thread.bumped_at.desc(), Thread.no.desc())
        .offset(offset)
        .limit(limit)
    )
    return await _thread_states(session, uri, query)


async def catalog_thread_states(session: AnySession, board_id: int, uri: str, sort: str) -> ThreadStates:
    order = {
        "bump": (Thread.sticky.desc(), Thread.bumped_at.desc(), Thread.no.desc()),
        "created": (Thread.sticky.desc(), Thread.no.desc()),
        "replies": (Thread.sticky.desc(), Thread.reply_count.desc(), Thread.no.desc()),
    }[sort]
    return await _thread_states(
        session, uri, select(Thread.id, *THREAD_STATE_COLUMNS).where(_live(board_id)).order_by(*order)
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


async def archived_thread_states(session: AnySession, board_id: int, uri: str) -> ThreadStates:
    query = (
        select(Thread.id, *THREAD_STATE_COLUMNS)
        .where(Thread.board_id == board_id, Thread.archived.is_(True))
        .order_by(Thread.archived_at.desc(), Thread.no.desc())
    )
    return await _thread_states(session, uri, query)


async def archived_before(session: WriteSession, board_id: int, cutoff: datetime) -> Sequence[Thread]:
    query = select(Thread).where(Thread.board_id == board_id, Thread.archived.is_(True), Thread.archived_at < cutoff)
    return (await session.execute(query)).scalars().all()


async def overboard_thread_states(
    session: AnySession, *, work_safe_only: bool, offset: int, limit: int
) -> list[tuple[int, int, ThreadState]]:
    """(thread id, board id, state) of live threads of every board, in bump order."""
    query = (
        select(Thread.id, Thread.board_id, Board.uri, *THREAD_STATE_COLUMNS)
        .join(Board, Board.id == Thread.board_id)
        .where(Thread.archived.is_(False), Thread.held.is_(False))
        .order_by(Thread.bumped_at.desc(), Thread.id.desc())
        .offset(offset)
        .limit(limit)
    )
    if work_safe_only:
        query = query.where(Board.work_safe.is_(True))
    return [(a, b, ThreadState(uri, *values)) for a, b, uri, *values in (await session.execute(query)).all()]


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


PostViews = list[tuple[int, PostView]]  # (post id, view)


async def thread_post_views(session: AnySession, thread_id: int, uri: str, thread_no: int) -> tuple[PostViews, int]:
    """The visible posts of a thread, in order, and how many posters (addresses) wrote them."""
    query = (
        select(Post.id, Post.ip, *POST_VIEW_COLUMNS)
        .where(Post.thread_id == thread_id, Post.held.is_(False))
        .order_by(Post.no)
    )
    views: PostViews = []
    addresses = set()
    for post_id, ip, *values in (await session.execute(query)).all():
        views.append((post_id, PostView(uri, thread_no, *values)))
        addresses.add(ip or "")  # posts without an address (purged) count as one poster
    return views, len(addresses)


async def opening_post_views(
    session: AnySession, threads: Mapping[int, ThreadState]
) -> dict[int, tuple[int, PostView]]:
    """The opening post of each thread (by thread id) that has a visible one."""
    if not threads:
        return {}
    # A bare ``is_op`` (not ``IS true``) lets PostgreSQL use the partial index ix_posts_opening.
    query = select(Post.thread_id, Post.id, *POST_VIEW_COLUMNS).where(
        Post.thread_id.in_(list(threads)), Post.is_op, Post.held.is_(False)
    )
    found: dict[int, tuple[int, PostView]] = {}
    for thread_id, post_id, *values in (await session.execute(query)).all():
        state = threads[thread_id]
        found[thread_id] = (post_id, PostView(state.board, state.no, *values))
    return found


async def last_reply_views(session: AnySession, threads: Mapping[int, ThreadState], count: int) -> dict[int, PostViews]:
    """The last ``count`` replies of each thread (by thread id), oldest first, in one query."""
    result: dict[int, PostViews] = {thread_id: [] for thread_id in threads}
    if not threads or count <= 0:
        return result
    # The ranking subquery carries the whole row: joining it back to posts by id made
    # PostgreSQL scan the posts table for the outer side.
    ranked = (
        select(
            Post.thread_id,
            Post.id,
            *POST_VIEW_COLUMNS,
            func.row_number().over(partition_by=Post.thread_id, order_by=Post.no.desc()).label("rank"),
        )
        .where(Post.thread_id.in_(list(threads)), Post.is_op.is_(False), Post.held.is_(False))
        .subquery()
    )
    columns = [ranked.c.thread_id, ranked.c.id, *(ranked.c[c.key] for c in POST_VIEW_COLUMNS)]
    query = select(*columns).where(ranked.c.rank <= count).order_by(ranked.c.thread_id, ranked.c.no)
    for thread_id, post_id, *values in (await session.execute(query)).all():
        state = threads[thread_id]
        result[thread_id].append((post_id, PostView(state.board, state.no, *values)))
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
    return await _backlinks(session, board_id, PostQuote.target_no.in_(target_nos))


async def _backlinks(session: AnySession, board_id: int, targets: Any) -> list[tuple[int, str, int, int]]:
    query = (
        select(PostQuote.target_no, Board.uri, Thread.no, Post.no)
        .join(Post, Post.id == PostQuote.source_post_id)
        .join(Thread, Thread.id == Post.thread_id)
        .join(Board, Board.id == Post.board_id)
        .where(PostQuote.target_board_id == board_id, targets, Post.held.is_(False))
        .order_by(Post.board_id, Post.no)
    )
    return [(int(a), str(b), int(c), int(d)) for a, b, c, d in (await session.execute(query)).all()]


async def backlinks_into_thread(session: AnySession, board_id: int, thread_id: int) -> list[tuple[int, str, int, int]]:
    """``backlinks_to`` every visible post of a thread (a subquery, not hundreds of numbers)."""
    numbers = select(Post.no).where(Post.thread_id == thread_id, Post.held.is_(False))
    return await _backlinks(session, board_id, PostQuote.target_no.in_(numbers))


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
