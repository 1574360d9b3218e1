"""Servers and encoders: uvicorn or granian, stdlib json or orjson — chosen by measurement.

Same application (``imageboard.asgi:application``), same worker count, same read site:

* the cached 300-reply thread page through ``imageboard serve`` (uvicorn as shipped: uvloop,
  httptools, info logging), bare uvicorn (uvloop, httptools, no access log) and granian
  (ASGI, uvloop, no access log), against NGINX serving the same bytes;
* the 300-reply thread's 4chan JSON encoded by orjson (as shipped) and by the standard
  library (bench/asgi_variants.py), under bare uvicorn — the site caches the document per
  version of the thread, so under this load it is encoded once per change; plus the
  encoders alone, in this process, on the same document.

    python bench/servers.py
"""

from __future__ import annotations

import asyncio
import importlib.util
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import dataset
from common import (
    BENCH,
    BIN,
    Load,
    Run,
    Section,
    Service,
    http_get,
    log,
    md_table,
    ratios,
    run_wrk,
    settle,
    start_app,
    start_static_nginx,
    summarize,
)
from common import serve_argv as shipped_argv


def uvicorn_argv(target: str, *extra: str) -> Callable[[int, int], list[str]]:
    def argv(port: int, workers: int) -> list[str]:
        return [
            str(BIN / "uvicorn"), "--factory", target, "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers), "--loop", "uvloop", "--http", "httptools", "--no-access-log",
            "--log-level", "warning", *extra,
        ]  # fmt: skip

    return argv


def granian_argv(port: int, workers: int) -> list[str]:
    return [
        str(BIN / "granian"), "--interface", "asgi", "--factory", "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(workers), "--loop", "uvloop", "--no-access-log", "--log-level", "warning",
        "imageboard.asgi:application",
    ]  # fmt: skip


BARE_UVICORN = "uvicorn, uvloop + httptools, no access log"
SERVERS: dict[str, Callable[[int, int], list[str]]] = {
    "`imageboard serve` (uvicorn as shipped, access log on)": shipped_argv,
    BARE_UVICORN: uvicorn_argv("imageboard.asgi:application"),
    "granian (ASGI), uvloop, no access log": granian_argv,
    "stdlib json": uvicorn_argv("asgi_variants:stdlib_json_application", "--app-dir", str(BENCH)),
}
# Encoder -> the server that uses it (the same bare uvicorn otherwise).
ENCODERS = {"orjson (as shipped)": BARE_UVICORN, "stdlib json": "stdlib json"}


@dataclass(slots=True)
class Case:
    label: str
    url: str
    loads: list[Load] = field(default_factory=list)


def _encoders_in_process(site: dataset.Site) -> list[list[str]]:
    """The encoders alone on the thread's 4chan document (median of 5 repeats)."""
    from imageboard.api import fourchan_schemas as fmt
    from imageboard.api.common import json_bytes
    from imageboard.boards import BoardsService
    from imageboard.core.db import Database

    async def document() -> object:
        db = Database(site.url)
        try:
            view = await BoardsService(db, secret=b"bench").thread(site.board, site.thread_no)
            return fmt.thread_document(view)
        finally:
            await db.dispose()

    doc = asyncio.run(document())
    from asgi_variants import stdlib_json_bytes

    rows = []
    stdlib = stdlib_json_bytes(doc)
    fast = json_bytes(doc)
    same = stdlib == fast
    for label, encode in (("stdlib json", stdlib_json_bytes), ("orjson (as shipped)", json_bytes)):
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(50):
                encode(doc)
            timings.append((time.perf_counter() - started) / 50)
        rows.append([label, f"{statistics.median(timings) * 1e6:,.0f}", f"{len(encode(doc)):,}"])
    rows.append(["byte-identical output", "yes" if same else "NO", "–"])
    return rows


def missing() -> list[str]:
    """What the comparison needs beyond the site's own dependencies."""
    needed = []
    if not (BIN / "granian").exists():
        needed.append("granian")
    if importlib.util.find_spec("orjson") is None:
        needed.append("orjson")
    return needed


