"""Memory: the idle RSS of ``make run``, and the peak under read and write loads.

* Idle: ``imageboard init`` then ``imageboard serve --port P`` — what ``make run`` runs, with
  its defaults (one process, SQLite and media under the data directory, in-process page
  cache) — on a fresh data directory; sampled after start-up and one view of the home page.
* Under load: the same one-process server on a copy of the read site, under a read mix
  (every page, HTML and 4chan JSON, page cache on and then off) and under the write load;
  the peak is sampled every 100 ms from /proc.

RSS is summed over the server's processes; PSS (shared pages divided among the processes
sharing them) is given too. Every load runs with ``IMAGEBOARD_ANTISPAM=off``.

    python bench/memory.py
"""

from __future__ import annotations

import os
import subprocess
import time

import dataset
from common import (
    ANTISPAM_ENV,
    BENCH,
    IMAGEBOARD,
    Load,
    Memory,
    PeakMemory,
    Run,
    Section,
    Service,
    free_port,
    http_get,
    log,
    md_table,
    run_wrk,
    settle,
    start_app,
    summarize,
    tree_memory,
)
from reads import pages

# The mix holds documents that take a second to build (catalog.json): 8 connections keep the
# queue they leave behind short.
READ_MIX_CONNECTIONS = 8


def idle_make_run(run: Run) -> tuple[Memory, Memory]:
    """(after start-up, after one page view and a moment's rest) of a fresh ``make run``."""
    data_dir = run.run_dir / "data" / "memory-idle"
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEBOARD_")}
    env |= {"IMAGEBOARD_DATA_DIR": str(data_dir), "IMAGEBOARD_PORT": str(port), **ANTISPAM_ENV}
    subprocess.run([str(IMAGEBOARD), "init"], env=env, check=True, capture_output=True)
    service = run.services.add(
        Service(
            "memory-make-run",
            [str(IMAGEBOARD), "serve", "--port", str(port)],
            env=env,
            log=run.run_dir / "logs" / "memory-make-run.log",
            port=port,
        )
    )
    service.wait_ready("/")
    time.sleep(2)
    started = _settled(service)
    for path in ("/", "/b/", "/b/catalog"):
        http_get(service.base + path)
    time.sleep(2)
    viewed = _settled(service)
    run.services.stop(service)
    return started, viewed


def _settled(service: Service) -> Memory:
    samples = []
    for _ in range(5):
        samples.append(tree_memory(service.pid))
        time.sleep(0.3)
    rss = summarize([s.rss_mib for s in samples]).median
    pss = summarize([s.pss_mib for s in samples]).median
    return Memory(rss, pss, samples[-1].processes)


def loaded_peaks(run: Run) -> list[tuple[str, Memory, Load]]:
    site = dataset.copy_site(dataset.shared_read_site(run), run.run_dir, "memory")
    run.sites["memory"] = site
    paths = ",".join(p for page in pages(site) for p in (page.html, page.json))
    comments = str(dataset.comments_file(run.run_dir))
    results = []
    for cache in ("memory", "off"):
        server = start_app(run.services, f"memory-{cache}", site.config(page_cache=cache, workers=1), run.run_dir)
        time.sleep(2)  # let the start-up jobs (media garbage collection, outbox sweep) pass
        with PeakMemory(server.pid) as peak:
            load = run_wrk(
                server.base, run.wrk(connections=READ_MIX_CONNECTIONS), script=BENCH / "paths.lua", script_args=[paths]
            )
        label = "read mix, page cache on" if cache == "memory" else "read mix, page cache off"
        results.append((label, peak.peak, load))
        if cache == "memory":
            settle([server])
            with PeakMemory(server.pid) as peak:
                load = run_wrk(
                    server.base,
                    run.wrk(connections=8),
                    script=BENCH / "post.lua",
                    script_args=[site.board, str(site.thread_no), comments],
                )
            results.append(("writes: replies to the 300-reply thread", peak.peak, load))
        run.services.stop(server)
    return results


def benchmark(run: Run) -> list[Section]:
    log("memory: idle make run")
    started, viewed = idle_make_run(run)
    log("memory: peaks under load")
    peaks = loaded_peaks(run)
    rows = [
        ["`make run` idle, after start-up", f"{started.rss_mib:.0f}", f"{started.pss_mib:.0f}", "–", "≤ 150"],
        ["`make run` idle, after viewing 3 pages", f"{viewed.rss_mib:.0f}", f"{viewed.pss_mib:.0f}", "–", "≤ 150"],
    ]
    for label, memory, load in peaks:
        rows.append(
            [f"peak under load: {label}", f"{memory.rss_mib:.0f}", f"{memory.pss_mib:.0f}", f"{load.rps:,.0f}", "≤ 400"]
        )
    section = Section(
        title="Memory",
        command=run.command,
        tables=[md_table(["state", "RSS MiB", "PSS MiB", "req/s of the load", "target MiB"], rows)],
        data={
            "idle_rss_mib": viewed.rss_mib,
            "idle_started_rss_mib": started.rss_mib,
            "peaks": {label: {"rss_mib": m.rss_mib, "pss_mib": m.pss_mib, "rps": load.rps} for label, m, load in peaks},
        },
    )
    section.notes += [
        "One server process as `make run` starts it (`imageboard init`, `imageboard serve --port P`; no workers "
        "option), `IMAGEBOARD_ANTISPAM=off`. Idle on a fresh data directory; the loads on a copy of the read site "
        f"({dataset.shared_read_site(run).posts:,} posts).",
        f"Loads: wrk {READ_MIX_CONNECTIONS} connections for {run.duration:g} s cycling through every page "
        "(HTML and JSON); "
        f"writes with 8 connections for {run.duration:g} s. Memory sampled every 100 ms from /proc.",
        "The multi-process servers of the read and write benchmarks report their own peaks there.",
    ]
    return [section]


if __name__ == "__main__":
    import sys

    from run import main

    main(["--only", "memory", *sys.argv[1:]])
