"""Every query of the search context, for SQLite (FTS5) and PostgreSQL (tsvector + GIN).

Results are always joined to the live ``posts`` and ``threads`` rows: a post that is held for
approval, or in a held thread, is never shown, and a deleted post cannot be (its index row
goes with it, and would find no post to join if it lingered). Archived threads stay
searchable: they are public pages. Results come newest first (by post id), which both
databases serve from the index order without ranking every match; ``before`` continues
after the last post id of the previous page (keyset pagination).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import reduce
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, case, delete, exists, func, literal_column, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.types import Text

from imageboard.core.db import ReadSession, WriteSession
from imageboard.core.sqlite_direct import direct
from imageboard.search.highlight import ELLIPSIS, START, STOP
from imageboard.search.models import boards, posts, search_documents, search_fts, threads
from imageboard.search.query import SearchQuery, Term, fts5_match

AnySession = ReadSession | WriteSession
# Words of context shown around the matches in a comment.
SNIPPET_TOKENS = 32
# ts_headline: a short text whole (as FTS5's snippet() shows one of up to SNIPPET_TOKENS
# words), a longer one as up to two fragments of up to 30 words around the matches.
PG_SHORT_TEXT = 200
PG_SNIPPET_OPTIONS = (
    f'StartSel="{START}", StopSel="{STOP}", MaxWords=30, MinWords=12, ShortWord=0, '
    f'MaxFragments=2, FragmentDelimiter=" {ELLIPSIS} "'
)
PG_WHOLE_OPTIONS = f'StartSel="{START}", StopSel="{STOP}", HighlightAll=true'
# PostgreSQL looks for a page of matches among this many newest documents before it asks
# the GIN index for every match (see recent_matches).
RECENT_WINDOW = 10000
_SIMPLE: ColumnElement[Any] = literal_column("'simple'::regconfig")
_ANGLES = str.maketrans({"\x01": "<", "\x02": ">"})
_NOTHING: dict[int, int] = {}


@dataclass(frozen=True, slots=True)
class HitRow:
    post_id: int
    board: str
    thread_no: int
    no: int
    is_op: bool
    created_at: datetime
    subject: str
    subject_marked: str
    comment_marked: str


def is_sqlite(session: AnySession) -> bool:
    return session.get_bind().dialect.name == "sqlite"


# --- writing the index ---------------------------------------------------------------------


async def index_posts(session: WriteSession, post_ids: Sequence[int]) -> None:
    """(Re-)index these posts from their rows in ``posts``; ids without a post are skipped."""
    if len(post_ids) == 1:
        # The posting transaction's case: statements built once, as the row lock waits on them.
        for statement in _INDEX_ONE_SQLITE if is_sqlite(session) else _INDEX_ONE_PG:
            await session.execute(statement, {"post_id": post_ids[0]})
    elif post_ids:
        await _index_where(session, posts.c.id.in_(list(post_ids)), search_ids=list(post_ids))


async def index_new_post(session: WriteSession, post_id: int) -> None:
    """Index a post written in this transaction. It has no index row yet (a deleted post's row
    goes with it, by trigger or foreign key, so a reused id finds none either): on SQLite the
    re-index's DELETE is skipped, a statement less under the write lock of every reply."""
    await session.execute(_WRITE_ONE_SQLITE if is_sqlite(session) else _WRITE_ONE_PG, {"post_id": post_id})


async def index_range(session: WriteSession, after: int, upto: int) -> None:
    """Rebuild the index for the post ids in (after, upto]: rows of posts that are gone go."""
    await _index_where(session, posts.c.id > after, posts.c.id <= upto, search_range=(after, upto))


async def _index_where(
    session: WriteSession,
    *where: ColumnElement[bool],
    search_ids: list[int] | None = None,
    search_range: tuple[int, int] | None = None,
) -> None:
    if is_sqlite(session):
        rowid = search_fts.c.rowid
        stale = rowid.in_(search_ids) if search_ids is not None else rowid.between(*_open_left(search_range))
        for statement in _sqlite_index(stale, *where):
            await session.execute(statement)
        return
    if search_range is not None:
        await session.execute(
            delete(search_documents).where(search_documents.c.post_id.between(*_open_left(search_range)))
        )
    await session.execute(_pg_index(*where))


