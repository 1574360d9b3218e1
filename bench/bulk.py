"""Bulk loader: realistic threads and posts written with SQL in batches, straight through the
database driver (sqlite3, or asyncpg's COPY), for the growth benchmark's 1M posts and the
background content of the others.

It keeps the schema's invariants the way the posting path does: post numbers continue from
``boards.last_post_no`` and the board is advanced past them, each thread's ``reply_count``
and ``bumped_at`` match its replies (no bump from sage or past the bump limit), every
``comment_html`` is rendered by ``imageboard.boards.markup.render_comment`` with live
``>>quotes`` to earlier posts of the thread, and quotes are recorded in ``post_quotes`` so
backlinks show. The columns are read from the database itself; columns this loader does not
know get the model's default, their server default, or NULL — so a new column elsewhere does
not break it (a new NOT NULL column without any default does, loudly).

    python bench/bulk.py --url sqlite+aiosqlite:///var/bench/x.sqlite3 --board g --posts 1000000

creates the database (migrations) and the board when needed, loads, and reports the time.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from imageboard.boards.markup import QuoteRef, render_comment
from imageboard.boards.models import Post, PostQuote, Thread

# --- content ---------------------------------------------------------------------------------

SUBJECTS = (
    "General discussion",
    "Show your workspace",
    "Books you could not put down",
    "Help me pick a laptop",
    "Home cooking thread",
    "Retro hardware",
    "Night owls",
    "Small victories",
    "Language learners",
    "Garden thread",
    "What are you building",
    "Cycling and commuting",
    "",
    "",
    "",
)
SENTENCES = (
    "I tried this last winter and it held up better than I expected.",
    "Does anyone have a source for that claim?",
    "Fair point, but it depends on what you are optimising for.",
    "Mine broke after two weeks, so I would not recommend it.",
    "This is the best thread on the board right now.",
    "Nobody reads the manual and then everyone is surprised.",
    "Picked one up second hand, no regrets.",
    "The newer version fixed most of those issues.",
    "It is cheaper in the long run if you maintain it.",
    "Same experience here.",
    "Post more of these.",
    "Honestly I think you are overthinking it.",
    "That would explain a lot.",
    "Took me a year to figure that out.",
    "Ask again in the next thread, this one is about to hit the limit.",
    "The trick is to start small and keep at it every day.",
    "Could you post the settings you used?",
    "I have been doing this for ten years and still learn something new.",
    "Wrong, and here is why.",
    "Thanks, that actually helped.",
    "Bump.",
    "Ça dépend vraiment du contexte.",
    "Das habe ich auch schon erlebt.",
    "これはいいスレだ。",
)
GREEN = (
    ">be me",
    ">finally get around to it",
    ">it works on the first try",
    ">suspicious",
    ">implying anyone read the thread",
    ">tfw the shop closes early",
    ">mfw",
)
LINKS = ("https://example.org/wiki/Main_Page", "https://example.com/article?id=42&ref=board")


def make_comment(rng: random.Random, earlier: Sequence[int]) -> tuple[str, list[int]]:
    """A reply's raw text and the earlier post numbers it quotes."""
    lines: list[str] = []
    quoted: list[int] = []
    if earlier and rng.random() < 0.3:
        target = rng.choice(earlier[-40:])
        quoted.append(target)
        lines.append(f">>{target}")
    if rng.random() < 0.15:
        lines.extend(rng.sample(GREEN, k=rng.randint(1, 3)))
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 5))):
        lines.append(" ".join(rng.sample(SENTENCES, k=rng.randint(1, 3))))
    if rng.random() < 0.04:
        lines.append("[spoiler]it was the cable all along[/spoiler]")
    if rng.random() < 0.03:
        lines.append(rng.choice(LINKS))
    return "\n".join(lines), quoted


def render(text: str, board: str, thread_no: int, quoted: Sequence[int]) -> str:
    return render_comment(
        text,
        board=board,
        thread_no=thread_no,
        targets={QuoteRef(board, no): thread_no for no in quoted},
        known_boards={board},
    )


