"""Profile the server under load with py-spy: where the time of a hot path goes.

    python bench/profile.py [--case thread-cached|thread-uncached|thread-json|post] [--duration 8]

Builds the read site, starts ``imageboard serve --workers 1`` (one process, so one process is
sampled), puts wrk on the case's URL and samples the server with ``py-spy record`` for the
duration. Prints the functions with the most samples on the stack (inclusive) and at the top
of it (self), and leaves a speedscope file (open it at https://www.speedscope.app) and the
collapsed stacks in the run directory. Not part of ``make bench``.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import dataset
from common import BENCH, BIN, Run, Services, http_get, log, run_dir_for, run_wrk, start_app


def summarize_collapsed(path: Path, top: int = 25) -> str:
    """Top frames of py-spy's collapsed ("raw") output, inclusive and self."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        total += count
        frames = [f for f in stack.split(";") if f and not f.startswith("process ") and not f.startswith("thread ")]
        for frame in set(frames):
            inclusive[frame] += count
        if frames:
            own[frames[-1]] += count
    lines = [f"{total} samples", "", "inclusive (on the stack):"]
    lines += [f"  {n / total * 100:5.1f} %  {frame}" for frame, n in inclusive.most_common(top)]
    lines += ["", "self (top of the stack):"]
    lines += [f"  {n / total * 100:5.1f} %  {frame}" for frame, n in own.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--case", choices=("thread-cached", "thread-uncached", "thread-json", "post"), default="thread-uncached"
    )
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--engine", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--idle", action="store_true", help="also sample waiting threads (py-spy --idle)")
    parser.add_argument(
        "--gil", action="store_true",
        help="sample only the thread holding the GIL (py-spy --gil): the honest view with aiosqlite's threads",
    )  # fmt: skip
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(BIN / "py-spy")
    run_dir = run_dir_for()
    with Services() as services:
        run = Run(run_dir=run_dir, services=services, workers=1, connections=args.connections, duration=args.duration)
        site = dataset.read_site(run_dir, args.engine)
        cache = "off" if args.case in ("thread-uncached", "thread-json") else "memory"
        server = start_app(services, f"profile-{args.case}", site.config(page_cache=cache, workers=1), run_dir)
        thread = f"/b/thread/{site.thread_no}"
        for _ in range(3):
            http_get(server.base + thread)
        out = run_dir / f"profile-{args.case}"
        spy = subprocess.Popen(
            [py_spy, "record", "--pid", str(server.pid), "--duration", f"{int(args.duration)}", "--rate",
             str(args.rate), "--format", "raw", "--output", f"{out}.txt", "--nonblocking",
             *(["--idle"] if args.idle else []), *(["--gil"] if args.gil else [])],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        comments = str(dataset.comments_file(run_dir))
        loads = []

        def load() -> None:
            if args.case == "post":
                loads.append(run_wrk(server.base, run.wrk(connections=8), script=BENCH / "post.lua",
                                     script_args=["b", str(site.thread_no), comments]))  # fmt: skip
            else:
                url = server.base + thread + (".json" if args.case == "thread-json" else "")
                loads.append(run_wrk(url, run.wrk()))

        worker = threading.Thread(target=load)
        worker.start()
        spy.wait()
        worker.join()
        services.close()
    log(f"{args.case}: {loads[0].rps:,.0f} req/s under the profiler (p50 {loads[0].p50_ms:.1f} ms)")
    print(summarize_collapsed(Path(f"{out}.txt")))
    log(f"collapsed stacks in {out}.txt")
    if "--keep" not in sys.argv:
        if site.pg_database:
            from common import drop_pg_database

            drop_pg_database(site.pg_database)
        shutil.rmtree(run_dir / "data", ignore_errors=True)


if __name__ == "__main__":
    main()