def _pg_index(*where: ColumnElement[bool]) -> Any:
    document = func.search_document(posts.c.subject, posts.c.comment)
    statement = pg_insert(search_documents).from_select(
        ["post_id", "board_id", "document"], select(posts.c.id, posts.c.board_id, document).where(*where)
    )
    return statement.on_conflict_do_update(
        index_elements=[search_documents.c.post_id],
        set_={"board_id": statement.excluded.board_id, "document": statement.excluded.document},
    )


def _sqlite_index(stale: ColumnElement[bool], *where: ColumnElement[bool]) -> tuple[Any, Any]:
    """FTS5 has no upsert: the stale rows go, then the posts' current text goes in."""
    source = select(posts.c.id, posts.c.subject, posts.c.comment).where(*where)
    return delete(search_fts).where(stale), search_fts.insert().from_select(["rowid", "subject", "comment"], source)


# One post by id (``post_id``): its stale index row dropped, then its row written.
_DROP_ONE_SQLITE, _WRITE_ONE_SQLITE = _sqlite_index(
    search_fts.c.rowid == bindparam("post_id"), posts.c.id == bindparam("post_id")
)
_INDEX_ONE_SQLITE = (direct(_DROP_ONE_SQLITE), direct(_WRITE_ONE_SQLITE))
_WRITE_ONE_PG = _pg_index(posts.c.id == bindparam("post_id"))  # an upsert: no stale row to drop
_INDEX_ONE_PG = (_WRITE_ONE_PG,)


def _open_left(bounds: tuple[int, int] | None) -> tuple[int, int]:
    """(after, upto] as BETWEEN's closed range (ids are integers)."""
    assert bounds is not None
    return bounds[0] + 1, bounds[1]


async def forget_posts(session: WriteSession, post_ids: Sequence[int]) -> None:
    """Remove index rows (the database already does when a post is deleted; for repairs)."""
    if not post_ids:
        return
    if is_sqlite(session):
        await session.execute(delete(search_fts).where(search_fts.c.rowid.in_(list(post_ids))))
    else:
        await session.execute(delete(search_documents).where(search_documents.c.post_id.in_(list(post_ids))))


async def clear_orphans(session: WriteSession) -> int:
    """Remove index rows whose post is gone (none, unless the triggers were lost on SQLite)."""
    if is_sqlite(session):
        orphan = ~exists().where(posts.c.id == search_fts.c.rowid)
        result = await session.execute(delete(search_fts).where(orphan))
    else:
        orphan = ~exists().where(posts.c.id == search_documents.c.post_id)
        result = await session.execute(delete(search_documents).where(orphan))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# --- reading posts and boards ----------------------------------------------------------------


async def board_id(session: AnySession, uri: str) -> int | None:
    found = (await session.execute(select(boards.c.id).where(boards.c.uri == uri))).scalar_one_or_none()
    return None if found is None else int(found)


async def post_id(session: AnySession, board_uri: str, no: int) -> int | None:
    query = (
        select(posts.c.id)
        .join(boards, boards.c.id == posts.c.board_id)
        .where(boards.c.uri == board_uri, posts.c.no == no)
    )
    found = (await session.execute(query)).scalar_one_or_none()
    return None if found is None else int(found)


async def max_post_id(session: AnySession) -> int:
    return int((await session.execute(select(func.coalesce(func.max(posts.c.id), 0)))).scalar_one())


async def unindexed_since(session: AnySession, since: datetime, *, limit: int) -> list[int]:
    """Posts written since ``since`` that the index does not hold yet (worker catch-up)."""
    if is_sqlite(session):
        indexed = exists().where(search_fts.c.rowid == posts.c.id)
    else:
        indexed = exists().where(search_documents.c.post_id == posts.c.id)
    query = select(posts.c.id).where(posts.c.created_at >= since, ~indexed).order_by(posts.c.id).limit(limit)
    return [int(i) for i in (await session.execute(query)).scalars().all()]


