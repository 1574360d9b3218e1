"""Growth: does a page cost what it shows, or what the database holds? The 300-reply thread
page, the catalog, post creation and search at 10k posts and at 100k (1M with ``--full``).

Both databases hold the same live content — /b/ with 149 live threads and the 300-reply
thread (the newest bump) — and differ only by archived threads bulk-loaded behind it
(bench/bulk.py: SQL in batches through the driver, realistic rows with rendered comment
HTML and quotes). Both servers run side by side and the rounds interleave them, so the
ratio large/small is measured under the same noise. Pages are read with the page cache off
(the cost of building them); the cached thread page is there to show the version lookup.
Each measure is the time of one request made by a single client, so a slow page shows as
slow instead of as a queue.

Search is read through ``/api/v1/search`` and the search page over a fixed set of queries (a
common word, a rare word, an absent one, a phrase; per board and site-wide); the bulk-loaded
posts are indexed the way an operator indexes a bulk load (``SearchService.reindex``, what
``python -m imageboard.search reindex`` runs), and a few posts with the rare word are written
through the posting path. Search is reported as p50/p99 of every request, per query.

    python bench/growth.py [--growth-posts 1000000]
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from urllib.parse import urlencode

import bulk
import dataset
from common import (
    Fetched,
    Probe,
    Run,
    Section,
    Service,
    http_get,
    http_post_form,
    log,
    md_table,
    probe,
    ratios,
    start_app,
    summarize,
)

from imageboard.core.db import Database
from imageboard.search import SearchService

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


def index_for_search(url: str) -> tuple[int, float]:
    """Index what the bulk loader wrote around the posting path; (posts indexed, seconds)."""

    async def rebuild() -> int:
        db = Database(url)
        try:
            return await SearchService(db).reindex()
        finally:
            await db.dispose()

    started = time.perf_counter()
    indexed = asyncio.run(rebuild())
    if not url.startswith("sqlite"):
        target = bulk.connect(url)
        try:  # what autovacuum does after the load: the planner's statistics of the new rows
            target.execute("VACUUM ANALYZE search_documents")
        finally:
            target.close()
    return indexed, time.perf_counter() - started


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
    probes: dict[str, list[Probe]] = field(default_factory=lambda: {"small": [], "big": []})


PAGE_PROBES = 6  # sequential requests per page, size and round
POST_PROBES = 10
PROBE_CAP = 30.0  # seconds: a page slower than this is probed fewer times
SEARCH_PROBES = 25  # sequential requests per search query, size and round
# A word only these posts hold (written through the posting path before measuring).
RARE_WORD = "quokka"
RARE_POSTS = 3
# label -> (path, query): what a visitor searches for, through the API and the search page.
SEARCHES: dict[str, tuple[str, dict[str, str]]] = {
    "common word, site-wide": ("/api/v1/search", {"q": "thread"}),
    "common word, /b/": ("/api/v1/search", {"q": "thread", "board": "b"}),
    "rare word, site-wide": ("/api/v1/search", {"q": RARE_WORD}),
    "rare word, /b/": ("/api/v1/search", {"q": RARE_WORD, "board": "b"}),
    "absent word, site-wide": ("/api/v1/search", {"q": "zeppelin"}),
    "phrase, site-wide": ("/api/v1/search", {"q": '"held up better"'}),
    "two words, /b/": ("/api/v1/search", {"q": "manual surprised", "board": "b"}),
    "search page (HTML), common word, /b/": ("/search", {"q": "thread", "board": "b"}),
}


def percentile(values: list[float], pct: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def search_rows(engine: str, latencies: dict[str, dict[str, list[float]]], errors: dict[str, int]) -> list[list[str]]:
    """p50/p99 of every request per query and size, and of all queries together."""
    rows = []
    pooled: dict[str, list[float]] = {"small": [], "big": []}
    for label, sizes in [*latencies.items(), ("all queries", pooled)]:
        if label != "all queries":
            for size in pooled:
                pooled[size] += sizes[size]
        small_p99, big_p99 = percentile(sizes["small"], 99), percentile(sizes["big"], 99)
        rows.append(
            [
                engine,
                label,
                f"{percentile(sizes['small'], 50):.1f}",
                f"{small_p99:.1f}",
                f"{percentile(sizes['big'], 50):.1f}",
                f"{big_p99:.1f}",
                f"{big_p99 / small_p99:.2f} ×",
                str(errors.get(label, sum(errors.values()))),
            ]
        )
    return rows


def run_searches(
    servers: dict[str, dict[str, Service]], latencies: dict[str, dict[str, list[float]]], errors: dict[str, int]
) -> None:
    """One round: every query SEARCH_PROBES times on each size, the sizes interleaved."""
    for label, (path, query) in SEARCHES.items():
        for size in ("small", "big"):
            url = f"{servers[size]['off'].base}{path}?{urlencode(query)}"
            result = probe(partial(http_get, url), count=SEARCH_PROBES, cap_seconds=PROBE_CAP)
            latencies[label][size] += result.latencies_ms
            errors[label] = errors.get(label, 0) + result.errors


def seed_rare_word(servers: dict[str, dict[str, Service]], live: list[int]) -> None:
    for size in servers:
        for n in range(RARE_POSTS):
            fetched = http_post_form(
                servers[size]["off"].base + "/b/post",
                {"resto": str(live[n]), "com": f"A {RARE_WORD} was seen near the bike shed, sighting {n}."},
            )
            if fetched.status >= 400:
                raise RuntimeError(f"could not post the rare word: {fetched.status} {fetched.body[:200]!r}")


EngineResult = tuple[list[list[str]], list[list[str]], dict[str, object], str]


def run_engine(run: Run, engine: str, comments: str) -> EngineResult:
    log(f"growth ({engine}): building {SMALL:,} posts")
    small = growth_site(run, engine)
    index_for_search(small.url)
    log(f"growth ({engine}): growing a copy to {run.growth_posts:,} posts")
    big, load_seconds, loaded = grow(run, small, run.growth_posts)
    log(f"growth ({engine}): bulk-loaded {loaded:,} posts in {load_seconds:.1f} s; indexing them for search")
    indexed, index_seconds = index_for_search(big.url)
    log(f"growth ({engine}): search index holds {indexed:,} posts, rebuilt in {index_seconds:.1f} s")
    servers: dict[str, dict[str, Service]] = {}
    for size, site in (("small", small), ("big", big)):
        servers[size] = {
            "off": start_app(
                run.services, f"growth-{size}-{engine}", site.config(page_cache="off", workers=1), run.run_dir
            ),
            "on": start_app(run.services, f"growth-{size}-{engine}-cached", site.config(workers=1), run.run_dir),
        }
    thread = f"/b/thread/{small.thread_no}"
    texts = [line for line in Path(comments).read_text().splitlines() if line]
    live = [no for _id, no in small.threads]
    counter = iter(range(10**9))

    def reply(base: str) -> Fetched:
        n = next(counter)
        return http_post_form(
            base + "/b/post", {"resto": str(live[n % len(live)]), "com": f"{texts[n % len(texts)]} #{n}"}
        )

    measures: dict[str, Callable[[dict[str, Service]], Probe]] = {
        "thread page, 300 replies (page cache off)": lambda s: probe(
            lambda: http_get(s["off"].base + thread), count=PAGE_PROBES, cap_seconds=PROBE_CAP
        ),
        "thread page, 300 replies (page cache on)": lambda s: probe(
            lambda: http_get(s["on"].base + thread), count=PAGE_PROBES, cap_seconds=PROBE_CAP
        ),
        "catalog (page cache off)": lambda s: probe(
            lambda: http_get(s["off"].base + "/b/catalog"), count=PAGE_PROBES, cap_seconds=PROBE_CAP
        ),
        "4chan thread JSON": lambda s: probe(
            lambda: http_get(s["off"].base + thread + ".json"), count=PAGE_PROBES, cap_seconds=PROBE_CAP
        ),
        "post creation (a reply to a live thread)": lambda s: probe(
            lambda: reply(s["off"].base), count=POST_PROBES, cap_seconds=PROBE_CAP
        ),
    }
    seed_rare_word(servers, live)
    for size in servers:  # warm up: every page once, the cached one into the cache
        for path in (thread, thread + ".json", "/b/catalog"):
            http_get(servers[size]["off"].base + path)
        http_get(servers[size]["on"].base + thread)
        for path, query in SEARCHES.values():
            http_get(f"{servers[size]['off'].base}{path}?{urlencode(query)}")
    results = {label: Case(label) for label in measures}
    searched: dict[str, dict[str, list[float]]] = {label: {"small": [], "big": []} for label in SEARCHES}
    search_errors: dict[str, int] = {}
    for round_no in range(run.rounds):
        log(f"growth ({engine}): round {round_no + 1}/{run.rounds}")
        for label, measure in measures.items():
            for size in ("small", "big"):
                results[label].probes[size].append(measure(servers[size]))
        run_searches(servers, searched, search_errors)
    for size in servers:
        for service in servers[size].values():
            run.services.stop(service)
    rows = []
    for label, case in results.items():
        small_ms = [p.median_ms for p in case.probes["small"]]
        big_ms = [p.median_ms for p in case.probes["big"]]
        rows.append(
            [
                engine,
                label,
                summarize(small_ms).fmt(1),
                summarize(big_ms).fmt(1),
                summarize(ratios(big_ms, small_ms)).fmt(2, " ×"),
                str(sum(p.errors for p in case.probes["small"] + case.probes["big"])),
            ]
        )
    data: dict[str, object] = {
        "small_posts": small.posts,
        "big_posts": small.posts + loaded,
        "bulk_seconds": load_seconds,
        "bulk_posts": loaded,
        "cases": {
            label: {size: [list(p.latencies_ms) for p in probes] for size, probes in case.probes.items()}
            for label, case in results.items()
        },
        "search": searched,
        "search_index_seconds": index_seconds,
    }
    note = (
        f"{engine}: the small site ({small.posts:,} posts) was built in {small.setup_seconds:.1f} s; the bulk loader "
        f"added {loaded:,} posts in {load_seconds:.1f} s ({loaded / load_seconds:,.0f} posts/s, comment HTML "
        f"rendered, indexes dropped and rebuilt{', then VACUUM ANALYZE' if engine == 'postgres' else ''}); "
        f"the search index of the large site was rebuilt in {index_seconds:.1f} s ({indexed:,} posts)."
    )
    return rows, search_rows(engine, searched, search_errors), data, note


def benchmark(run: Run) -> list[Section]:
    comments = str(dataset.comments_file(run.run_dir))
    section = Section(title="Growth", command=run.command)
    rows: list[list[str]] = []
    searches: list[list[str]] = []
    engines = ("sqlite", "postgres") if run.full else ("sqlite",)
    for engine in engines:
        engine_rows, engine_searches, data, note = run_engine(run, engine, comments)
        rows += engine_rows
        searches += engine_searches
        section.data[engine] = data
        section.notes.append(note)
    big = f"{run.growth_posts / 1_000_000:g}M" if run.growth_posts >= 1_000_000 else f"{run.growth_posts // 1000}k"
    section.tables.append(
        md_table(["database", "measure", "ms per request at 10k", f"ms at {big}", f"{big} / 10k", "errors"], rows)
    )
    at_big = [f"p50 ms at {big}", f"p99 ms at {big}", f"p99 {big} / 10k"]
    section.tables.append(
        md_table(["database", "search", "p50 ms at 10k", "p99 ms at 10k", *at_big, "errors"], searches)
    )
    section.notes += [
        "Time per request of a single client making requests one after the other (no queueing: the cost of one "
        f"request), {PAGE_PROBES} per page ({POST_PROBES} posts) per size and round, fewer when they take over "
        f"{PROBE_CAP:g} s; median (min–max) of the {run.rounds} rounds' medians, rounds interleaving the sizes.",
        f"This run grew to {run.growth_posts:,} posts{' on SQLite and PostgreSQL' if run.full else ' on SQLite'}; "
        "`make bench` grows to 100,000 on SQLite, `--full` to 1,000,000 on both. One server process per site and "
        "cache setting, `IMAGEBOARD_ANTISPAM=off`.",
        f"Search: {SEARCH_PROBES} sequential requests per query, size and round (page cache off); p50 and p99 of "
        f"every request of all rounds. The rare word is in {RARE_POSTS} posts written through the posting path; "
        "the common word is in about one post in six.",
    ]
    return [section]


if __name__ == "__main__":
    import sys

    from run import main

    main(["--only", "growth", *sys.argv[1:]])
