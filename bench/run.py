"""Run the benchmark suite: ``make bench`` (or ``.venv/bin/python bench/run.py``).

Each benchmark starts its own processes (application servers, NGINX, wrk, raw-driver
baselines) on free loopback ports with fresh data under ``var/bench/<timestamp>/``, measures
its baseline in the same rounds, and reports medians with their range and ratios to the
baseline. The report is printed, and written to ``var/bench/<timestamp>/results.md`` (and
``results.json``); ``--update-results`` also replaces the measured part of
``bench/RESULTS.md``.

Benchmarks: reads, writes, memory, growth, servers (uvicorn vs granian, stdlib json vs
orjson). Uploads and SSE fan-out are not here yet (bench/uploads.py and bench/sse.py will
come with the media and events work).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

from common import ROOT, Run, Section, Services, drop_run_databases, log, machine, md_table, run_dir_for

BENCHMARKS = ("reads", "writes", "growth", "memory", "servers", "uploads", "sse")
RESULTS = ROOT / "bench" / "RESULTS.md"
BEGIN = "<!-- bench/run.py: measured results begin -->"
END = "<!-- bench/run.py: measured results end -->"


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(BENCHMARKS), help=f"comma-separated subset of {BENCHMARKS}")
    parser.add_argument("--rounds", type=int, default=3, help="trials of every load, interleaved (default 3)")
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per main load (default 4)")
    parser.add_argument("--short-duration", type=float, default=2.0, help="seconds per secondary load (default 2)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections for reads (default 32)")
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="server worker processes (default 2 = nproc here)")
    parser.add_argument("--read-engine", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--growth-posts", type=int, default=100_000, help="the large size of the growth benchmark")
    parser.add_argument(
        "--full", action="store_true", help="every read combination, reads on both engines, growth to 1M posts"
    )
    parser.add_argument("--keep", action="store_true", help="keep the data directories and databases")
    parser.add_argument("--update-results", action="store_true", help="rewrite the measured part of bench/RESULTS.md")
    parser.add_argument("--out", type=Path, default=None, help="where run directories go (default var/bench)")
    args = parser.parse_args(argv)
    unknown = set(args.only.split(",")) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    if args.full and args.growth_posts == 100_000:
        args.growth_posts = 1_000_000
    return args


def _benchmark(name: str) -> Callable[[Run], list[Section]]:
    module = __import__(name)
    function: Callable[[Run], list[Section]] = module.benchmark
    return function


def report(info: dict[str, object], command: str, sections: list[Section], seconds: float) -> str:
    machine_rows = [[key.replace("_", " "), str(value)] for key, value in info.items()]
    parts = [
        f"## Measured {info['date']}",
        "",
        f"Command: `{command}` — whole run {seconds / 60:.1f} min.",
        "",
        md_table(["machine", ""], machine_rows),
        "",
        "Figures are medians of the rounds with the min–max range in brackets; ratios are taken round by "
        "round against the baseline measured in the same round. The machine is shared with other "
        "engineers' test runs: absolute figures drift between runs (compare the load average above), "
        "ratios much less.",
        "",
    ]
    for section in sections:
        parts += [section.markdown(), ""]
    return "\n".join(parts).rstrip() + "\n"


def update_results(text: str) -> None:
    current = RESULTS.read_text() if RESULTS.exists() else f"# Benchmark results\n\n{BEGIN}\n{END}\n"
    if BEGIN not in current or END not in current:
        current = current.rstrip() + f"\n\n{BEGIN}\n{END}\n"
    head, _, rest = current.partition(BEGIN)
    _, _, tail = rest.partition(END)
    RESULTS.write_text(f"{head}{BEGIN}\n\n{text}\n{END}{tail}")


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    shown = " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    command = f".venv/bin/python bench/run.py {shown}".rstrip()
    if shutil.which("wrk") is None or shutil.which("nginx") is None:
        sys.exit("bench: wrk and nginx are needed (Debian: apt-get install -y wrk nginx)")
    info = machine()
    run_dir = run_dir_for(args.out)
    log(f"run directory {run_dir}")
    started = time.monotonic()
    sections: list[Section] = []
    with Services() as services:
        run = Run(
            run_dir=run_dir,
            services=services,
            rounds=args.rounds,
            duration=args.duration,
            short_duration=args.short_duration,
            connections=args.connections,
            wrk_threads=args.wrk_threads,
            workers=args.workers,
            full=args.full,
            read_engine=args.read_engine,
            growth_posts=args.growth_posts,
            keep=args.keep,
            command=command,
        )
        try:
            for name in BENCHMARKS:
                if name not in args.only.split(","):
                    continue
                log(f"--- {name}")
                begun = time.monotonic()
                for section in _benchmark(name)(run):
                    sections.append(section)
                    (run_dir / f"{name}.md").open("a").write(section.markdown() + "\n")
                services.close()  # each benchmark stops what it started
                log(f"--- {name} done in {time.monotonic() - begun:.0f} s")
                if args.full and name == "reads" and args.read_engine == "sqlite":
                    log("--- reads on PostgreSQL (--full)")
                    run.read_engine = "postgres"
                    sections += _benchmark("reads")(run)
                    services.close()
                    run.read_engine = "sqlite"
        finally:
            services.close()
            if not args.keep:
                drop_run_databases(os.getpid())
                shutil.rmtree(run_dir / "data", ignore_errors=True)
    text = report(info, command, sections, time.monotonic() - started)
    (run_dir / "results.md").write_text(text)
    (run_dir / "results.json").write_text(
        json.dumps({"machine": info, "command": command, "sections": [asdict(s) for s in sections]}, indent=2)
    )
    latest = run_dir.parent / "latest"
    latest.unlink(missing_ok=True)
    latest.symlink_to(run_dir.name)
    print(text)
    if args.update_results:
        update_results(text)
        log(f"updated {RESULTS.relative_to(ROOT)}")
    log(f"results in {run_dir / 'results.md'}")


if __name__ == "__main__":
    main()
