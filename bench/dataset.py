"""The sites the benchmarks run against, built fresh for each run.

A *read site* looks like a lived-in board: ``imageboard init`` (migrations and the default
boards /b/, /tech/, /meta/), then background threads written by the bulk loader — 149 live
threads and an archive on /b/, a few threads on the other boards — and finally one thread
with 300 replies written through the service layer (``BoardsService.create_post``, the
normal posting path: quotes resolved, HTML rendered, backlinks recorded). It is the newest
bump, so it is on /b/'s first page.

A *write site* is /b/ with 100 live threads of 20 replies; the write loads reply to them.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bulk
from common import IMAGEBOARD, AppConfig, Run, create_pg_database, log, sqlalchemy_pg_url, sqlite_url

from imageboard.boards import BoardsService, NewPost
from imageboard.core.db import Database


@dataclass(frozen=True, slots=True)
class Site:
    name: str
    engine: str  # sqlite | postgres
    data_dir: Path
    url: str
    pg_database: str | None
    board: str
    board_id: int
    thread_no: int  # the 300-reply thread (read site) or the one-thread write target
    thread_id: int
    threads: tuple[tuple[int, int], ...]  # (id, no) of the live threads replies are spread over
    posts: int
    setup_seconds: float

    def floor_env(self) -> dict[str, str]:
        """``bench/floors.py``'s reply server on this site's SQLite file."""
        return {
            "FLOOR_SQLITE": str(self.data_dir / "imageboard.sqlite3"),
            "FLOOR_BOARD": self.board,
            "FLOOR_BOARD_ID": str(self.board_id),
        }

    def config(self, *, page_cache: str = "memory", workers: int = 2) -> AppConfig:
        return AppConfig(self.data_dir, self.url, page_cache=page_cache, workers=workers)


def init_site(data_dir: Path, url: str) -> None:
    """``imageboard init``, the way ``make run`` starts: migrations and the default boards."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEBOARD_")}
    env |= {"IMAGEBOARD_DATA_DIR": str(data_dir), "IMAGEBOARD_DATABASE_URL": url}
    subprocess.run([str(IMAGEBOARD), "init"], env=env, check=True, capture_output=True)


def location(run_dir: Path, name: str, engine: str) -> tuple[Path, str, str | None]:
    data_dir = run_dir / "data" / name
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    if engine == "sqlite":
        return data_dir, sqlite_url(data_dir / "imageboard.sqlite3"), None
    database = f"bench_{name.replace('-', '_')}_{os.getpid()}"
    create_pg_database(database)
    return data_dir, sqlalchemy_pg_url(database), database


async def _long_thread(url: str, board: str, replies: int, seed: int) -> int:
    """A thread of ``replies`` replies through the normal posting path; its number."""
    rng = random.Random(seed)
    db = Database(url)
    try:
        service = BoardsService(db, secret=b"bench-secret-not-for-production")
        opened = await service.create_post(
            NewPost(
                board=board,
                thread_no=0,
                subject="The 300-reply thread",
                comment="Benchmark thread: three hundred replies follow.",
                password="benchpass",  # noqa: S106  (deletion password of a benchmark post)
                ip="192.0.2.1",
            )
        )
        numbers = [opened.post_no]
        for _ in range(replies):
            text, _quoted = bulk.make_comment(rng, numbers)
            created = await service.create_post(
                NewPost(
                    board=board,
                    thread_no=opened.thread_no,
                    comment=text,
                    options="sage" if rng.random() < 0.03 else "",
                    password="benchpass",  # noqa: S106
                    ip=f"198.51.100.{rng.randrange(1, 255)}",
                )
            )
            numbers.append(created.post_no)
        return opened.thread_no
    finally:
        await db.dispose()


def read_site(run_dir: Path, engine: str = "sqlite", name: str = "reads") -> Site:
    started = time.perf_counter()
    data_dir, url, database = location(run_dir, f"{name}-{engine}", engine)
    init_site(data_dir, url)
    rng = random.Random(7)
    target = bulk.connect(url)
    posts = 0
    try:
        last_week = datetime.now(UTC) - timedelta(days=1)
        posts += bulk.load_threads(target, "b", bulk.filler(3_000, rng), archived=True, end=last_week, seed=1).posts
        posts += bulk.load_threads(target, "tech", bulk.spread(1_000, 30, rng, high=120), seed=2).posts
        posts += bulk.load_threads(target, "meta", bulk.spread(200, 10, rng, high=60), seed=3).posts
        posts += bulk.load_threads(target, "b", bulk.spread(7_000, 149, rng, high=250), seed=4).posts
    finally:
        target.close()
    thread_no = asyncio.run(_long_thread(url, "b", 300, seed=5))
    target = bulk.connect(url)
    try:
        board_id = int(target.scalar("SELECT id FROM boards WHERE uri = $1", "b"))
        thread_id = int(target.scalar("SELECT id FROM threads WHERE board_id = $1 AND no = $2", board_id, thread_no))
        if target.dialect == "postgresql":
            target.finish()
    finally:
        target.close()
    seconds = time.perf_counter() - started
    log(f"read site ({engine}): {posts + 301:,} posts, 300-reply thread /b/{thread_no}, ready in {seconds:.1f} s")
    return Site(name, engine, data_dir, url, database, "b", board_id, thread_no, thread_id, (), posts + 301, seconds)


def write_site(run_dir: Path, engine: str, name: str = "writes") -> Site:
    started = time.perf_counter()
    data_dir, url, database = location(run_dir, f"{name}-{engine}", engine)
    init_site(data_dir, url)
    target = bulk.connect(url)
    try:
        loaded = bulk.load_threads(target, "b", [20] * 100, seed=11)
        board_id = int(target.scalar("SELECT id FROM boards WHERE uri = $1", "b"))
    finally:
        target.close()
    seconds = time.perf_counter() - started
    first_id, first_no = loaded.threads[0]
    return Site(
        name, engine, data_dir, url, database, "b", board_id, first_no, first_id, tuple(loaded.threads),
        loaded.posts, seconds,
    )  # fmt: skip


def copy_site(site: Site, run_dir: Path, name: str) -> Site:
    """An independent copy (the SQLite file, or a PostgreSQL database made from it as template)."""
    data_dir = run_dir / "data" / f"{name}-{site.engine}"
    if data_dir.exists():
        shutil.rmtree(data_dir)
    if site.engine == "sqlite":
        shutil.copytree(site.data_dir, data_dir)
        url = sqlite_url(data_dir / "imageboard.sqlite3")
        database = None
    else:
        assert site.pg_database is not None
        data_dir.mkdir(parents=True)
        database = f"bench_{name.replace('-', '_')}_{os.getpid()}"
        create_pg_database(database, template=site.pg_database)
        url = sqlalchemy_pg_url(database)
    return Site(
        name, site.engine, data_dir, url, database, site.board, site.board_id, site.thread_no, site.thread_id,
        site.threads, site.posts, 0.0,
    )  # fmt: skip


def comments_file(run_dir: Path) -> Path:
    """The reply texts of the write loads (the app's and the raw driver's): one per line."""
    path = run_dir / "comments.txt"
    rng = random.Random(3)
    lines = [" ".join(rng.sample(bulk.SENTENCES, k=rng.randint(1, 3))) for _ in range(200)]
    path.write_text("\n".join(lines) + "\n")
    return path


def shared_read_site(run: Run) -> Site:
    """The read site of this run, built once and shared by the benchmarks that only read it."""
    key = f"reads-{run.read_engine}"
    if key not in run.sites:
        run.sites[key] = read_site(run.run_dir, run.read_engine)
    site: Site = run.sites[key]
    return site