class Renderer:
    """Renders comments line by line, keeping the HTML of lines without a quote.

    The generated comments keep every markup construct on one line, and for such text the
    comment's HTML is its lines' HTML joined by ``<br>``; the first comments are checked
    against a whole render, so a markup change that breaks this stops the load loudly.
    """

    CHECKS = 200
    MAX_LINES = 50_000

    def __init__(self, board: str) -> None:
        self.board = board
        self._lines: dict[str, str] = {}
        self._checked = 0

    def _line(self, line: str, thread_no: int, quoted: Sequence[int]) -> str:
        if line.startswith(">>"):
            return render(line, self.board, thread_no, [q for q in quoted if line == f">>{q}"])
        html = self._lines.get(line)
        if html is None:
            if len(self._lines) >= self.MAX_LINES:
                self._lines.clear()
            html = self._lines[line] = render(line, self.board, thread_no, ())
        return html

    def __call__(self, text: str, thread_no: int, quoted: Sequence[int]) -> str:
        html = "<br>".join(self._line(line, thread_no, quoted) for line in text.split("\n"))
        if self._checked < self.CHECKS:
            self._checked += 1
            whole = render(text, self.board, thread_no, quoted)
            if html != whole:
                raise RuntimeError(f"line-by-line rendering differs from render_comment for {text!r}")
        return html


# --- rows ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    nullable: bool
    server_default: bool


_MODELS: dict[str, Any] = {"posts": Post.__table__, "threads": Thread.__table__, "post_quotes": PostQuote.__table__}
_UNSET = object()


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
    """Which columns a table's rows are written with, and the default of each column this
    loader does not set itself."""

    table: str
    columns: list[str]
    defaults: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, table: str, db_columns: Sequence[Column], given: Sequence[str]) -> RowShape:
        names = [c.name for c in db_columns]
        missing = [g for g in given if g not in names]
        if missing:
            raise RuntimeError(f"{table} has no column(s) {missing}: the schema changed; update bench/bulk.py")
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
                raise RuntimeError(f"{table}.{column.name} is NOT NULL without a default: teach bench/bulk.py")
        return cls(table, columns, defaults)

    def row(self, values: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(values[c] if c in values else self.defaults[c] for c in self.columns)


POST_GIVEN = (
    "id", "board_id", "thread_id", "no", "is_op", "created_at", "name", "tripcode", "capcode", "subject",
    "comment", "comment_html", "sage", "poster_id", "country_code", "country_name", "ip", "password_digest",
    "edited_at", "held",
)  # fmt: skip
THREAD_GIVEN = (
    "id", "board_id", "no", "subject", "created_at", "bumped_at", "updated_at", "reply_count", "file_count",
    "sticky", "locked", "cyclic", "archived", "archived_at", "held",
)  # fmt: skip
QUOTE_GIVEN = ("source_post_id", "target_board_id", "target_no")


# --- targets --------------------------------------------------------------------------------------


def _sqlite_time(value: Any) -> Any:
    # SQLAlchemy's SQLite DATETIME storage: naive UTC, always with microseconds.
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, bool):
        return int(value)
    return value


class Target:
    """The database the rows go to, through its driver alone."""

    dialect: str

    def columns(self, table: str) -> list[Column]:
        raise NotImplementedError

    def scalar(self, sql: str, *params: Any) -> Any:
        raise NotImplementedError

    def execute(self, sql: str, *params: Any) -> None:
        raise NotImplementedError

    def insert(self, shape: RowShape, rows: Sequence[tuple[Any, ...]]) -> None:
        raise NotImplementedError

    def secondary_indexes(self, tables: Sequence[str]) -> list[tuple[str, str]]:
        raise NotImplementedError

    def fix_sequences(self) -> None:
        """After explicit ids: the next generated id follows them."""

    def finish(self) -> None:
        """Bring the planner's statistics up to date (what autovacuum would do)."""

    def close(self) -> None:
        raise NotImplementedError


