"""Reads: requests/s and latency p50/p99 of the home page, a board page, the catalog and a
300-reply thread, as HTML and as 4chan JSON — from the page cache and without it, straight to
the application server and through the shipped NGINX edge (deploy/nginx).

Baselines measured in the same rounds:

* NGINX serving the very same bytes as static files (fetched once from the application):
  the ceiling of this machine, and what 4chan-style static regeneration would serve;
* for the uncached thread, the raw driver fetching the same 300 rows (bench/driver.py).

Every load runs with ``IMAGEBOARD_ANTISPAM=off``.

    python bench/reads.py [--rounds 3] [--duration 5] [--full]
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import dataset
from common import (
    Load,
    PeakMemory,
    Run,
    Section,
    Service,
    http_get,
    log,
    md_table,
    ratios,
    run_driver,
    run_wrk,
    settle,
    shipped_nginx_available,
    start_app,
    start_shipped_nginx,
    start_static_nginx,
    summarize,
)

# DB work the server can have in flight per worker process (its pool: IMAGEBOARD_DATABASE_POOL_SIZE).
SERVER_POOL = 8
# A document slower than this (seconds, one request) is loaded with one connection per server
# worker instead of the run's connections: 32 queued requests of 1 s only measure the queue.
SLOW = 0.25


@dataclass(frozen=True, slots=True)
class Page:
    key: str
    label: str
    html: str
    json: str


def pages(site: dataset.Site) -> list[Page]:
    return [
        Page("thread", "thread, 300 replies", f"/b/thread/{site.thread_no}", f"/b/thread/{site.thread_no}.json"),
        Page("home", "home page", "/", "/boards.json"),
        Page("board", "board page 1", "/b/", "/b/1.json"),
        Page("catalog", "catalog", "/b/catalog", "/b/catalog.json"),
    ]


WHERE = {
    "static": "NGINX static file (baseline)",
    "app-cached": "app, page cache on",
    "app-uncached": "app, page cache off",
    "edge-cached": "shipped NGINX → app, page cache on",
    "edge-uncached": "shipped NGINX → app, page cache off",
}


@dataclass(slots=True)
class Case:
    page: str
    fmt: str  # html | json
    where: str
    url: str
    short: bool
    connections: int | None = None  # fewer than the run's for documents too slow to queue 32 of
    loads: list[Load] = field(default_factory=list)


def _driver_baseline(run: Run, site: dataset.Site) -> Callable[[], Load]:
    per_process = 1 if site.engine == "sqlite" else SERVER_POOL

    def measure() -> Load:
        result = run_driver(
            [
                "select",
                "--url",
                site.url,
                "--thread-id",
                str(site.thread_id),
                "--procs",
                str(run.workers),
                "--concurrency",
                str(per_process),
                "--duration",
                f"{run.duration:g}",
            ]
        )
        return Load(result.ops_per_s, result.p50_ms, result.p99_ms, result.ops, 0)

    return measure


def _fmt_load(loads: list[Load], baseline: list[Load] | None = None) -> list[str]:
    rps = summarize([x.rps for x in loads])
    cells = [
        rps.fmt(0),
        summarize([x.p50_ms for x in loads]).fmt(2),
        summarize([x.p99_ms for x in loads]).fmt(1),
        str(sum(x.errors for x in loads)),
    ]
    if baseline is not None:
        cells.append(summarize(ratios([x.rps for x in loads], [x.rps for x in baseline])).pct())
    return cells


def run_reads(run: Run, site: dataset.Site) -> Section:
    services = run.services
    app: dict[str, Service] = {
        "app-cached": start_app(services, "reads-app-cached", site.config(workers=run.workers), run.run_dir),
        "app-uncached": start_app(
            services, "reads-app-uncached", site.config(page_cache="off", workers=run.workers), run.run_dir
        ),
    }
    edge: dict[str, Service] = {}
    if shipped_nginx_available():
        edge["edge-cached"] = start_shipped_nginx(services, "edge-cached", app["app-cached"].port, run.run_dir)
        edge["edge-uncached"] = start_shipped_nginx(services, "edge-uncached", app["app-uncached"].port, run.run_dir)
    else:
        log("deploy/nginx has no usable config: the through-NGINX cases are skipped")

    # The same bytes as static files.
    static_root = run.run_dir / "static"
    static_root.mkdir(exist_ok=True)
    sizes: dict[tuple[str, str], int] = {}
    for page in pages(site):
        for fmt, path in (("html", page.html), ("json", page.json)):
            fetched = http_get(app["app-cached"].base + path)
            if fetched.status != 200:
                raise RuntimeError(f"{path} answered {fetched.status}: {fetched.body[:300]!r}")
            (static_root / f"{page.key}.{fmt}").write_bytes(fetched.body)
            sizes[(page.key, fmt)] = len(fetched.body)
    static = start_static_nginx(services, "static", static_root, run.run_dir)

    cases: list[Case] = []
    for page in pages(site):
        main = page.key == "thread"
        if not (main or run.full or run.short_duration > 0):
            continue
        for fmt, path in (("html", page.html), ("json", page.json)):
            cases.append(Case(page.key, fmt, "static", f"{static.base}/{page.key}.{fmt}", not main))
            for where, service in (*app.items(), *edge.items()):
                # JSON documents do not go through the page cache: one server stands for both,
                # unless --full asks for every combination.
                if fmt == "json" and where.endswith("uncached") and not run.full:
                    continue
                # Secondary pages through the edge only with --full (the microcache answers).
                if not main and where.startswith("edge") and not run.full:
                    continue
                cases.append(Case(page.key, fmt, where, service.base + path, not main))

    # What the edge does with each document (HIT after a first MISS means it is microcached).
    cache_status: dict[tuple[str, str, str], str] = {}
    for case in cases:
        for _ in range(2 * run.workers):  # every worker renders (and caches) before the loads
            started = time.monotonic()
            http_get(case.url)
            if time.monotonic() - started > SLOW:
                case.connections = run.workers
        if case.where.startswith("edge"):
            cache_status[(case.page, case.fmt, case.where)] = http_get(case.url).headers.get("x-cache-status", "-")

    driver = _driver_baseline(run, site)
    driver_loads: list[Load] = []
    with PeakMemory(app["app-cached"].pid) as peak_cached, PeakMemory(app["app-uncached"].pid) as peak_uncached:
        for round_no in range(run.rounds):
            log(f"reads: round {round_no + 1}/{run.rounds} ({len(cases) + 1} loads)")
            for case in cases:
                case.loads.append(run_wrk(case.url, run.wrk(short=case.short, connections=case.connections)))
                settle(app.values())
            driver_loads.append(driver())

    return _report(run, site, cases, driver_loads, sizes, cache_status, (peak_cached.peak, peak_uncached.peak))


def _report(
    run: Run,
    site: dataset.Site,
    cases: list[Case],
    driver_loads: list[Load],
    sizes: dict[tuple[str, str], int],
    cache_status: dict[tuple[str, str, str], str],
    peaks: tuple[object, object],
) -> Section:
    section = Section(
        title="Reads",
        command=run.command,
        data={"site": site.name, "engine": site.engine, "posts": site.posts},
    )
    by_key = {(c.page, c.fmt, c.where): c for c in cases}
    headers = ["served by", "req/s median (min–max)", "p50 ms", "p99 ms", "errors", "ratio to static"]

    for fmt in ("html", "json"):
        static = by_key[("thread", fmt, "static")]
        rows = [[WHERE["static"], *_fmt_load(static.loads), "100 %"]]
        for where in ("app-cached", "edge-cached", "app-uncached", "edge-uncached"):
            case = by_key.get(("thread", fmt, where))
            if case is None:
                continue
            label = WHERE[where]
            if fmt == "json" and where == "app-cached" and ("thread", "json", "app-uncached") not in by_key:
                label = "app (4chan JSON is not page-cached)"
            if fmt == "json" and where == "edge-cached" and ("thread", "json", "edge-uncached") not in by_key:
                label = "shipped NGINX → app"
            rows.append([label, *_fmt_load(case.loads, static.loads)])
        if fmt == "html":
            rows.append(
                ["raw driver: SELECT of the same 300 rows (baseline for uncached)", *_fmt_load(driver_loads), "–"]
            )
        title = "300-reply thread page" if fmt == "html" else "300-reply thread, 4chan JSON"
        size = sizes[("thread", fmt)]
        section.tables.append(f"**{title}** ({size:,} bytes)\n\n" + md_table(headers, rows))

    # Uncached thread page against the raw driver.
    uncached = by_key.get(("thread", "html", "app-uncached"))
    if uncached is not None and driver_loads:
        ratio = summarize(ratios([x.rps for x in uncached.loads], [x.rps for x in driver_loads]))
        section.data["uncached_thread_vs_driver"] = ratio.median
        section.notes.append(
            f"Uncached 300-reply thread page vs the raw driver fetching its 300 rows: **{ratio.pct()}** "
            f"(target ≥ 40 %). Driver: {run.workers} processes × "
            f"{1 if site.engine == 'sqlite' else SERVER_POOL} connection(s), the server's process count."
        )
    for where, target in (("app-cached", 25), ("edge-cached", 80)):
        case = by_key.get(("thread", "html", where))
        if case is not None:
            ratio = summarize(
                ratios([x.rps for x in case.loads], [x.rps for x in by_key[("thread", "html", "static")].loads])
            )
            section.data[f"cached_thread_{where}_vs_static"] = ratio.median
            section.notes.append(
                f"Cached 300-reply thread page, {WHERE[where]}, vs NGINX static: **{ratio.pct()}** "
                f"(target ≥ {target} %)."
            )

    # Every page: a compact table.
    rows = []
    for page in pages(site):
        for fmt in ("html", "json"):
            baseline = by_key.get((page.key, fmt, "static"))
            if baseline is None:
                continue
            static = baseline
            row = [
                f"{page.label} ({fmt}, {sizes[(page.key, fmt)] / 1024:.0f} KiB)",
                summarize([x.rps for x in static.loads]).fmt(0),
            ]
            for where in ("app-cached", "app-uncached", "edge-cached", "edge-uncached"):
                case = by_key.get((page.key, fmt, where))
                if case is None:
                    row.append("–")
                    continue
                rps = summarize([x.rps for x in case.loads])
                ratio = summarize(ratios([x.rps for x in case.loads], [x.rps for x in static.loads]))
                row.append(f"{rps.fmt(0)}; {ratio.median * 100:.0f} %; p99 {_median(case, 'p99_ms'):.1f} ms")
            rows.append(row)
    section.tables.append(
        "**Every page** (req/s median (min–max); ratio to the static file; p99)\n\n"
        + md_table(
            [
                "page",
                "NGINX static",
                *(WHERE[w] for w in ("app-cached", "app-uncached", "edge-cached", "edge-uncached")),
            ],
            rows,
        )
    )
    if cache_status:
        seen = sorted({f"{p}.{f} via {w}: {s}" for (p, f, w), s in cache_status.items()})
        section.notes.append("Edge microcache status on a second request: " + "; ".join(seen) + ".")
    cached_peak, uncached_peak = peaks
    section.notes += [
        f"Site: {site.engine}, {site.posts:,} posts (bulk-loaded background, the 300-reply thread through the "
        f"posting path); {run.workers} server worker(s) (`imageboard serve --workers {run.workers}`), "
        f"`IMAGEBOARD_ANTISPAM=off`, `IMAGEBOARD_ENVIRONMENT=production`.",
        f"wrk: {run.wrk_threads} threads, {run.connections} connections, {run.duration:g} s per load for the "
        f"thread ({run.short_duration:g} s for the other pages), {run.rounds} rounds interleaved; ratios are "
        "taken round by round against the baseline of the same round. No Accept-Encoding (no gzip anywhere).",
        f"Peak memory of the servers under these loads: page cache on {_mem(cached_peak)}; off {_mem(uncached_peak)}.",
        "Between loads the harness waits until the servers answer quickly again (what wrk left queued is not "
        "counted against the next load). Documents slower than "
        f"{SLOW * 1000:.0f} ms a request are loaded with {run.workers} connections (one per worker): "
        + (", ".join(sorted({f"{c.page}.{c.fmt} ({c.where})" for c in cases if c.connections})) or "none")
        + ".",
    ]
    section.data["cases"] = {f"{c.page}/{c.fmt}/{c.where}": [x.to_dict() for x in c.loads] for c in cases} | {
        "thread/driver-select": [x.to_dict() for x in driver_loads]
    }
    section.data["peak_rss_mib"] = {
        "cached": getattr(cached_peak, "rss_mib", None),
        "uncached": getattr(uncached_peak, "rss_mib", None),
    }
    return section


def _median(case: Case, attribute: str) -> float:
    values = [getattr(x, attribute) for x in case.loads]
    return summarize(values).median if values else math.nan


def _mem(peak: object) -> str:
    rss = getattr(peak, "rss_mib", 0.0)
    pss = getattr(peak, "pss_mib", 0.0)
    processes = getattr(peak, "processes", 0)
    return f"RSS {rss:.0f} MiB / PSS {pss:.0f} MiB over {processes} processes"


def benchmark(run: Run) -> list[Section]:
    return [run_reads(run, dataset.shared_read_site(run))]


if __name__ == "__main__":
    import sys

    from run import main

    main(["--only", "reads", *sys.argv[1:]])
