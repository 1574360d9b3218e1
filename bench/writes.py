"""Writes: text replies per second through the site (``POST /b/post``, 4chan's form fields,
``Accept: application/json``), all to one thread and spread over 100 threads, on SQLite and
on PostgreSQL.

Baseline in the same rounds: the raw driver (sqlite3 / asyncpg, bench/driver.py) making the
same replies — the post row, the board's post number and ``updated_at``, the thread's reply
count and bump time, one transaction each — at the same write concurrency as the server
(SQLite: one writer connection per server process, as the site's writer pool has; PostgreSQL:
as many connections as wrk has).

Every load runs with ``IMAGEBOARD_ANTISPAM=off``.

    python bench/writes.py [--rounds 3] [--duration 4]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dataset
from common import (
    BENCH,
    Load,
    PeakMemory,
    Run,
    Section,
    WrkOptions,
    log,
    md_table,
    ratios,
    run_driver,
    run_wrk,
    settle,
    start_app,
    start_floor,
    summarize,
)

WRITE_CONNECTIONS = 8
FLOOR_LABEL = "thinnest Python server (`bench/floors.py`)"


@dataclass(slots=True)
class Case:
    label: str
    run: object
    loads: list[Load] = field(default_factory=list)


def _wrk_writes(url: str, options: WrkOptions, site: dataset.Site, numbers: list[int], comments: str) -> Load:
    return run_wrk(
        url, options, script=BENCH / "post.lua", script_args=[site.board, ",".join(map(str, numbers)), comments]
    )


def _driver_writes(
    run: Run, site: dataset.Site, ids: list[int], comments: str, connections: int, rows: str = "same"
) -> Load:
    per_process = 1 if site.engine == "sqlite" else max(1, connections // run.workers)
    result = run_driver(
        [
            "insert",
            "--url",
            site.url,
            "--board",
            site.board,
            "--board-id",
            str(site.board_id),
            "--thread-ids",
            ",".join(map(str, ids)),
            "--comments",
            comments,
            "--procs",
            str(run.workers),
            "--concurrency",
            str(per_process),
            "--duration",
            f"{run.duration:g}",
            "--rows",
            rows,
        ]
    )
    return Load(result.ops_per_s, result.p50_ms, result.p99_ms, result.ops, 0)


def run_engine(run: Run, engine: str, comments: str) -> tuple[list[list[str]], dict[str, object], str]:
    site = dataset.write_site(run.run_dir, engine)
    run.sites[f"writes-{engine}"] = site
    app = start_app(run.services, f"writes-app-{engine}", site.config(workers=run.workers), run.run_dir)
    servers = [app]
    options = run.wrk(connections=WRITE_CONNECTIONS)
    one_no, one_id = [site.thread_no], [site.thread_id]
    all_nos = [no for _id, no in site.threads]
    all_ids = [i for i, _no in site.threads]
    app_one = Case("site: replies to one thread", lambda: _wrk_writes(app.base, options, site, one_no, comments))
    app_spread = Case(
        "site: replies spread over 100 threads", lambda: _wrk_writes(app.base, options, site, all_nos, comments)
    )
    raw_one = Case(
        "raw driver: same rows, one thread (baseline)",
        lambda: _driver_writes(run, site, one_id, comments, WRITE_CONNECTIONS),
    )
    raw_spread = Case(
        "raw driver: same rows, 100 threads (baseline)",
        lambda: _driver_writes(run, site, all_ids, comments, WRITE_CONNECTIONS),
    )
    raw_core = Case(
        "raw driver: post, board and thread rows only, 100 threads (the baseline before 2026-12-06 16:00)",
        lambda: _driver_writes(run, site, all_ids, comments, WRITE_CONNECTIONS, rows="core"),
    )
    # The same loads as app_spread, set after the rounds: its ratio to the older baseline.
    app_vs_core = Case("site: replies spread over 100 threads, against that baseline", None)
    cases = [raw_one, app_one, raw_spread, app_spread, raw_core]
    pairs: list[tuple[Case, Case | None]] = [(raw_one, None), (app_one, raw_one), (raw_spread, None),
                                             (app_spread, raw_spread), (raw_core, None),
                                             (app_vs_core, raw_core)]  # fmt: skip
    if engine == "sqlite":
        # Not a baseline: how far a bare Python server gets with the same transaction, so that a
        # reader can tell the site's cost from the machine's and the language's.
        floor = start_floor(run.services, "writes-floor-sqlite", "reply_app", site.floor_env(), run.workers,
                            run.run_dir)  # fmt: skip
        floor_spread = Case(
            f"{FLOOR_LABEL}: same transaction, 100 threads",
            lambda: _wrk_writes(floor.base, options, site, all_nos, comments),
        )
        cases.append(floor_spread)
        pairs.append((floor_spread, raw_spread))
    if engine == "sqlite" and run.workers > 1:
        # SQLite has one writer at a time: the site's processes queue on the file lock. The
        # one-process server (what `make run` starts) shows what that queueing costs.
        single = start_app(run.services, "writes-app-sqlite-1", site.config(workers=1), run.run_dir)
        servers.append(single)
        app_single = Case(
            "site, 1 worker: replies spread over 100 threads",
            lambda: _wrk_writes(single.base, options, site, all_nos, comments),
        )
        cases.append(app_single)
        pairs.append((app_single, raw_spread))
    with PeakMemory(app.pid) as peak:
        for round_no in range(run.rounds):
            log(f"writes ({engine}): round {round_no + 1}/{run.rounds}")
            for case in cases:
                case.loads.append(case.run())  # type: ignore[operator]
                settle(servers)
    run.services.close()
    app_vs_core.loads = app_spread.loads
    rows = []
    for case, baseline in pairs:
        rps = summarize([x.rps for x in case.loads])
        ratio = summarize(ratios([x.rps for x in case.loads], [x.rps for x in baseline.loads])) if baseline else None
        rows.append(
            [
                engine,
                case.label,
                rps.fmt(0),
                summarize([x.p50_ms for x in case.loads]).fmt(2),
                summarize([x.p99_ms for x in case.loads]).fmt(1),
                str(sum(x.errors for x in case.loads)),
                ratio.pct() if ratio else "100 %",
            ]
        )
    data: dict[str, object] = {
        "cases": {c.label: [x.to_dict() for x in c.loads] for c in cases},
        "ratio_one": summarize(ratios([x.rps for x in app_one.loads], [x.rps for x in raw_one.loads])).median,
        "ratio_spread": summarize(ratios([x.rps for x in app_spread.loads], [x.rps for x in raw_spread.loads])).median,
        "ratio_spread_core": summarize(
            ratios([x.rps for x in app_spread.loads], [x.rps for x in raw_core.loads])
        ).median,
        "peak_rss_mib": peak.peak.rss_mib,
    }
    floors = [case for case in cases if case.label.startswith(FLOOR_LABEL)]
    if floors:
        floor_rates = [x.rps for x in floors[0].loads]
        data["ratio_floor"] = summarize(ratios(floor_rates, [x.rps for x in raw_spread.loads])).median
    memory = (
        f"{engine}: peak RSS {peak.peak.rss_mib:.0f} MiB / PSS {peak.peak.pss_mib:.0f} MiB "
        f"over {peak.peak.processes} processes"
    )
    return rows, data, memory


def benchmark(run: Run) -> list[Section]:
    comments = str(dataset.comments_file(run.run_dir))
    section = Section(title="Writes", command=run.command)
    rows: list[list[str]] = []
    memories = []
    for engine in ("sqlite", "postgres"):
        engine_rows, data, memory = run_engine(run, engine, comments)
        rows += engine_rows
        memories.append(memory)
        section.data[engine] = data
        for key, label in (("ratio_one", "one thread"), ("ratio_spread", "spread")):
            ratio = data[key]
            assert isinstance(ratio, float)
            section.notes.append(
                f"{engine}, {label}: site at **{ratio * 100:.0f} %** of the raw driver (target ≥ 30 %)."
            )
        core = data["ratio_spread_core"]
        assert isinstance(core, float)
        section.notes.append(
            f"{engine}, spread, against the driver writing the post, board and thread rows only (the baseline "
            f"before 2026-12-06 16:00): {core * 100:.0f} %."
        )
        if "ratio_floor" in data:
            floor = data["ratio_floor"]
            assert isinstance(floor, float)
            section.notes.append(
                f"{engine}, spread: the thinnest Python server at **{floor * 100:.0f} %** of the raw driver."
            )
    section.tables.append(
        md_table(["database", "writer", "replies/s median (min–max)", "p50 ms", "p99 ms", "errors", "ratio"], rows)
    )
    section.notes += [
        f"{run.workers} server worker(s) (`imageboard serve --workers {run.workers}`), `IMAGEBOARD_ANTISPAM=off`; "
        f"wrk {WRITE_CONNECTIONS} connections, {run.duration:g} s per load, {run.rounds} rounds interleaved "
        "(baseline, then site, each round). Replies are text only, without quotes; each one is committed before it "
        "is answered. The driver writes the rows the site writes for such a reply — the post, the board's number "
        "and time, the thread's count and bump, the post's search document, the outbox rows of its two events — "
        "with the HTML and the event payloads made beforehand; the site's path also runs moderation's screen "
        "(bans, filters), renders the markup and publishes the events.",
        "The site starts with 100 threads of 20 replies on /b/; the threads grow during the run (each round adds "
        "thousands of replies).",
        f"The {FLOOR_LABEL} is a bare ASGI application under uvicorn, {run.workers} processes, that parses the "
        "reply, renders its comment with the site's markup and makes the raw driver's transaction: not a "
        "baseline, but how far any Python server gets here before doing more than the driver does.",
        "Peak memory of the server under the write loads: " + "; ".join(memories) + ".",
    ]
    return [section]


if __name__ == "__main__":
    import sys

    from run import main

    main(["--only", "writes", *sys.argv[1:]])