async def indexed_count(session: AnySession) -> int:
    table = search_fts if is_sqlite(session) else search_documents
    return int((await session.execute(select(func.count()).select_from(table))).scalar_one())


# --- searching -------------------------------------------------------------------------------


async def search(
    session: AnySession, query: SearchQuery, *, board_id: int | None, before: int | None, limit: int
) -> list[HitRow]:
    """Up to ``limit`` live posts matching ``query``, newest first."""
    if not query.searchable:
        return []
    if is_sqlite(session):
        return await _search_sqlite(session, query, board_id=board_id, before=before, limit=limit)
    return await _search_postgres(session, query, board_id=board_id, before=before, limit=limit)


def _live_filters() -> list[ColumnElement[bool]]:
    return [posts.c.held.is_(False), threads.c.held.is_(False)]


async def _search_sqlite(
    session: AnySession, query: SearchQuery, *, board_id: int | None, before: int | None, limit: int
) -> list[HitRow]:
    fts: ColumnElement[Any] = literal_column("search_fts")
    start, stop = bindparam("start", START, type_=Text), bindparam("stop", STOP, type_=Text)
    statement = (
        select(
            search_fts.c.rowid,
            boards.c.uri,
            threads.c.no.label("thread_no"),
            posts.c.no,
            posts.c.is_op,
            posts.c.created_at,
            posts.c.subject,
            func.highlight(fts, 0, start, stop).label("subject_marked"),
            func.snippet(fts, 1, start, stop, ELLIPSIS, SNIPPET_TOKENS).label("comment_marked"),
        )
        .select_from(search_fts)
        .join(posts, posts.c.id == search_fts.c.rowid)
        .join(threads, threads.c.id == posts.c.thread_id)
        .join(boards, boards.c.id == posts.c.board_id)
        .where(fts.op("MATCH")(bindparam("match", fts5_match(query), type_=Text)), *_live_filters())
        .order_by(search_fts.c.rowid.desc())
        .limit(limit)
    )
    if board_id is not None:
        statement = statement.where(posts.c.board_id == board_id)
    if before is not None:
        statement = statement.where(search_fts.c.rowid < before)
    return [_hit(row) for row in (await session.execute(statement)).all()]


def tsquery(query: SearchQuery) -> ColumnElement[Any]:
    """The query as a tsquery, built by PostgreSQL from bound parameters: every term through
    ``phraseto_tsquery`` (the words in order, whatever punctuation the visitor typed), a
    prefix through ``to_tsquery`` of a term that is letters and digits only."""
    parts: list[ColumnElement[Any]] = []
    for term in query.terms:
        part = _term_tsquery(term)
        parts.append(func.tsquery_not(part) if term.exclude else part)
    return reduce(lambda left, right: left.op("&&")(right), parts)


def _term_tsquery(term: Term) -> ColumnElement[Any]:
    value = bindparam(None, term.text, type_=Text)
    if term.prefix:  # query.py let only letters and digits through: nothing for to_tsquery to parse
        return func.to_tsquery(_SIMPLE, value.concat(":*"))
    return func.phraseto_tsquery(_SIMPLE, value)


def recent_matches(
    query: SearchQuery, *, board_id: int | None, before: int | None, limit: int, window: int = RECENT_WINDOW
) -> Select[Any]:
    """PostgreSQL, step one: live matches among the board's (or site's) newest ``window``
    documents, walked backwards along an index and stopping at ``limit`` matches. A word
    in more than 1 post in ``window / limit`` fills the page here, however many old posts
    contain it too; collecting every match from the GIN index would cost that many rows."""
    recent = select(search_documents.c.post_id, search_documents.c.document)
    if board_id is not None:
        recent = recent.where(search_documents.c.board_id == board_id)
    if before is not None:
        recent = recent.where(search_documents.c.post_id < before)
    walked = recent.order_by(search_documents.c.post_id.desc()).limit(window).subquery("recent")
    return (
        select(walked.c.post_id)
        .join(posts, posts.c.id == walked.c.post_id)
        .join(threads, threads.c.id == posts.c.thread_id)
        .where(walked.c.document.op("@@")(tsquery(query)), *_live_filters())
        .order_by(walked.c.post_id.desc())
        .limit(limit)
    )


