"""``make soak``: the load-integrity scenario for a long time (ten minutes by default).

Starts a site (SQLite, or PostgreSQL with ``--database postgres``: a fresh database on the
server at 127.0.0.1:5432), runs concurrent posters and readers against it, samples the
server's memory every ten seconds, then audits every answer against what was stored (see
``tests/reliability/load.py``). Prints the figures (and writes them as JSON with ``--json``);
exits 1 when a post was lost or doubled, a 5xx was answered, or memory kept growing.

    python -m tests.reliability.soak --minutes 10 [--database postgres] [--json figures.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.reliability.load import make_threads, run_load, verify
from tests.reliability.services import Rows, fresh_postgres_database, memory_kib, start_site, stop_site

BOARD = "soak"
BOARD_OPTIONS = [
    "--no-require-file", "--bump-limit", "100000", "--image-limit", "100000", "--pages", "100",
    "--threads-per-page", "100",
]  # fmt: skip
# Resident memory may grow this much between the first minute and the end (caches fill).
GROWTH_LIMIT_MB = 200


@contextlib.contextmanager
def database(kind: str) -> Iterator[tuple[dict[str, str], str | None]]:
    if kind == "sqlite":
        yield {}, None
        return
    with fresh_postgres_database() as (url, dsn):
        yield {"IMAGEBOARD_DATABASE_URL": url, "IMAGEBOARD_DATABASE_POOL_SIZE": "20"}, dsn


def soak(
    minutes: float, kind: str, posters: int, readers: int, extra_env: dict[str, str] | None = None
) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="imageboard-soak-")) / "site"
    with database(kind) as (env, dsn):
        site = start_site(data_dir, {"IMAGEBOARD_ANTISPAM": "off", **env, **(extra_env or {})})
        samples: list[tuple[float, int]] = []
        done = threading.Event()

        def sample() -> None:
            started = time.monotonic()
            while not done.wait(10.0):
                with contextlib.suppress(OSError, KeyError):
                    samples.append((time.monotonic() - started, memory_kib(site.pid)[0]))

        try:
            made = site.cli("create-board", BOARD, "Soak", *BOARD_OPTIONS)
            if made.returncode != 0:
                raise RuntimeError(made.stderr)
            threads = make_threads(site.url, BOARD, 8, "50a500")
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            print(
                f"soak: {posters} posters and {readers} readers for {minutes:g} min on {kind} at {site.url}", flush=True
            )
            result = asyncio.run(
                run_load(site.url, BOARD, posters=posters, readers=readers, seconds=minutes * 60, threads=threads)
            )
            done.set()
            print("soak: load finished; auditing what was stored", flush=True)
            audit_started = time.monotonic()
            report = verify(site.url, BOARD, result, Rows(data_dir, postgres_dsn=dsn))
            alive = site.alive()
        finally:
            done.set()
            stop_site(site)
    durations = [(a.ended - a.started) * 1000 for a in result.attempts if a.status is not None]
    first_minute = [kib for at, kib in samples if at <= 60] or [kib for _, kib in samples[:1]]
    growth_mb = (samples[-1][1] - first_minute[-1]) / 1024 if samples else 0.0
    return {
        "database": kind,
        "minutes": minutes,
        "posters": posters,
        "readers": readers,
        "requests": result.requests,
        "requests_5xx": result.server_errors,
        **report.summary(),
        "posts_per_second": round(report.accepted / result.seconds, 1),
        "post_latency_p50_ms": round(statistics.median(durations)) if durations else None,
        "post_latency_p99_ms": round(sorted(durations)[int(0.99 * (len(durations) - 1))]) if durations else None,
        "rss_first_minute_mb": round(first_minute[-1] / 1024) if samples else None,
        "rss_end_mb": round(samples[-1][1] / 1024) if samples else None,
        "rss_growth_after_first_minute_mb": round(growth_mb, 1),
        "audit_seconds": round(time.monotonic() - audit_started, 1),
        "server_alive_at_end": alive,
        "problem_examples": report.problems[:10],
        "rss_mb_every_10s": [round(kib / 1024) for _, kib in samples],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--posters", type=int, default=16)
    parser.add_argument("--readers", type=int, default=4)
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="Extra environment for the server."
    )
    args = parser.parse_args(argv)
    extra = dict(item.split("=", 1) for item in args.env)
    figures = soak(args.minutes, args.database, args.posters, args.readers, extra)
    for key, value in figures.items():
        if key != "rss_mb_every_10s":
            print(f"  {key}: {value}")
    print("  rss_mb_every_minute:", figures["rss_mb_every_10s"][5::6])
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    failed = (
        figures["problems"] > 0
        or figures["requests_5xx"] > 0
        or figures["unanswered"] > 0
        or not figures["server_alive_at_end"]
        or figures["rss_growth_after_first_minute_mb"] > GROWTH_LIMIT_MB
    )
    print("soak: FAILED" if failed else "soak: passed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
