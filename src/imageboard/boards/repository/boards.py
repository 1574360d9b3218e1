"""Boards: lookups, post numbering, and the versions pages are cached by."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, bindparam, func, select, update

from imageboard.boards.models import Board, Post, Thread
from imageboard.boards.repository.columns import BOARDS, AnySession
from imageboard.core.db import TableReads, WriteSession
from imageboard.core.sqlite_direct import direct

# --- boards -----------------------------------------------------------------------------


async def board_by_uri(session: AnySession, uri: str, *, for_update: bool = False) -> Board | None:
    query = select(Board).where(Board.uri == uri)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def lock_boards(session: WriteSession, board_ids: Iterable[int]) -> None:
    """Lock these boards' rows until commit, in id order (PostgreSQL; SQLite's writer holds
    the whole database already): see ``services.base.board_to_change_or_404``."""
    ids = sorted(set(board_ids))
    if ids:
        await session.execute(select(BOARDS.c.id).where(BOARDS.c.id.in_(ids)).order_by(BOARDS.c.id).with_for_update())


# Built once: every post reads its board, and the cache key of a statement naming every
# column of the board costs more to compute than the query takes to run.
_BOARD_RECORD = direct(select(BOARDS).where(BOARDS.c.uri == bindparam("uri")))


async def board_record(session: TableReads, uri: str) -> Row[Any] | None:
    """The board's columns, for reading (``service.board_view`` takes it like an entity)."""
    return (await session.execute(_BOARD_RECORD, {"uri": uri})).one_or_none()


async def board_records(session: TableReads) -> Sequence[Row[Any]]:
    return (await session.execute(select(Board.__table__).order_by(Board.uri))).all()


async def all_boards(session: AnySession) -> Sequence[Board]:
    return (await session.execute(select(Board).order_by(Board.uri))).scalars().all()


async def board_ids(session: AnySession, uris: Iterable[str]) -> dict[str, int]:
    """The ids of those of ``uris`` that are boards."""
    wanted = set(uris)
    if not wanted:
        return {}
    rows = await session.execute(select(Board.uri, Board.id).where(Board.uri.in_(wanted)))
    return dict(rows.all())


async def count_boards(session: AnySession) -> int:
    return int((await session.execute(select(func.count()).select_from(Board))).scalar_one())


async def posts_per_board_since(session: TableReads, since: datetime) -> dict[str, int]:
    """Visible posts per board (by address) since ``since``; boards without any are left out.
    Walks the posts of that time: the caller keeps the answer a while (``home``)."""
    # Grouped by an expression, not the column: grouping by the column lets SQLite serve the
    # GROUP BY from the (board_id, no) index and walk every post of the site; this way it
    # reads only the range of ix_posts_created_at, which also holds board_id and held.
    board_id = (Post.board_id + 0).label("board_id")
    recent = (
        select(board_id, func.count().label("n"))
        .where(Post.created_at >= since, Post.held.is_(False))
        .group_by(board_id)
        .subquery()
    )
    query = select(Board.uri, recent.c.n).join(recent, recent.c.board_id == Board.id)
    return {uri: int(n) for uri, n in await session.execute(query)}


async def last_post_times(session: TableReads) -> dict[str, datetime | None]:
    """Each board's last post time, by address (None: no post yet)."""
    # Post numbers grow with time, so a board's last post is the one numbered last_post_no:
    # one unique-index lookup per board instead of a scan of every post.
    query = select(Board.uri, Post.created_at).outerjoin(
        Post, and_(Post.board_id == Board.id, Post.no == Board.last_post_no)
    )
    return {row.uri: row.created_at for row in await session.execute(query)}


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


# Built once: it runs for every post, and building it costs more than SQLite takes to run it.
# Its parameters are named after no column of boards, threads or posts: SQLAlchemy sets every
# column of an UPDATE's table named by a parameter of the execution, in a CTE too.
CLAIM_POST_NUMBER = direct(
    update(BOARDS)
    .where(BOARDS.c.id == bindparam("claim_board"))
    .values(last_post_no=BOARDS.c.last_post_no + 1, updated_at=bindparam("now", type_=Board.updated_at.type))
    .returning(BOARDS.c.last_post_no)
)


async def claim_post_number(session: WriteSession, board_id: int, now: datetime) -> int:
    """The board's next post number, with the board marked changed at ``now``, in one
    statement. The UPDATE locks the board row until commit: posters on one board are
    serialised from here, so no number repeats and numbers commit in order — which is why
    posting does everything it can before this."""
    return int((await session.execute(CLAIM_POST_NUMBER, {"claim_board": board_id, "now": now})).scalar_one())


async def touch_threads(session: WriteSession, threads: Iterable[tuple[str, int]], when: datetime) -> None:
    """Mark threads changed (a post elsewhere now backlinks into them), and their boards: the
    index pages show backlinks too, and they are cached by the board's version."""
    pairs = set(threads)
    # The boards before their threads, as every write takes them (``services.base.board_to_change_or_404``).
    for uri in sorted({uri for uri, _ in pairs}):
        await session.execute(update(Board).where(Board.uri == uri).values(updated_at=when))
    for uri, no in sorted(pairs):
        board_id = select(Board.id).where(Board.uri == uri).scalar_subquery()
        query = update(Thread).where(Thread.board_id == board_id, Thread.no == no).values(updated_at=when)
        await session.execute(query)


async def board_version(session: TableReads, uri: str) -> datetime | None:
    """When anything on the board last changed (every write touches it)."""
    return (await session.execute(select(Board.updated_at).where(Board.uri == uri))).scalar_one_or_none()


async def site_version(session: TableReads) -> datetime | None:
    return (await session.execute(select(func.max(Board.updated_at)))).scalar_one_or_none()


async def thread_version(session: TableReads, uri: str, no: int) -> datetime | None:
    query = select(Thread.updated_at).join(Board, Board.id == Thread.board_id).where(Board.uri == uri, Thread.no == no)
    return (await session.execute(query)).scalar_one_or_none()


async def touch_board(session: WriteSession, board_id: int, when: datetime) -> None:
    await session.execute(update(Board).where(Board.id == board_id).values(updated_at=when))