class SqliteTarget(Target):
    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=OFF")  # a bulk load: redone from scratch on a crash
        self.db.execute("PRAGMA cache_size=-131072")
        self.db.execute("PRAGMA foreign_keys=OFF")

    def columns(self, table: str) -> list[Column]:
        return sqlite_columns(self.db, table)

    def scalar(self, sql: str, *params: Any) -> Any:
        row = self.db.execute(_qmarks(sql), tuple(_sqlite_time(p) for p in params)).fetchone()
        return row[0] if row else None

    def execute(self, sql: str, *params: Any) -> None:
        self.db.execute(_qmarks(sql), tuple(_sqlite_time(p) for p in params))

    def insert(self, shape: RowShape, rows: Sequence[tuple[Any, ...]]) -> None:
        sql = f"INSERT INTO {shape.table} ({', '.join(shape.columns)}) VALUES ({', '.join('?' * len(shape.columns))})"  # noqa: S608
        self.db.execute("BEGIN")
        self.db.executemany(sql, ([_sqlite_time(v) for v in row] for row in rows))
        self.db.execute("COMMIT")

    def secondary_indexes(self, tables: Sequence[str]) -> list[tuple[str, str]]:
        marks = ", ".join("?" * len(tables))
        query = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        query += f" AND tbl_name IN ({marks})"
        return [(r[0], r[1]) for r in self.db.execute(query, tuple(tables))]

    def close(self) -> None:
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.close()


def sqlite_columns(db: sqlite3.Connection, table: str) -> list[Column]:
    # (cid, name, type, notnull, default, pk): an INTEGER PRIMARY KEY numbers itself.
    rows = db.execute(f"PRAGMA table_info({table})").fetchall()
    return [Column(r[1], not r[3], r[4] is not None or (r[5] == 1 and r[2].upper() == "INTEGER")) for r in rows]


def _qmarks(sql: str) -> str:
    for n in range(9, 0, -1):
        sql = sql.replace(f"${n}", "?")
    return sql


class PostgresTarget(Target):
    dialect = "postgresql"

    def __init__(self, dsn: str) -> None:
        import asyncpg  # type: ignore[import-untyped]

        self.loop = asyncio.new_event_loop()
        self.db = self.loop.run_until_complete(asyncpg.connect(dsn))

    def _run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def columns(self, table: str) -> list[Column]:
        rows = self._run(
            self.db.fetch(
                "SELECT column_name, is_nullable, column_default FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
                table,
            )
        )
        return [Column(r[0], r[1] == "YES", r[2] is not None) for r in rows]

    def scalar(self, sql: str, *params: Any) -> Any:
        return self._run(self.db.fetchval(sql, *params))

    def execute(self, sql: str, *params: Any) -> None:
        self._run(self.db.execute(sql, *params))

    def insert(self, shape: RowShape, rows: Sequence[tuple[Any, ...]]) -> None:
        self._run(self.db.copy_records_to_table(shape.table, records=rows, columns=shape.columns))

    def secondary_indexes(self, tables: Sequence[str]) -> list[tuple[str, str]]:
        rows = self._run(
            self.db.fetch(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                "AND tablename = ANY($1::text[]) AND indexname NOT IN (SELECT conname FROM pg_constraint)",
                list(tables),
            )
        )
        return [(r[0], r[1]) for r in rows]

    def fix_sequences(self) -> None:
        for table in ("posts", "threads"):
            self.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"  # noqa: S608
            )

    def finish(self) -> None:
        for table in ("posts", "threads", "post_quotes"):
            self.execute(f"VACUUM ANALYZE {table}")

    def close(self) -> None:
        self._run(self.db.close())
        self.loop.close()


def connect(url: str) -> Target:
    """A driver connection for a SQLAlchemy URL of the site (sqlite+aiosqlite / postgresql+asyncpg)."""
    if url.startswith("sqlite"):
        return SqliteTarget(url.split(":///", 1)[1])
    return PostgresTarget(url.replace("postgresql+asyncpg://", "postgresql://", 1))


# --- loading ------------------------------------------------------------------------------------