def all_matches(query: SearchQuery, *, board_id: int | None, before: int | None, limit: int) -> Select[Any]:
    """PostgreSQL, step two, for a query too rare to fill a page from the recent window:
    every live match, from the GIN index, then the newest. MATERIALIZED, and no ORDER BY or
    LIMIT inside: the planner would otherwise trade the GIN index for a walk backwards along
    a primary key, which its estimate of a rare word's frequency makes look cheap but which
    reads the whole table when the word is rarer still (or absent)."""
    matched = (
        select(search_documents.c.post_id)
        .join(posts, posts.c.id == search_documents.c.post_id)
        .join(threads, threads.c.id == posts.c.thread_id)
        .where(search_documents.c.document.op("@@")(tsquery(query)), *_live_filters())
    )
    if board_id is not None:
        matched = matched.where(search_documents.c.board_id == board_id)
    if before is not None:
        matched = matched.where(search_documents.c.post_id < before)
    found = matched.cte("matched").prefix_with("MATERIALIZED")
    return select(found.c.post_id).order_by(found.c.post_id.desc()).limit(limit)


async def _search_postgres(
    session: AnySession, query: SearchQuery, *, board_id: int | None, before: int | None, limit: int
) -> list[HitRow]:
    # No parallel workers: with no statistics for a rare or absent word the planner guesses
    # 0.5 % of the index matches and starts workers for step two, which cost tens of ms to
    # start on a busy machine (p99 600 ms at 1M posts) for a query that then finds a few rows
    # in a fraction of a millisecond. For this transaction only.
    await session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
    ids = list((await session.execute(recent_matches(query, board_id=board_id, before=before, limit=limit))).scalars())
    if len(ids) < limit:
        ids = list((await session.execute(all_matches(query, board_id=board_id, before=before, limit=limit))).scalars())
    if not ids:
        return []
    # Headlines for the page's rows only: ts_headline parses the text again, the costly part.
    headline_query = tsquery(query)
    statement: Select[Any] = (
        select(
            posts.c.id,
            boards.c.uri,
            threads.c.no.label("thread_no"),
            posts.c.no,
            posts.c.is_op,
            posts.c.created_at,
            posts.c.subject,
            func.ts_headline(_SIMPLE, func.search_text(posts.c.subject), headline_query, PG_WHOLE_OPTIONS).label(
                "subject_marked"
            ),
            case(
                (
                    func.char_length(posts.c.comment) <= PG_SHORT_TEXT,
                    func.ts_headline(_SIMPLE, func.search_text(posts.c.comment), headline_query, PG_WHOLE_OPTIONS),
                ),
                else_=func.ts_headline(_SIMPLE, func.search_text(posts.c.comment), headline_query, PG_SNIPPET_OPTIONS),
            ).label("comment_marked"),
        )
        .join(threads, threads.c.id == posts.c.thread_id)
        .join(boards, boards.c.id == posts.c.board_id)
        .where(posts.c.id.in_(ids))
        .order_by(posts.c.id.desc())
    )
    return [_hit(row, angles=True) for row in (await session.execute(statement)).all()]


def _hit(row: Any, *, angles: bool = False) -> HitRow:
    # PostgreSQL's headlines come from search_text(): its \x01 and \x02 were '<' and '>'.
    restore = _ANGLES if angles else _NOTHING
    return HitRow(
        post_id=int(row[0]),
        board=str(row[1]),
        thread_no=int(row[2]),
        no=int(row[3]),
        is_op=bool(row[4]),
        created_at=row[5],
        subject=str(row[6] or ""),
        subject_marked=str(row[7] or "").translate(restore),
        comment_marked=str(row[8] or "").translate(restore),
    )