def benchmark(run: Run) -> list[Section]:
    absent = missing()
    if absent:
        log(f"servers: skipped, not installed: {', '.join(absent)} (.venv/bin/pip install {' '.join(absent)})")
        return [
            Section(
                title="Servers and JSON encoders",
                command=run.command,
                notes=[f"Skipped: {', '.join(absent)} not installed in the venv (`make bench` installs them)."],
            )
        ]
    site = dataset.shared_read_site(run)
    thread = f"/b/thread/{site.thread_no}"
    servers: dict[str, Service] = {}
    for n, (label, argv) in enumerate(SERVERS.items()):
        config = site.config(workers=run.workers)
        config.extra_env["IMAGEBOARD_ROLE"] = "all"
        servers[label] = start_app(run.services, f"servers-{n}", config, run.run_dir, argv=argv)
    static_root = run.run_dir / "static-servers"
    static_root.mkdir(exist_ok=True)
    first = next(iter(servers.values()))
    (static_root / "thread.html").write_bytes(http_get(first.base + thread).body)
    static = start_static_nginx(run.services, "static-servers", static_root, run.run_dir)

    baseline = Case("NGINX static file (baseline)", f"{static.base}/thread.html")
    pages = [Case(label, servers[label].base + thread) for label in SERVERS if label != "stdlib json"]
    documents = [Case(label, servers[server].base + thread + ".json") for label, server in ENCODERS.items()]
    for case in [*pages, *documents]:
        for _ in range(2 * run.workers):  # fill every worker's page cache
            http_get(case.url)
    for round_no in range(run.rounds):
        log(f"servers: round {round_no + 1}/{run.rounds}")
        for case in [baseline, *pages, *documents]:
            case.loads.append(run_wrk(case.url, run.wrk()))
            settle(servers.values())

    shipped = pages[0]
    rows = []
    for case in [baseline, *pages]:
        rows.append(
            [
                case.label,
                summarize([x.rps for x in case.loads]).fmt(0),
                summarize([x.p50_ms for x in case.loads]).fmt(2),
                summarize([x.p99_ms for x in case.loads]).fmt(1),
                summarize(ratios([x.rps for x in case.loads], [x.rps for x in baseline.loads])).pct(),
                summarize(ratios([x.rps for x in case.loads], [x.rps for x in shipped.loads])).pct()
                if case is not baseline
                else "–",
                str(sum(x.errors for x in case.loads)),
            ]
        )
    encoder_rows = []
    for case in documents:
        encoder_rows.append(
            [
                case.label,
                summarize([x.rps for x in case.loads]).fmt(0),
                summarize([x.p50_ms for x in case.loads]).fmt(1),
                summarize([x.p99_ms for x in case.loads]).fmt(1),
                summarize(ratios([x.rps for x in case.loads], [x.rps for x in documents[0].loads])).pct(),
                str(sum(x.errors for x in case.loads)),
            ]
        )
    section = Section(title="Servers and JSON encoders", command=run.command)
    section.tables += [
        "**Cached 300-reply thread page, by server**\n\n"
        + md_table(
            ["server", "req/s median (min–max)", "p50 ms", "p99 ms", "ratio to static", "ratio to shipped", "errors"],
            rows,
        ),
        "**300-reply thread, 4chan JSON (cached per thread version), by encoder** (bare uvicorn)\n\n"
        + md_table(
            ["encoder", "req/s median (min–max)", "p50 ms", "p99 ms", "ratio to shipped", "errors"], encoder_rows
        ),
        "**The encoders alone on that document** (this process, median of 5 × 50 encodes)\n\n"
        + md_table(["encoder", "µs per document", "bytes"], _encoders_in_process(site)),
    ]
    section.notes += [
        f"{run.workers} worker processes each, `IMAGEBOARD_ANTISPAM=off`, page cache in memory; wrk "
        f"{run.connections} connections, {run.duration:g} s per load, {run.rounds} rounds interleaved.",
    ]
    section.data = {
        "servers": {c.label: [x.to_dict() for x in c.loads] for c in [baseline, *pages]},
        "encoders": {c.label: [x.to_dict() for x in c.loads] for c in documents},
    }
    return [section]


if __name__ == "__main__":
    import sys

    from run import main

    main(["--only", "servers", *sys.argv[1:]])
