"""Concurrent posters for a fixed time against the running server, on SQLite and on
PostgreSQL, then an audit of what was stored (see ``load.verify``): every 2xx answer is one
stored post with its number and its file, nothing is stored that was refused, no number is
used twice, numbers rise in write order, and no request got a 5xx.

``IMAGEBOARD_RELIABILITY_LOAD_SECONDS`` sets the duration (20 s by default); ``make soak``
runs the same scenario for ten minutes (tests/reliability/soak.py).
"""

from __future__ import annotations

import asyncio
import os
import statistics
from collections.abc import Iterator

import pytest

from tests.reliability.conftest import Figures
from tests.reliability.load import LoadResult, make_threads, run_load, verify
from tests.reliability.services import Rows, Site, fresh_postgres_database, memory_kib, start_site, stop_site

SECONDS = float(os.environ.get("IMAGEBOARD_RELIABILITY_LOAD_SECONDS", "20"))
POSTERS = 16
READERS = 2
BOARD = "load"
BOARD_OPTIONS = [
    "--no-require-file", "--bump-limit", "100000", "--image-limit", "100000", "--pages", "100",
    "--threads-per-page", "100",
]  # fmt: skip


@pytest.fixture(params=["sqlite", "postgres"])
def loaded_site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Site, Rows]]:
    data_dir = tmp_path_factory.mktemp(f"load-{request.param}") / "site"
    env = {"IMAGEBOARD_ANTISPAM": "off", "IMAGEBOARD_DATABASE_POOL_SIZE": "20"}
    if request.param == "sqlite":
        site = start_site(data_dir, env)
        try:
            yield site, Rows(data_dir)
        finally:
            stop_site(site)
        return
    with fresh_postgres_database() as (url, dsn):
        site = start_site(data_dir, {**env, "IMAGEBOARD_DATABASE_URL": url})
        try:
            yield site, Rows(data_dir, postgres_dsn=dsn)
        finally:
            stop_site(site)


def latency_ms(result: LoadResult, quantile: float) -> float:
    durations = sorted((a.ended - a.started) * 1000 for a in result.attempts if a.status is not None)
    if not durations:
        return 0.0
    return durations[min(len(durations) - 1, int(quantile * len(durations)))]


def test_every_accepted_post_is_stored_exactly_once(loaded_site: tuple[Site, Rows], figures: Figures) -> None:
    site, rows = loaded_site
    database = "postgres" if rows.postgres_dsn else "sqlite"
    made = site.cli("create-board", BOARD, "Load test", *BOARD_OPTIONS)
    assert made.returncode == 0, made.stderr
    threads = make_threads(site.url, BOARD, 8, "000000")
    rss_before = memory_kib(site.pid)[0]

    result = asyncio.run(run_load(site.url, BOARD, posters=POSTERS, readers=READERS, seconds=SECONDS, threads=threads))

    report = verify(site.url, BOARD, result, rows)
    rss_after = memory_kib(site.pid)[0]
    figures.record(
        f"load_{database}",
        seconds=round(result.seconds, 1),
        posters=POSTERS,
        readers=READERS,
        requests=result.requests,
        requests_5xx=result.server_errors,
        **report.summary(),
        posts_per_second=round(report.accepted / result.seconds, 1),
        post_latency_p50_ms=round(statistics.median([(a.ended - a.started) * 1000 for a in result.attempts])),
        post_latency_p99_ms=round(latency_ms(result, 0.99)),
        rss_before_mb=round(rss_before / 1024),
        rss_after_mb=round(rss_after / 1024),
    )
    failures = [a.error for a in result.attempts if a.status is None or a.status >= 400][:10]
    failures += [r.error for r in result.reads if r.status is None or r.status >= 400][:10]
    assert result.server_errors == 0, failures
    assert report.problems == [], "\n".join(report.problems[:30])
    assert report.refused == 0 and report.unanswered == 0, failures
    # The load must have been real: posts with files, new threads and replies, from every poster.
    assert report.accepted >= 5 * POSTERS, f"only {report.accepted} posts in {SECONDS:.0f} s"
    assert report.files_checked >= POSTERS
    assert {a.poster for a in result.attempts if a.no} == set(range(POSTERS))
    assert any(a.thread_no == 0 and a.no for a in result.attempts)
    assert site.alive()