@dataclass(slots=True)
class Loaded:
    threads: list[tuple[int, int]]  # (thread id, thread number)
    posts: int
    seconds: float


BATCH = 20_000


def load_threads(
    target: Target,
    board_uri: str,
    replies: Sequence[int],
    *,
    archived: bool = False,
    end: datetime | None = None,
    gap_seconds: float = 30.0,
    seed: int = 1,
    drop_indexes: bool | None = None,
) -> Loaded:
    """Write one thread per entry of ``replies`` (its reply count) on ``board_uri``, posted
    one after the other and ending ``end`` (default: now), ``gap_seconds`` apart on average."""
    started = time.perf_counter()
    rng = random.Random(seed)
    now = datetime.now(UTC)
    end = end or now
    board_id = target.scalar("SELECT id FROM boards WHERE uri = $1", board_uri)
    if board_id is None:
        raise RuntimeError(f"there is no board /{board_uri}/")
    bump_limit = int(target.scalar("SELECT bump_limit FROM boards WHERE id = $1", board_id))
    next_no = int(target.scalar("SELECT last_post_no FROM boards WHERE id = $1", board_id)) + 1
    next_post_id = int(target.scalar("SELECT coalesce(max(id), 0) FROM posts") or 0) + 1
    next_thread_id = int(target.scalar("SELECT coalesce(max(id), 0) FROM threads") or 0) + 1
    posts_shape = RowShape.of("posts", target.columns("posts"), POST_GIVEN)
    threads_shape = RowShape.of("threads", target.columns("threads"), THREAD_GIVEN)
    quotes_shape = RowShape.of("post_quotes", target.columns("post_quotes"), QUOTE_GIVEN)
    total = len(replies) + sum(replies)
    moment = end - timedelta(seconds=gap_seconds * total)
    renderer = Renderer(board_uri)
    digest = hashlib.sha256(b"bench").hexdigest()

    dropped: list[tuple[str, str]] = []
    if drop_indexes if drop_indexes is not None else total >= 100_000:
        dropped = target.secondary_indexes(["posts", "threads", "post_quotes"])
        for name, _sql in dropped:
            target.execute(f'DROP INDEX "{name}"')

    made: list[tuple[int, int]] = []
    post_rows: list[tuple[Any, ...]] = []
    thread_rows: list[tuple[Any, ...]] = []
    quote_rows: list[tuple[Any, ...]] = []

    def flush() -> None:
        # Threads before their posts, posts before the quotes that point from them.
        if thread_rows:
            target.insert(threads_shape, thread_rows)
        if post_rows:
            target.insert(posts_shape, post_rows)
        if quote_rows:
            target.insert(quotes_shape, quote_rows)
        thread_rows.clear()
        post_rows.clear()
        quote_rows.clear()

    for count in replies:
        thread_id, thread_no = next_thread_id, next_no
        next_thread_id += 1
        subject = rng.choice(SUBJECTS)
        created = moment
        bumped = created
        numbers: list[int] = []
        for index in range(count + 1):
            no = next_no
            next_no += 1
            is_op = index == 0
            text, quoted = make_comment(rng, numbers)
            sage = not is_op and rng.random() < 0.03
            if not is_op and not sage and index <= bump_limit:
                bumped = moment
            post_rows.append(
                posts_shape.row(
                    {
                        "id": next_post_id,
                        "board_id": board_id,
                        "thread_id": thread_id,
                        "no": no,
                        "is_op": is_op,
                        "created_at": moment,
                        "name": "Anonymous",
                        "tripcode": None,
                        "capcode": None,
                        "subject": subject if is_op else "",
                        "comment": text,
                        "comment_html": renderer(text, thread_no, quoted),
                        "sage": sage,
                        "poster_id": None,
                        "country_code": None,
                        "country_name": None,
                        "ip": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                        "password_digest": digest,
                        "edited_at": None,
                        "held": False,
                    }
                )
            )
            quote_rows.extend(quotes_shape.row({"source_post_id": next_post_id, "target_board_id": board_id,
                                                "target_no": q}) for q in quoted)  # fmt: skip
            next_post_id += 1
            numbers.append(no)
            moment += timedelta(seconds=rng.uniform(0.2, 1.8) * gap_seconds)
        thread_rows.append(
            threads_shape.row(
                {
                    "id": thread_id,
                    "board_id": board_id,
                    "no": thread_no,
                    "subject": subject,
                    "created_at": created,
                    "bumped_at": bumped,
                    "updated_at": max(bumped, moment - timedelta(seconds=gap_seconds)),
                    "reply_count": count,
                    "file_count": 0,
                    "sticky": False,
                    "locked": False,
                    "cyclic": False,
                    "archived": archived,
                    "archived_at": now - timedelta(hours=1) if archived else None,
                    "held": False,
                }
            )
        )
        made.append((thread_id, thread_no))
        if len(post_rows) >= BATCH:
            flush()
    flush()
    for _name, sql in dropped:
        target.execute(sql)
    target.execute(
        "UPDATE boards SET last_post_no = $1, updated_at = $2 WHERE id = $3", next_no - 1, datetime.now(UTC), board_id
    )
    target.fix_sequences()
    target.finish()
    return Loaded(made, total, time.perf_counter() - started)


