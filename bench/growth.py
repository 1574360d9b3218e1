"""Growth: does a page cost what it shows, or what the database holds? The 300-reply thread
page, the catalog and post creation at 10k posts and at 100k (1M with ``--full``).

Both databases hold the same live content — /b/ with 149 live threads and the 300-reply
thread (the newest bump) — and differ only by archived threads bulk-loaded behind it
(bench/bulk.py: SQL in batches through the driver, realistic rows with rendered comment
HTML and quotes). Both servers run side by side and the rounds interleave them, so the
ratio large/small is measured under the same noise. Pages are read with the page cache off
(the cost of building them); the cached thread page is there to show the version lookup.

    python bench/growth.py [--growth-posts 1000000]
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import bulk
import dataset
from common import BENCH, Load, Run, Section, Service, http_get, log, md_table, ratios, run_wrk, start_app, summarize

SMALL = 10_000
LIVE_THREADS = 149


def growth_site(run: Run, engine: str) -> dataset.Site:
    """/b/ with archived threads, 149 live threads and, newest, a 300-reply thread: 10k posts."""
    started = time.perf_counter()
    data_dir, url, database = dataset.location(run.run_dir, f"growth-small-{engine}", engine)
    dataset.init_site(data_dir, url)
    rng = random.Random(21)
    target = bulk.connect(url)
    try:
        live = bulk.spread(6_400, LIVE_THREADS, rng, high=250)
        archived = SMALL - 301 - (LIVE_THREADS + sum(live))
        end = datetime.now(UTC) - timedelta(days=1)
        posts = bulk.load_threads(target, "b", bulk.filler(archived, rng), archived=True, end=end, seed=22).posts
        loaded = bulk.load_threads(target, "b", live, seed=23)
        posts += loaded.posts
        long = bulk.load_threads(target, "b", [300], seed=24, gap_seconds=5)
        posts += long.posts
        board_id = int(target.scalar("SELECT id FROM boards WHERE uri = $1", "b"))
    finally:
        target.close()
    thread_id, thread_no = long.threads[0]
    site = dataset.Site(
        "growth-small", engine, data_dir, url, database, "b", board_id, thread_no, thread_id,
        tuple(loaded.threads), posts, time.perf_counter() - started,
    )  # fmt: skip
    run.sites[f"growth-small-{engine}"] = site
    return site


def grow(run: Run, small: dataset.Site, total: int) -> tuple[dataset.Site, float, int]:
    """A copy of ``small`` grown to ``total`` posts with archived threads; the load's seconds."""
    big = dataset.copy_site(small, run.run_dir, "growth-big")
    run.sites[f"growth-big-{small.engine}"] = big
    target = bulk.connect(big.url)
    try:
        end = datetime.now(UTC) - timedelta(days=2)
        loaded = bulk.load_threads(
            target, "b", bulk.filler(total - small.posts, random.Random(31)), archived=True, end=end, seed=32
        )
    finally:
        target.close()
    return big, loaded.seconds, loaded.posts


@dataclass(slots=True)
class Case:
    label: str
    loads: dict[str, list[Load]] = field(default_factory=lambda: {"small": [], "big": []})


