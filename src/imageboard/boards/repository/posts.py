"""Posts: adding, reading views of them, quotes and backlinks, deleting."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import CompoundSelect, and_, bindparam, delete, insert, or_, select, union_all

from imageboard.boards.models import Board, Post, PostQuote, Thread
from imageboard.boards.repository.columns import POST_VIEW_COLUMNS, POSTS, AnySession
from imageboard.boards.schemas import PostStamp, PostView, ThreadState
from imageboard.core.db import TableReads, WriteSession
from imageboard.core.sqlite_direct import direct

# --- posts ------------------------------------------------------------------------------


async def add_post(session: WriteSession, post: Post) -> Post:
    session.add(post)
    await session.flush()
    return post


_INSERT_POST = direct(insert(POSTS).returning(POSTS.c.id))


async def insert_post(session: WriteSession, values: Mapping[str, Any]) -> int:
    """A new post's row, from its column values; returns its id. The posting path's insert:
    a table statement costs a third of the ORM's flush of an entity, inside the write lock."""
    return int((await session.execute(_INSERT_POST, dict(values))).scalar_one())


async def add_quotes(session: WriteSession, source_post_id: int, targets: Iterable[tuple[int, int]]) -> None:
    for board_id, no in set(targets):
        session.add(PostQuote(source_post_id=source_post_id, target_board_id=board_id, target_no=no))
    await session.flush()


async def post_by_no(session: AnySession, board_id: int, no: int) -> Post | None:
    query = select(Post).where(Post.board_id == board_id, Post.no == no)
    return (await session.execute(query)).scalar_one_or_none()


PostViews = list[tuple[int, PostView]]  # (post id, view)


# Built once, as the thread page's other queries: see ``threads._BOARD_WITH_THREAD``.
_THREAD_POST_VIEWS = direct(
    select(POSTS.c.id, POSTS.c.ip, *POST_VIEW_COLUMNS)
    .where(POSTS.c.thread_id == bindparam("thread_id"), POSTS.c.held.is_(False))
    .order_by(POSTS.c.no)
)


async def thread_post_views(session: TableReads, thread_id: int, uri: str, thread_no: int) -> tuple[PostViews, int]:
    """The visible posts of a thread, in order, and how many posters (addresses) wrote them."""
    views: PostViews = []
    addresses = set()
    for post_id, ip, *values in (await session.execute(_THREAD_POST_VIEWS, {"thread_id": thread_id})).all():
        views.append((post_id, PostView(uri, thread_no, *values)))
        addresses.add(ip or "")  # posts without an address (purged) count as one poster
    return views, len(addresses)


ID_BATCH = 1000
# The thread page's posts when their rendered HTML may be at hand already: see PostStamp.
_THREAD_POST_STAMPS = direct(
    select(POSTS.c.id, POSTS.c.no, POSTS.c.view_version, POSTS.c.ip)
    .where(POSTS.c.thread_id == bindparam("thread_id"), POSTS.c.held.is_(False))
    .order_by(POSTS.c.no)
)


async def thread_post_stamps(session: TableReads, thread_id: int) -> tuple[list[PostStamp], int]:
    """The visible posts of a thread as stamps, in order, and how many posters wrote them."""
    rows = (await session.execute(_THREAD_POST_STAMPS, {"thread_id": thread_id})).all()
    return [_stamp(PostStamp, row[:3]) for row in rows], _posters(rows)


# A PostStamp from a row's first three columns, made in C: the named tuple's own constructor
# is Python code, and a 300-reply page made 300 (117 µs against 56).
_stamp = tuple.__new__


def _posters(rows: Sequence[Any]) -> int:
    """How many addresses wrote these posts (the last column), counted as thread_post_views
    does: posts without one (purged) count as one poster. The set is built in C: a thread
    page's 300 rows cost 6 µs instead of 90 with a comprehension."""
    addresses = set(map(itemgetter(-1), rows))
    return len(addresses) - (None in addresses and "" in addresses)


_THREAD_POST_VIEWS_BY_ID = (
    select(POSTS.c.id, POSTS.c.view_version, *POST_VIEW_COLUMNS)
    .where(
        POSTS.c.id.in_(bindparam("ids", expanding=True)),
        POSTS.c.thread_id == bindparam("thread_id"),
        POSTS.c.held.is_(False),
    )
    .order_by(POSTS.c.no)
)


async def thread_post_views_by_id(
    session: TableReads, thread_id: int, uri: str, thread_no: int, post_ids: Sequence[int]
) -> list[tuple[int, int, PostView]]:
    """(post id, view_version, view) of those visible posts of the thread, in order. Asked
    for in batches: a thread has no upper bound on its posts, a statement on its parameters
    (PostgreSQL's protocol takes 32,767)."""
    found = []
    for start in range(0, len(post_ids), ID_BATCH):
        values = {"thread_id": thread_id, "ids": list(post_ids[start : start + ID_BATCH])}
        found += [
            (post_id, view_version, PostView(uri, thread_no, *rest))
            for post_id, view_version, *rest in (await session.execute(_THREAD_POST_VIEWS_BY_ID, values)).all()
        ]
    return sorted(found, key=lambda row: row[2].no) if len(post_ids) > ID_BATCH else found