def spread(total_posts: int, threads: int, rng: random.Random, *, low: int = 0, high: int = 300) -> list[int]:
    """Reply counts for ``threads`` threads adding up to about ``total_posts`` posts (OPs
    included), each between ``low`` and ``high``."""
    if threads <= 0:
        return []
    mean = max(0, total_posts // threads - 1)
    counts = [max(low, min(high, int(rng.triangular(low, min(high, 2 * mean + 1), mean)))) for _ in range(threads)]
    drift = total_posts - threads - sum(counts)
    i = 0
    while drift and i < 10 * threads:
        j = i % threads
        step = 1 if drift > 0 else -1
        if low <= counts[j] + step <= high:
            counts[j] += step
            drift -= step
        i += 1
    return counts


def filler(total_posts: int, rng: random.Random, *, per_thread: int = 120) -> list[int]:
    """Reply counts of (archived) threads adding up to ``total_posts`` posts: most threads
    short, a few long, none past 1,000 replies."""
    counts: list[int] = []
    remaining = total_posts
    while remaining > 0:
        replies = min(remaining - 1, max(0, int(rng.expovariate(1 / per_thread))), 1000)
        counts.append(replies)
        remaining -= replies + 1
    return counts


# --- command line ---------------------------------------------------------------------------------


def _ensure(url: str, board: str) -> None:
    from imageboard.boards import BoardSpec, BoardsService
    from imageboard.core.db import Database
    from imageboard.core.errors import Conflict
    from imageboard.core.migrate import upgrade

    upgrade(url)

    async def create() -> None:
        db = Database(url)
        try:
            await BoardsService(db, secret=b"bench").create_board(
                BoardSpec(uri=board, title=f"/{board}/ bulk", require_file=False)
            )
        except Conflict:
            pass
        finally:
            await db.dispose()

    asyncio.run(create())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--url", required=True, help="the site's database URL (sqlite+aiosqlite:///… or postgresql+asyncpg://…)"
    )
    parser.add_argument("--board", default="g")
    parser.add_argument("--posts", type=int, default=100_000, help="posts to add (OPs included)")
    parser.add_argument("--live", type=int, default=0, help="of which live threads (the rest are archived)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    _ensure(args.url, args.board)
    rng = random.Random(args.seed)
    target = connect(args.url)
    started = time.perf_counter()
    written = 0
    try:
        if args.live:
            written += load_threads(target, args.board, spread(args.posts // 10, args.live, rng), seed=args.seed).posts
        end = datetime.now(UTC) - timedelta(days=1)
        written += load_threads(
            target, args.board, filler(args.posts - written, rng), archived=True, end=end, seed=args.seed + 1
        ).posts
    finally:
        target.close()
    seconds = time.perf_counter() - started
    print(f"loaded {written:,} posts in {seconds:.1f} s ({written / seconds:,.0f} posts/s)")


if __name__ == "__main__":
    main()
