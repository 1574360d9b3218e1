"""Bulk loader of the benchmarks: realistic threads and posts for the growth benchmark's 1M
posts and the background content of the others, written in batches by the site's own bulk
loader (``imageboard.boards.loader``: the driver's executemany / COPY inside one
transaction, numbers reserved from ``boards.last_post_no``, thread counters and bump times
kept, every ``comment_html`` rendered by ``render_comment``, quotes recorded for
backlinks). ``imageboard demo --posts N`` uses the same loader with its own content.

What stays here is the benchmarks' content (threads of given sizes, one after the other,
live or archived) and a plain driver connection for their ad hoc queries.

    python bench/bulk.py --url sqlite+aiosqlite:///var/bench/x.sqlite3 --board g --posts 1000000

creates the database (migrations) and the board when needed, loads, and reports the time.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from imageboard.boards import bulk as repository
from imageboard.boards.bulk import POST_COLUMNS as POST_GIVEN
from imageboard.boards.bulk import Column, RowShape
from imageboard.boards.loader import bulk_load
from imageboard.boards.markup import QuoteRef, render_comment
from imageboard.core.db import Database

__all__ = ["POST_GIVEN", "Column", "RowShape", "connect", "filler", "load_threads", "make_comment", "render", "spread"]

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


# --- targets --------------------------------------------------------------------------------------


def _sqlite_time(value: Any) -> Any:
    # SQLAlchemy's SQLite DATETIME storage: naive UTC, always with microseconds.
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, bool):
        return int(value)
    return value


class Target:
    """A plain driver connection to the site's database, for the benchmarks' ad hoc queries;
    ``load_threads`` writes through the site's loader on a connection of its own."""

    dialect: str

    def __init__(self, url: str) -> None:
        self.url = url

    def scalar(self, sql: str, *params: Any) -> Any:
        raise NotImplementedError

    def execute(self, sql: str, *params: Any) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """Bring the planner's statistics up to date (what autovacuum would do)."""

    def close(self) -> None:
        raise NotImplementedError


class SqliteTarget(Target):
    dialect = "sqlite"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.db = sqlite3.connect(url.split(":///", 1)[1], isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")

    def scalar(self, sql: str, *params: Any) -> Any:
        row = self.db.execute(_qmarks(sql), tuple(_sqlite_time(p) for p in params)).fetchone()
        return row[0] if row else None

    def execute(self, sql: str, *params: Any) -> None:
        self.db.execute(_qmarks(sql), tuple(_sqlite_time(p) for p in params))

    def close(self) -> None:
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

    def __init__(self, url: str) -> None:
        import asyncpg  # type: ignore[import-untyped]

        super().__init__(url)
        self.loop = asyncio.new_event_loop()
        dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
        self.db = self.loop.run_until_complete(asyncpg.connect(dsn))

    def _run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def scalar(self, sql: str, *params: Any) -> Any:
        return self._run(self.db.fetchval(sql, *params))

    def execute(self, sql: str, *params: Any) -> None:
        self._run(self.db.execute(sql, *params))

    def finish(self) -> None:
        # VACUUM too (the loader's transaction could only ANALYZE): index-only scans need the
        # visibility map.
        for table in ("posts", "threads", "post_quotes"):
            self.execute(f"VACUUM ANALYZE {table}")

    def close(self) -> None:
        self._run(self.db.close())
        self.loop.close()


def connect(url: str) -> Target:
    """A driver connection for a SQLAlchemy URL of the site (sqlite+aiosqlite / postgresql+asyncpg)."""
    if url.startswith("sqlite"):
        return SqliteTarget(url)
    return PostgresTarget(url)


# --- loading ------------------------------------------------------------------------------------


@dataclass(slots=True)
class Loaded:
    threads: list[tuple[int, int]]  # (thread id, thread number)
    posts: int
    seconds: float


SECRET = b"bench-secret-not-for-production"  # common.AppConfig's: poster IDs and passwords match the server's


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
    total = len(replies) + sum(replies)
    drop = drop_indexes if drop_indexes is not None else total >= 100_000
    made = asyncio.run(_load(target.url, board_uri, replies, archived, end, gap_seconds, seed, drop))
    target.finish()
    return Loaded(made, total, time.perf_counter() - started)


async def _load(
    url: str, board_uri: str, replies: Sequence[int], archived: bool, end: datetime | None, gap_seconds: float,
    seed: int, drop_indexes: bool,
) -> list[tuple[int, int]]:  # fmt: skip
    rng = random.Random(seed)
    now = datetime.now(UTC)
    total = len(replies) + sum(replies)
    moment = (end or now) - timedelta(seconds=gap_seconds * total)
    db = Database(url)
    try:
        async with bulk_load(db, secret=SECRET, now=now, drop_indexes=drop_indexes) as load:
            boards = {b.uri: b for b in await repository.board_rows(load.session)}
            if board_uri not in boards:
                raise RuntimeError(f"there is no board /{board_uri}/")
            loader = await load.board(boards[board_uri], total, password="benchpass")  # noqa: S106  (benchmark posts)
            made = []
            for count in replies:
                subject = rng.choice(SUBJECTS)
                ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
                text, _ = make_comment(rng, ())
                thread = loader.open_thread(
                    at=moment, subject=subject, comment=text, name="", ip=ip,
                    archived_at=now - timedelta(hours=1) if archived else None,
                )  # fmt: skip
                numbers = [thread.no]
                for _ in range(count):
                    moment += timedelta(seconds=rng.uniform(0.2, 1.8) * gap_seconds)
                    text, quoted = make_comment(rng, numbers)
                    ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
                    sage = rng.random() < 0.03
                    numbers.append(loader.reply(thread, at=moment, comment=text, quoted=quoted, ip=ip, sage=sage))
                moment += timedelta(seconds=rng.uniform(0.2, 1.8) * gap_seconds)
                made.append((thread.id, thread.no))
                if loader.buffered >= 20_000:
                    await loader.flush()
        return made
    finally:
        await db.dispose()


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