async def opening_post_views(
    session: TableReads, threads: Mapping[int, ThreadState]
) -> dict[int, tuple[int, PostView]]:
    """The opening post of each thread (by thread id) that has a visible one."""
    if not threads:
        return {}
    # A bare ``is_op`` (not ``IS true``) lets PostgreSQL use the partial index ix_posts_opening.
    query = select(POSTS.c.thread_id, POSTS.c.id, *POST_VIEW_COLUMNS).where(
        POSTS.c.thread_id.in_(list(threads)), POSTS.c.is_op, POSTS.c.held.is_(False)
    )
    found: dict[int, tuple[int, PostView]] = {}
    for thread_id, post_id, *values in (await session.execute(query)).all():
        state = threads[thread_id]
        found[thread_id] = (post_id, PostView(state.board, state.no, *values))
    return found


# SQLite allows 500 terms in a compound SELECT; an index page has at most 100 threads.
_THREADS_PER_UNION = 100
# The statement for n threads and a count, built once: building the union of its n
# SELECTs and its cache key again on every page cost as much as the query.
_TAILS: dict[tuple[int, int], CompoundSelect[Any]] = {}


def _tails(threads: int, count: int) -> CompoundSelect[Any]:
    query = _TAILS.get((threads, count))
    if query is None:
        tails = [
            select(POSTS.c.thread_id, POSTS.c.id, *POST_VIEW_COLUMNS)
            .where(POSTS.c.thread_id == bindparam(f"thread_{n}"), POSTS.c.is_op.is_(False), POSTS.c.held.is_(False))
            .order_by(POSTS.c.no.desc())
            .limit(count)
            .subquery()
            for n in range(threads)
        ]
        # Each tail in a subquery of its own: a compound SELECT takes one ORDER BY and LIMIT.
        query = _TAILS[(threads, count)] = union_all(*(select(tail) for tail in tails))
    return query


async def last_reply_views(session: TableReads, threads: Mapping[int, ThreadState], count: int) -> dict[int, PostViews]:
    """The last ``count`` replies of each thread (by thread id), oldest first.

    One ``ORDER BY no DESC LIMIT count`` per thread, joined with UNION ALL into one statement:
    each reads ``count`` rows from the end of the thread's (thread_id, no) range. Ranking every
    reply of the threads with a window function read all of them (2.9 ms on SQLite for a
    board page with a 300-reply thread), and joining a ranking back to posts by id made
    PostgreSQL scan the table."""
    result: dict[int, PostViews] = {thread_id: [] for thread_id in threads}
    if not threads or count <= 0:
        return result
    ids = list(threads)
    for start in range(0, len(ids), _THREADS_PER_UNION):
        batch = ids[start : start + _THREADS_PER_UNION]
        values = {f"thread_{n}": thread_id for n, thread_id in enumerate(batch)}
        for thread_id, post_id, *rest in (await session.execute(_tails(len(batch), count), values)).all():
            state = threads[thread_id]
            result[thread_id].append((post_id, PostView(state.board, state.no, *rest)))
    for views in result.values():
        # Oldest first by number: SQL promises no order for a UNION's rows, even where each
        # branch is ordered (PostgreSQL's parallel append may interleave them).
        views.sort(key=_number_of)
    return result


def _number_of(view: tuple[int, PostView]) -> int:
    return view[1].no


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
    session: TableReads, board_id: int, target_nos: Sequence[int]
) -> list[tuple[int, str, int, int]]:
    """(quoted post number, quoting board URI, quoting thread number, quoting post number)."""
    if not target_nos:
        return []
    return await _backlinks(session, _BACKLINKS_TO, {"board_id": board_id, "numbers": list(target_nos)})


def _backlinks_query(targets: Any) -> Any:
    return (
        select(PostQuote.target_no, Board.uri, Thread.no, Post.no)
        .join(Post, Post.id == PostQuote.source_post_id)
        .join(Thread, Thread.id == Post.thread_id)
        .join(Board, Board.id == Post.board_id)
        .where(PostQuote.target_board_id == bindparam("board_id"), targets, Post.held.is_(False))
        .order_by(Post.board_id, Post.no)
    )


async def _backlinks(session: TableReads, query: Any, values: dict[str, Any]) -> list[tuple[int, str, int, int]]:
    return [(int(a), str(b), int(c), int(d)) for a, b, c, d in (await session.execute(query, values)).all()]


_BACKLINKS_TO = _backlinks_query(PostQuote.target_no.in_(bindparam("numbers", expanding=True)))
# Every visible post of a thread: a subquery, not hundreds of numbers.
_BACKLINKS_INTO_THREAD = _backlinks_query(
    PostQuote.target_no.in_(
        select(Post.no).where(Post.thread_id == bindparam("thread_id"), Post.held.is_(False)).scalar_subquery()
    )
)


async def backlinks_into_thread(session: TableReads, board_id: int, thread_id: int) -> list[tuple[int, str, int, int]]:
    """``backlinks_to`` every visible post of a thread."""
    return await _backlinks(session, _BACKLINKS_INTO_THREAD, {"board_id": board_id, "thread_id": thread_id})


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


async def thread_reply_stats(
    session: WriteSession, thread_id: int
) -> tuple[int, list[tuple[int, datetime, bool]]]:
    """Reply count and, in order, each visible reply's (id, time, sage) — what the bump time
    and the image count are rebuilt from."""
    query = (
        select(Post.id, Post.created_at, Post.sage)
        .where(Post.thread_id == thread_id, Post.is_op.is_(False), Post.held.is_(False))
        .order_by(Post.no)
    )
    rows = [(int(row[0]), row[1], bool(row[2])) for row in (await session.execute(query)).all()]
    return len(rows), rows
