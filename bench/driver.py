"""Raw-driver baselines, run as a process of their own: what the database driver alone does
with the same rows the site reads or writes, at the same process count and concurrency.

    python bench/driver.py select --url URL --thread-id 7 --procs 2 --concurrency 8 --duration 5
    python bench/driver.py insert --url URL --board-id 1 --thread-ids 3,4,5 --comments FILE ...

``select`` fetches every column of a thread's posts in order — the query behind the thread
page (``repository.posts_of_thread``) — and reads all rows. ``insert`` makes one text reply
per transaction the way the posting path leaves the database: the board's post number
advanced, the post row inserted (comment HTML rendered beforehand, not timed), the thread's
reply count and bump time and the board's ``updated_at`` updated, the post's search document
and the outbox rows of its two events inserted (payloads made beforehand), then a commit
(``--rows core``: without the search document and the outbox rows). SQLite gets
the site's pragmas (WAL, synchronous=NORMAL, busy_timeout, BEGIN IMMEDIATE for writes);
PostgreSQL the default commit durability. Prints one JSON line: ops, ops/s, p50 and p99 (ms).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import multiprocessing
import os
import random
import sqlite3
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from bulk import POST_GIVEN, Column, RowShape, render, sqlite_columns

INSERT_GIVEN = tuple(c for c in POST_GIVEN if c != "id")
# The site stores a digest of the reply's password; the baseline is given it made.
PASSWORD_DIGEST = hashlib.sha256(b"benchpass").hexdigest()
# The relay's lease on the outbox rows it publishes itself (events.OutboxRelay's default).
OUTBOX_LEASE = timedelta(seconds=30)


def sqlite_connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class Comments:
    """The reply texts the write load sends, with their HTML rendered once up front."""

    def __init__(self, path: str, board: str) -> None:
        texts = [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
        self.pairs = [(t, render(t, board, 0, ())) for t in texts]
        self.counter = 0

    def next(self, rng: random.Random) -> tuple[str, str]:
        self.counter += 1
        text, html = rng.choice(self.pairs)
        return f"{text} #{self.counter}", f"{html} #{self.counter}"


def _post_values(board_id: int, thread_id: int, no: int, now: datetime, text: str, html: str) -> dict[str, Any]:
    return {
        "board_id": board_id,
        "thread_id": thread_id,
        "no": no,
        "is_op": False,
        "created_at": now,
        "name": "Anonymous",
        "tripcode": None,
        "capcode": None,
        "subject": "",
        "comment": text,
        "comment_html": html,
        "sage": False,
        "poster_id": None,
        "country_code": None,
        "country_name": None,
        "ip": "127.0.0.1",
        "password_digest": PASSWORD_DIGEST,
        "edited_at": None,
        "held": False,
    }


# What a baseline reply writes. "same": every row the posting path writes for a text reply —
# the post, the board's number and time, the thread's count and bump, the post's search
# document and the outbox rows of its two events (post.created, thread.updated). "core": the
# post, board and thread rows only (the baseline of the runs before 2026-12-06 16:00).
ROW_SETS = ("same", "core")


class OutboxRows:
    """The outbox rows of a reply's two events, of the site's size and shape. The payloads are
    made once up front (as the comment's HTML is); a reply's number, thread, time, id and
    text go into them at write time by string replacement."""

    def __init__(self) -> None:
        self.prefix = f"{os.getpid() % 10**10:010d}"
        self.counter = 0
        self.created, self.updated = _payload_templates()

    def rows(self, thread: int, no: int, created: str, text: str, html: str) -> list[tuple[str, str, str]]:
        """(event_id, subject, payload) of both events."""
        ids = [f"{self.prefix}{self.counter + n:016d}" for n in (1, 2)]
        self.counter += 2
        number, thread_no = str(no), str(thread)
        comment, comment_html = json.dumps(text)[1:-1], json.dumps(html)[1:-1]
        return [
            (event_id, subject, template.replace("%NO%", number).replace("%THREAD%", thread_no)
             .replace("%ID%", event_id).replace("%AT%", created).replace("%COMMENT%", comment)
             .replace("%HTML%", comment_html))
            for event_id, subject, template in zip(ids, ("post.created.b", "thread.updated.b"),
                                                   (self.created, self.updated), strict=True)
        ]  # fmt: skip


def _payload_templates() -> tuple[str, str]:
    post = {
        "board": "b", "thread_no": "%THREAD%", "no": "%NO%", "is_op": False, "created_at": "%AT%",
        "name": "Anonymous", "tripcode": None, "capcode": None, "subject": "", "comment": "%COMMENT%",
        "comment_html": "%HTML%", "poster_id": None, "country_code": None, "country_name": None, "sage": False,
        "files": [],
    }  # fmt: skip
    created = {
        "type": "post.created", "version": 1, "id": "%ID%", "occurred_at": "%AT%", "board": "b",
        "thread_no": "%THREAD%", "post_no": "%NO%", "is_op": False, "sage": False, "files": 0, "waiting_files": 0,
        "post": post,
    }  # fmt: skip
    updated = {
        "type": "thread.updated", "version": 1, "id": "%ID%", "occurred_at": "%AT%", "board": "b",
        "thread_no": "%THREAD%", "bumped_at": "%AT%", "reply_count": "%NO%", "file_count": 0,
    }  # fmt: skip
    return json.dumps(created), json.dumps(updated)


class SqliteReplies:
    """One text reply per transaction on a SQLite connection, the rows as the posting path
    leaves them (the raw-driver baseline, and the thinnest server of ``bench/floors.py``)."""

    def __init__(self, conn: sqlite3.Connection, board_id: int, rows: str = "same") -> None:
        self.conn = conn
        self.board_id = board_id
        self.outbox = OutboxRows() if rows == "same" else None
        self.shape = RowShape.of("posts", sqlite_columns(conn, "posts"), INSERT_GIVEN)
        marks = ", ".join("?" * len(self.shape.columns))
        self.insert = f"INSERT INTO posts ({', '.join(self.shape.columns)}) VALUES ({marks})"  # noqa: S608

    def write(self, thread_id: int, text: str, html: str) -> int:
        """The reply's number."""
        conn, now = self.conn, datetime.now(UTC)
        stamp = _stamp(now)
        conn.execute("BEGIN IMMEDIATE")
        try:
            no = conn.execute(
                "UPDATE boards SET last_post_no = last_post_no + 1 WHERE id = ? RETURNING last_post_no",
                (self.board_id,),
            ).fetchone()[0]
            values = _post_values(self.board_id, thread_id, no, now, text, html)
            post_id = conn.execute(
                self.insert, [_stamp(v) if isinstance(v, datetime) else v for v in self.shape.row(values)]
            ).lastrowid
            conn.execute(
                "UPDATE threads SET reply_count = reply_count + 1, bumped_at = ?, updated_at = ? WHERE id = ?",
                (stamp, stamp, thread_id),
            )
            conn.execute("UPDATE boards SET updated_at = ? WHERE id = ?", (stamp, self.board_id))
            if self.outbox is not None:
                conn.execute("INSERT INTO search_fts (rowid, subject, comment) VALUES (?, '', ?)", (post_id, text))
                lease = _stamp(now + OUTBOX_LEASE)
                conn.execute(
                    "INSERT INTO outbox (event_id, subject, payload, created_at, claimed_until, attempts) "
                    "VALUES (?, ?, ?, ?, ?, 1), (?, ?, ?, ?, ?, 1)",
                    [v for row in self.outbox.rows(thread_id, no, stamp, text, html) for v in (*row, stamp, lease)],
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return int(no)


class PgReplies:
    """``SqliteReplies`` on PostgreSQL (asyncpg): one text reply per transaction."""

    def __init__(self, shape: RowShape, board_id: int, rows: str) -> None:
        self.shape = shape
        self.board_id = board_id
        self.outbox = OutboxRows() if rows == "same" else None
        marks = ", ".join(f"${i + 1}" for i in range(len(shape.columns)))
        self.insert = f"INSERT INTO posts ({', '.join(shape.columns)}) VALUES ({marks}) RETURNING id"  # noqa: S608

    @classmethod
    async def prepare(cls, conn: Any, board_id: int, rows: str = "same") -> PgReplies:
        columns = await conn.fetch(
            "SELECT column_name, is_nullable, column_default FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = 'posts' ORDER BY ordinal_position"
        )
        shape = RowShape.of("posts", [Column(r[0], r[1] == "YES", r[2] is not None) for r in columns], INSERT_GIVEN)
        return cls(shape, board_id, rows)

    async def write(self, conn: Any, thread_id: int, text: str, html: str) -> int:
        """The reply's number."""
        now = datetime.now(UTC)
        async with conn.transaction():
            no = await conn.fetchval(
                "UPDATE boards SET last_post_no = last_post_no + 1 WHERE id = $1 RETURNING last_post_no",
                self.board_id,
            )
            values = _post_values(self.board_id, thread_id, no, now, text, html)
            post_id = await conn.fetchval(self.insert, *self.shape.row(values))
            await conn.execute(
                "UPDATE threads SET reply_count = reply_count + 1, bumped_at = $2, updated_at = $2 WHERE id = $1",
                thread_id,
                now,
            )
            await conn.execute("UPDATE boards SET updated_at = $2 WHERE id = $1", self.board_id, now)
            if self.outbox is not None:
                await conn.execute(
                    "INSERT INTO search_documents (post_id, board_id, document) "
                    "VALUES ($1, $2, search_document('', $3))",
                    post_id,
                    self.board_id,
                    text,
                )
                rows = self.outbox.rows(thread_id, no, now.isoformat(), text, html)
                await conn.execute(
                    "INSERT INTO outbox (event_id, subject, payload, created_at, claimed_until, attempts) "
                    "VALUES ($1, $2, $3, $7, $8, 1), ($4, $5, $6, $7, $8, 1)",
                    *rows[0],
                    *rows[1],
                    now,
                    now + OUTBOX_LEASE,
                )
        return int(no)


# --- one worker process ----------------------------------------------------------------------


def _sqlite_worker(args: argparse.Namespace, seed: int, barrier: Barrier, out: Connection) -> None:
    path = args.url.split(":///", 1)[1]
    latencies: list[float] = []
    failures: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Event()
    deadline = [0.0]

    def loop(index: int) -> None:
        try:
            conn = sqlite_connect(path)
            rng = random.Random(seed * 1000 + index)
            op = _sqlite_op(args, conn, rng)
            op()  # warm up (and check) once, outside the timing
        except BaseException as exc:
            failures.append(exc)
            raise
        finally:
            ready.release()
        mine: list[float] = []
        start.wait()
        while (now := time.perf_counter()) < deadline[0]:
            op()
            mine.append(time.perf_counter() - now)
        with lock:
            latencies.extend(mine)
        conn.close()

    ready = threading.Semaphore(0)

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(args.concurrency)]
    for thread in threads:
        thread.start()
    for _ in threads:
        ready.acquire()
    if failures:
        barrier.abort()
        raise SystemExit(f"baseline failed: {failures[0]!r}")
    barrier.wait()
    deadline[0] = time.perf_counter() + args.duration
    start.set()
    for thread in threads:
        thread.join()
    out.send(latencies)


def _sqlite_op(args: argparse.Namespace, conn: sqlite3.Connection, rng: random.Random) -> Callable[[], None]:
    if args.mode == "select":
        query = "SELECT * FROM posts WHERE thread_id = ? AND held IS 0 ORDER BY no"

        def select() -> None:
            conn.execute(query, (args.thread_id,)).fetchall()

        return select
    replies = SqliteReplies(conn, args.board_id, args.rows)
    comments = Comments(args.comments, args.board)
    threads = [int(t) for t in args.thread_ids.split(",")]

    def write() -> None:
        replies.write(rng.choice(threads), *comments.next(rng))

    return write


def _pg_worker(args: argparse.Namespace, seed: int, barrier: Barrier, out: Connection) -> None:
    import asyncpg  # type: ignore[import-untyped]

    async def run() -> list[float]:
        dsn = args.url.replace("postgresql+asyncpg://", "postgresql://", 1)
        conns = [await asyncpg.connect(dsn) for _ in range(args.concurrency)]
        replies = await PgReplies.prepare(conns[0], args.board_id, args.rows) if args.mode == "insert" else None
        comments = Comments(args.comments, args.board) if args.mode == "insert" else None
        threads = [int(t) for t in args.thread_ids.split(",")] if args.thread_ids else []
        query = "SELECT * FROM posts WHERE thread_id = $1 AND held IS false ORDER BY no"

        async def op(conn: Any, rng: random.Random) -> None:
            if replies is None or comments is None:
                await conn.fetch(query, args.thread_id)
                return
            thread_id = rng.choice(threads)
            await replies.write(conn, thread_id, *comments.next(rng))

        latencies: list[float] = []

        async def loop(conn: Any, index: int, deadline: float) -> None:
            rng = random.Random(seed * 1000 + index)
            while (now := time.perf_counter()) < deadline:
                await op(conn, rng)
                latencies.append(time.perf_counter() - now)

        for i, conn in enumerate(conns):  # warm up (and check) once, outside the timing
            await op(conn, random.Random(-i))
        await asyncio.get_running_loop().run_in_executor(None, barrier.wait)
        deadline = time.perf_counter() + args.duration
        await asyncio.gather(*(loop(conn, i, deadline) for i, conn in enumerate(conns)))
        for conn in conns:
            await conn.close()
        return latencies

    out.send(asyncio.run(run()))


def measure(args: argparse.Namespace) -> dict[str, float]:
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(args.procs)
    worker = _sqlite_worker if args.url.startswith("sqlite") else _pg_worker
    pipes = [context.Pipe(duplex=False) for _ in range(args.procs)]
    procs = [context.Process(target=worker, args=(args, seed, barrier, pipe[1])) for seed, pipe in enumerate(pipes, 1)]
    for proc in procs:
        proc.start()
    latencies: list[float] = []
    for receiver, _sender in pipes:
        latencies.extend(receiver.recv())
    for proc in procs:
        proc.join()
        if proc.exitcode != 0:
            raise SystemExit(f"a baseline process failed with exit code {proc.exitcode}")
    latencies.sort()
    return {
        "ops": len(latencies),
        "ops_per_s": len(latencies) / args.duration,
        "p50_ms": statistics.median(latencies) * 1000 if latencies else float("nan"),
        "p99_ms": latencies[int(0.99 * (len(latencies) - 1))] * 1000 if latencies else float("nan"),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=("select", "insert"))
    parser.add_argument("--url", required=True)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=1, help="connections per process")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--thread-id", type=int, default=0, help="select: the thread whose posts are read")
    parser.add_argument("--board", default="b")
    parser.add_argument("--board-id", type=int, default=0)
    parser.add_argument("--thread-ids", default="", help="insert: comma-separated thread ids, one picked per reply")
    parser.add_argument("--comments", default="", help="insert: file of reply texts, one per line")
    parser.add_argument("--rows", choices=ROW_SETS, default="same", help="insert: which rows a reply writes (ROW_SETS)")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args)))


if __name__ == "__main__":
    main()
