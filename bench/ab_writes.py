"""A/B of the SQLite write load between two versions of the code, interleaved.

    git worktree add /tmp/before <commit>
    python bench/ab_writes.py --baseline-src /tmp/before/src [--rounds 10] [--duration 5]

On a shared machine two runs of ``make bench`` an hour apart differ by more than most changes
are worth. Here both servers run side by side (``imageboard serve --workers 2``, each on its
own copy of the write site: /b/ with 100 threads of 20 replies) and take the reply load of
``bench/post.lua`` in turn — A, B, then B, A, and so on — so both see the same machine. The
baseline server imports the package from ``--baseline-src``; the subject from this checkout.
Prints each round's replies/s and the median of the per-round ratios B/A. Anti-spam is off.
Not part of ``make bench``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

import dataset
from common import BENCH, AppConfig, Services, WrkOptions, log, ratios, run_dir_for, run_wrk, start_app, summarize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline-src", type=Path, required=True, help="the src/ folder of the baseline's checkout")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per load")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--one-thread", action="store_true", help="every reply to one thread, not spread over 100")
    args = parser.parse_args()
    baseline_src = args.baseline_src.resolve()
    if not (baseline_src / "imageboard" / "__init__.py").is_file():
        parser.error(f"--baseline-src {baseline_src} holds no imageboard package")
    run_dir = run_dir_for()
    with Services() as services:
        site = dataset.write_site(run_dir, "sqlite")
        copy = dataset.copy_site(site, run_dir, "writes-subject")
        comments = str(dataset.comments_file(run_dir))
        # The baseline's package first on the path: it shadows the one this venv installs.
        paths = os.pathsep.join(p for p in (str(baseline_src), os.environ.get("PYTHONPATH", "")) if p)
        baseline = start_app(
            services,
            "baseline",
            AppConfig(site.data_dir, site.url, workers=args.workers, extra_env={"PYTHONPATH": paths}),
            run_dir,
        )
        subject = start_app(services, "subject", AppConfig(copy.data_dir, copy.url, workers=args.workers), run_dir)
        numbers = [site.thread_no] if args.one_thread else [no for _id, no in site.threads]

        def replies_per_second(base: str, seconds: float) -> float:
            options = WrkOptions(duration=seconds, connections=args.connections)
            script_args = [site.board, ",".join(map(str, numbers)), comments]
            return run_wrk(base, options, script=BENCH / "post.lua", script_args=script_args).rps

        replies_per_second(baseline.base, 2)  # warm both up
        replies_per_second(subject.base, 2)
        rates: dict[str, list[float]] = {"A": [], "B": []}
        for round_no in range(args.rounds):
            order = ("A", "B") if round_no % 2 == 0 else ("B", "A")
            for label in order:
                server = baseline if label == "A" else subject
                rates[label].append(replies_per_second(server.base, args.duration))
                time.sleep(0.5)
            log(f"round {round_no + 1}/{args.rounds}: A {rates['A'][-1]:,.0f}, B {rates['B'][-1]:,.0f} replies/s")
        per_round = ratios(rates["B"], rates["A"])
        print(f"A (baseline, {baseline_src}): {summarize(rates['A']).fmt(0)} replies/s")
        print(f"B (this checkout):  {summarize(rates['B']).fmt(0)} replies/s")
        print(f"B/A per round: {', '.join(f'{r:.2f}' for r in sorted(per_round))}")
        print(f"B/A median: {summarize(per_round).median:.3f}")
    shutil.rmtree(run_dir / "data", ignore_errors=True)


if __name__ == "__main__":
    main()