def run_engine(run: Run, engine: str, comments: str) -> tuple[list[list[str]], dict[str, object], str]:
    log(f"growth ({engine}): building {SMALL:,} posts")
    small = growth_site(run, engine)
    log(f"growth ({engine}): growing a copy to {run.growth_posts:,} posts")
    big, load_seconds, loaded = grow(run, small, run.growth_posts)
    log(f"growth ({engine}): bulk-loaded {loaded:,} posts in {load_seconds:.1f} s")
    servers: dict[str, dict[str, Service]] = {}
    for size, site in (("small", small), ("big", big)):
        servers[size] = {
            "off": start_app(
                run.services, f"growth-{size}-{engine}", site.config(page_cache="off", workers=run.workers), run.run_dir
            ),
            "on": start_app(
                run.services, f"growth-{size}-{engine}-cached", site.config(workers=run.workers), run.run_dir
            ),
        }
    thread = f"/b/thread/{small.thread_no}"
    live = ",".join(str(no) for _id, no in small.threads)
    short = run.wrk(short=True)
    writes = run.wrk(short=True, connections=8)
    cases = {
        "thread page, 300 replies (page cache off)": lambda s: run_wrk(s["off"].base + thread, short),
        "thread page, 300 replies (page cache on)": lambda s: run_wrk(s["on"].base + thread, short),
        "catalog (page cache off)": lambda s: run_wrk(s["off"].base + "/b/catalog", short),
        "4chan thread JSON": lambda s: run_wrk(s["off"].base + thread + ".json", short),
        "post creation, replies/s over the live threads": lambda s: run_wrk(
            s["off"].base, writes, script=BENCH / "post.lua", script_args=["b", live, comments]
        ),
    }
    results = {label: Case(label) for label in cases}
    for size in servers:  # every worker renders (and caches) before the loads
        for path in (thread, thread + ".json", "/b/catalog"):
            for _ in range(2 * run.workers):
                http_get(servers[size]["on"].base + path)
    for round_no in range(run.rounds):
        log(f"growth ({engine}): round {round_no + 1}/{run.rounds}")
        for label, measure in cases.items():
            for size in ("small", "big"):
                results[label].loads[size].append(measure(servers[size]))
    for size in servers:
        for service in servers[size].values():
            run.services.stop(service)
    rows = []
    for label, case in results.items():
        small_rps = [x.rps for x in case.loads["small"]]
        big_rps = [x.rps for x in case.loads["big"]]
        rows.append(
            [
                engine,
                label,
                summarize(small_rps).fmt(0),
                summarize([x.p99_ms for x in case.loads["small"]]).fmt(1),
                summarize(big_rps).fmt(0),
                summarize([x.p99_ms for x in case.loads["big"]]).fmt(1),
                summarize(ratios(big_rps, small_rps)).pct(),
                str(sum(x.errors for x in case.loads["small"] + case.loads["big"])),
            ]
        )
    data: dict[str, object] = {
        "small_posts": small.posts,
        "big_posts": small.posts + loaded,
        "bulk_seconds": load_seconds,
        "bulk_posts": loaded,
        "cases": {
            label: {size: [x.to_dict() for x in loads] for size, loads in case.loads.items()}
            for label, case in results.items()
        },
    }
    note = (
        f"{engine}: the small site ({small.posts:,} posts) was built in {small.setup_seconds:.1f} s; the bulk loader "
        f"added {loaded:,} posts in {load_seconds:.1f} s ({loaded / load_seconds:,.0f} posts/s, comment HTML "
        f"rendered, indexes dropped and rebuilt{', then VACUUM ANALYZE' if engine == 'postgres' else ''})."
    )
    return rows, data, note


def benchmark(run: Run) -> list[Section]:
    comments = str(dataset.comments_file(run.run_dir))
    section = Section(title="Growth", command=run.command)
    rows: list[list[str]] = []
    engines = ("sqlite", "postgres") if run.full else ("sqlite",)
    for engine in engines:
        engine_rows, data, note = run_engine(run, engine, comments)
        rows += engine_rows
        section.data[engine] = data
        section.notes.append(note)
    big = f"{run.growth_posts / 1_000_000:g}M" if run.growth_posts >= 1_000_000 else f"{run.growth_posts // 1000}k"
    section.tables.append(
        md_table(
            ["database", "measure", "req/s at 10k", "p99 ms", f"req/s at {big}", "p99 ms", f"{big} / 10k", "errors"],
            rows,
        )
    )
    section.notes += [
        f"Default runs stop at {run.growth_posts:,} posts; `--full` grows to 1,000,000 (and adds PostgreSQL).",
        f"{run.workers} server worker(s) per site, `IMAGEBOARD_ANTISPAM=off`; wrk {run.connections} connections for "
        f"reads, 8 for posting, {run.short_duration:g} s per load, {run.rounds} rounds interleaving the two sizes.",
    ]
    return [section]


if __name__ == "__main__":
    import sys

    from run import main

    main(["--only", "growth", *sys.argv[1:]])
