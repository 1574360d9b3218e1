"""Bulk writes of the boards context: threads, posts and quotes in batches of thousands of rows,
for demo content and benchmark data.

The rows go through the database driver underneath the session (the SQLite
``executemany``, asyncpg's binary COPY) inside the session's transaction: the ORM's
per-row bookkeeping would cost more than the database's work. The columns are read from the
database itself; columns the caller does not set get the model's default, their server
default, or NULL — so a column added elsewhere does not break a load (a new NOT NULL column
without any default does, loudly).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Boolean, delete, func, select, text, update

from imageboard.boards.models import Board, Post, PostQuote, Thread
from imageboard.core.db import WriteSession
from imageboard.core.types import UTCDateTime

POST_COLUMNS = (
    "id", "board_id", "thread_id", "no", "is_op", "created_at", "name", "tripcode", "capcode", "subject",
    "comment", "comment_html", "sage", "poster_id", "country_code", "country_name", "ip", "password_digest",
    "edited_at", "held",
)  # fmt: skip
THREAD_COLUMNS = (
    "id", "board_id", "no", "subject", "created_at", "bumped_at", "updated_at", "reply_count", "file_count",
    "sticky", "locked", "cyclic", "archived", "archived_at", "held",
)  # fmt: skip
QUOTE_COLUMNS = ("source_post_id", "target_board_id", "target_no")
# What a thread's row says about its replies: set once they are all written.
THREAD_COUNTERS = ("reply_count", "bumped_at", "updated_at", "archived", "archived_at")
TABLES = ("threads", "posts", "post_quotes")

_MODELS: dict[str, Any] = {"posts": Post.__table__, "threads": Thread.__table__, "post_quotes": PostQuote.__table__}
_UNSET = object()


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    nullable: bool
    server_default: bool


@dataclass(frozen=True, slots=True)
class BoardRow:
    id: int
    uri: str
    bump_limit: int
    capacity: int  # live threads: threads per page × pages
    keeps_archive: bool
    default_name: str
    forced_anonymous: bool
    poster_ids: bool
    text_threads: bool  # new threads may be text only (the board does not insist on a file)


def _model_default(table: str, column: str) -> Any:
    model = _MODELS.get(table)
    if model is None or column not in model.c:
        return _UNSET
    default = model.c[column].default
    if default is not None and getattr(default, "is_scalar", False):
        return default.arg
    return _UNSET


@dataclass(slots=True)
class RowShape:
    """Which columns a table's rows are written with, and the default of each column the
    caller does not set itself."""

    table: str
    columns: list[str]
    defaults: dict[str, Any] = field(default_factory=dict)
    tail: tuple[Any, ...] = ()  # the defaults, in the order of their columns (after the given ones)

    def sqlite_conversions(self) -> list[tuple[int, Callable[[Any], Any]]]:
        """(position, conversion) of the columns whose values SQLite stores differently:
        timestamps as SQLAlchemy writes them, booleans as integers."""
        model = _MODELS[self.table]
        found: list[tuple[int, Callable[[Any], Any]]] = []
        for i, name in enumerate(self.columns):
            kind = model.c[name].type if name in model.c else None
            if isinstance(kind, UTCDateTime):
                found.append((i, _sqlite_time))
            elif isinstance(kind, Boolean):
                found.append((i, _sqlite_bool))
        return found

    @classmethod
    def of(cls, table: str, db_columns: Sequence[Column], given: Sequence[str]) -> RowShape:
        names = [c.name for c in db_columns]
        missing = [g for g in given if g not in names]
        if missing:
            raise RuntimeError(f"{table} has no column(s) {missing}: the schema changed; update boards/bulk.py")
        columns = list(given)
        defaults: dict[str, Any] = {}
        for column in db_columns:
            if column.name in given:
                continue
            default = _model_default(table, column.name)
            if default is not _UNSET:
                columns.append(column.name)
                defaults[column.name] = default
            elif not (column.nullable or column.server_default):
                raise RuntimeError(f"{table}.{column.name} is NOT NULL without a default: teach boards/bulk.py")
        return cls(table, columns, defaults, tuple(defaults[c] for c in columns[len(given) :]))

    def row(self, values: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(values[c] if c in values else self.defaults[c] for c in self.columns)

    def given_row(self, values: tuple[Any, ...]) -> tuple[Any, ...]:
        """A row from the values of the given columns, in their order (the fast path)."""
        if len(values) + len(self.tail) != len(self.columns):
            raise ValueError(f"{len(values)} values for the {len(self.columns) - len(self.tail)} given columns")
        return values + self.tail


def _sqlite_time(value: datetime | None) -> str | None:
    # SQLAlchemy's storage of UTCDateTime on SQLite: naive UTC text, always with microseconds
    # (isoformat's first 26 characters; several times faster than strftime).
    return None if value is None else value.astimezone(UTC).isoformat(" ", "microseconds")[:26]


def _sqlite_bool(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return _sqlite_time(value)
    if isinstance(value, bool):
        return int(value)
    return value


def _sqlite_rows(shape: RowShape, rows: Sequence[tuple[Any, ...]]) -> list[list[Any]]:
    conversions = shape.sqlite_conversions()
    converted = []
    for row in rows:
        values = list(row)
        for i, convert in conversions:
            values[i] = convert(values[i])
        converted.append(values)
    return converted


def _is_sqlite(session: WriteSession) -> bool:
    return session.get_bind().dialect.name == "sqlite"


async def _driver(session: WriteSession) -> Any:
    """The driver's own connection under the session, inside the session's transaction
    (a statement through SQLAlchemy has started it: asyncpg's adapter begins lazily)."""
    connection = await session.connection()
    await connection.execute(text("SELECT 1"))
    raw = await connection.get_raw_connection()
    return raw.driver_connection


async def columns(session: WriteSession, table: str) -> list[Column]:
    if table not in _MODELS:
        raise ValueError(f"not a bulk-loaded table: {table}")
    if _is_sqlite(session):
        # (cid, name, type, notnull, default, pk): an INTEGER PRIMARY KEY numbers itself.
        rows = (await session.execute(text(f"PRAGMA table_info({table})"))).all()
        return [Column(r[1], not r[3], r[4] is not None or (r[5] == 1 and r[2].upper() == "INTEGER")) for r in rows]
    query = text(
        "SELECT column_name, is_nullable, column_default FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = :table ORDER BY ordinal_position"
    )
    return [Column(r[0], r[1] == "YES", r[2] is not None) for r in (await session.execute(query, {"table": table}))]


async def shapes(session: WriteSession) -> tuple[RowShape, RowShape, RowShape]:
    """(threads, posts, quotes)."""
    return (
        RowShape.of("threads", await columns(session, "threads"), THREAD_COLUMNS),
        RowShape.of("posts", await columns(session, "posts"), POST_COLUMNS),
        RowShape.of("post_quotes", await columns(session, "post_quotes"), QUOTE_COLUMNS),
    )


async def lock_tables(session: WriteSession) -> None:
    """Keep other writers out of the tables until the load commits, so the ids taken from
    ``max(id)`` stay free (SQLite's IMMEDIATE transaction already does)."""
    if not _is_sqlite(session):
        await session.execute(text("LOCK TABLE threads, posts, post_quotes IN SHARE ROW EXCLUSIVE MODE"))


async def next_ids(session: WriteSession) -> tuple[int, int]:
    """The first free (thread id, post id)."""
    thread = (await session.execute(select(func.coalesce(func.max(Thread.id), 0)))).scalar_one()
    post = (await session.execute(select(func.coalesce(func.max(Post.id), 0)))).scalar_one()
    return int(thread) + 1, int(post) + 1


async def board_rows(session: WriteSession) -> list[BoardRow]:
    rows = (await session.execute(select(Board).order_by(Board.id))).scalars().all()
    return [
        BoardRow(
            id=b.id,
            uri=b.uri,
            bump_limit=b.bump_limit,
            capacity=b.threads_per_page * b.pages,
            keeps_archive=b.archive_enabled and b.archive_days > 0,
            default_name=b.default_name,
            forced_anonymous=b.forced_anonymous,
            poster_ids=b.poster_ids,
            text_threads=b.text_only or not b.require_file,
        )
        for b in rows
    ]


async def reserve_numbers(session: WriteSession, board_id: int, count: int, now: datetime) -> int:
    """Take ``count`` post numbers of the board, as the posting path takes one (the row lock
    serialises posters); returns the first."""
    result = await session.execute(
        update(Board)
        .where(Board.id == board_id)
        .values(last_post_no=Board.last_post_no + count, updated_at=now)
        .returning(Board.last_post_no)
    )
    return int(result.scalar_one()) - count + 1


async def newest_post_time(session: WriteSession, board_id: int) -> datetime | None:
    """When the board's last post was made: loaded posts come after it, since a later
    number must be a later post."""
    query = select(Post.created_at).where(Post.board_id == board_id).order_by(Post.no.desc()).limit(1)
    return (await session.execute(query)).scalar_one_or_none()


async def insert(session: WriteSession, shape: RowShape, rows: Sequence[tuple[Any, ...]]) -> None:
    if not rows:
        return
    driver = await _driver(session)
    if _is_sqlite(session):
        marks = ", ".join("?" * len(shape.columns))
        sql = f"INSERT INTO {shape.table} ({', '.join(shape.columns)}) VALUES ({marks})"  # noqa: S608  (names from the schema)
        await driver.executemany(sql, _sqlite_rows(shape, rows))
    else:
        await driver.copy_records_to_table(shape.table, records=rows, columns=shape.columns)


async def update_threads(session: WriteSession, rows: Sequence[tuple[Any, ...]]) -> None:
    """Rows of (id, *THREAD_COUNTERS)."""
    if not rows:
        return
    driver = await _driver(session)
    assignments = ", ".join(f"{name} = ?" for name in THREAD_COUNTERS)
    if _is_sqlite(session):
        sql = f"UPDATE threads SET {assignments} WHERE id = ?"  # noqa: S608  (names from this module)
        await driver.executemany(sql, [tuple(_sqlite_value(v) for v in (*row[1:], row[0])) for row in rows])
    else:
        numbered = ", ".join(f"{name} = ${i + 2}" for i, name in enumerate(THREAD_COUNTERS))
        await driver.executemany(f"UPDATE threads SET {numbered} WHERE id = $1", rows)  # noqa: S608


async def live_threads(session: WriteSession, board_id: int) -> list[tuple[int, datetime, datetime]]:
    """(id, bumped_at, updated_at) of the board's live, non-sticky threads, newest bump first
    — the order the board's pages show them in."""
    query = (
        select(Thread.id, Thread.bumped_at, Thread.updated_at)
        .where(Thread.board_id == board_id, Thread.archived.is_(False), Thread.sticky.is_(False))
        .order_by(Thread.bumped_at.desc(), Thread.no.desc())
    )
    return [(int(r[0]), r[1], r[2]) for r in (await session.execute(query)).all()]


async def archive_threads(session: WriteSession, archived: Sequence[tuple[int, datetime]]) -> None:
    """Rows of (thread id, archived_at)."""
    if not archived:
        return
    driver = await _driver(session)
    if _is_sqlite(session):
        rows = [(_sqlite_value(at), _sqlite_value(at), thread_id) for thread_id, at in archived]
        await driver.executemany("UPDATE threads SET archived = 1, archived_at = ?, updated_at = ? WHERE id = ?", rows)
    else:
        sql = "UPDATE threads SET archived = true, archived_at = $2, updated_at = $2 WHERE id = $1"
        await driver.executemany(sql, list(archived))


async def delete_threads(session: WriteSession, thread_ids: Sequence[int]) -> None:
    """Threads with their posts (the foreign keys cascade)."""
    for start in range(0, len(thread_ids), 500):
        await session.execute(delete(Thread).where(Thread.id.in_(thread_ids[start : start + 500])))


async def secondary_indexes(session: WriteSession) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the indexes on the loaded tables, constraints' excepted."""
    if _is_sqlite(session):
        query = text(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            "AND tbl_name IN ('threads', 'posts', 'post_quotes')"
        )
    else:
        query = text(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename IN ('threads', 'posts', 'post_quotes') "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        )
    return [(r[0], r[1]) for r in (await session.execute(query)).all()]


async def drop_index(session: WriteSession, name: str) -> None:
    await session.execute(text(f'DROP INDEX "{name}"'))


async def create_index(session: WriteSession, statement: str) -> None:
    """Recreate an index from the statement ``secondary_indexes`` read back."""
    await session.execute(text(statement))


async def fix_sequences(session: WriteSession) -> None:
    """After explicit ids, PostgreSQL's next generated id follows them."""
    if not _is_sqlite(session):
        for table in ("posts", "threads"):
            await session.execute(
                text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")  # noqa: S608
            )


async def analyze(session: WriteSession) -> None:
    """Bring PostgreSQL's planner statistics up to date after a large load (what autovacuum
    would do a while later). SQLite keeps none unless asked, and the site does not ask."""
    if not _is_sqlite(session):
        for table in TABLES:
            await session.execute(text(f"ANALYZE {table}"))
