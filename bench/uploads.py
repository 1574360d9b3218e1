"""Uploads: replies with an image per second through the site (``POST /{board}/post``,
multipart with 4chan's fields, ``Accept: application/json``) — the upload checked, cleaned,
thumbnailed and stored before the answer — and the peak memory of the server while a
50-megapixel JPEG goes through.

Baseline in the same rounds: libvips alone, ``pyvips.Image.thumbnail`` on the same files at
the same concurrency, writing the same thumbnail (a JPEG fitting the reply box, quality 80,
optimised Huffman tables, no metadata). Each round posts a fresh set of generated
photo-like JPEGs and PNGs of several sizes (so the site's content-addressed store never
finds the bytes already there), first to the baseline, then to the site. The client and the
baseline each run as a process of their own (this file, with ``client`` or ``raw``).

Memory: ``imageboard serve --workers 1`` gets one reply with an 8660×5773 JPEG; its
process tree's RSS is sampled every 20 ms from /proc, and its high-water mark (VmHWM) read
before and after. Every server runs with ``IMAGEBOARD_ANTISPAM=off``.

    python bench/uploads.py [--rounds 3]
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from common import (
    PYTHON,
    AppConfig,
    PeakMemory,
    Run,
    Section,
    Service,
    http_get,
    log,
    md_table,
    process_tree,
    ratios,
    sqlite_url,
    start_app,
    start_floor,
    summarize,
)

BOARD = "up"
CONCURRENCY = 4
REPLY_BOX = 125  # SiteMediaLimits.reply_thumb: the size of a reply's thumbnail
THUMB_QUALITY = 80  # imageboard.media.images.THUMBNAIL_QUALITY
BIG = (8660, 5773)  # 50.0 megapixels, just under the site's default pixel limit
RSS_TARGET_MIB = 300
FLOOR_LABEL = "thinnest Python server (`bench/floors.py`)"
FLOOR_WORK = {  # floors.UPLOAD_WORK: what each floor server does with an upload
    "thumbnail": "the thumbnail only",
    "hashes": "thumbnail, SHA-256 and MD5",
    "stored": "thumbnail, hashes, both files stored",
}
# (width, height, format) of one round's files: phone snapshots to camera photos, and PNG
# screenshots and drawings.
SHAPES = (
    [(1280, 960, "jpg")] * 4
    + [(2048, 1536, "jpg")] * 4
    + [(4032, 3024, "jpg")] * 3
    + [(6000, 4000, "jpg")]
    + [(1200, 800, "png")] * 3
    + [(2560, 1440, "png")]
)


# --- images ------------------------------------------------------------------------------------


def photo(width: int, height: int, seed: int, *, grain: bool = True) -> object:
    """A photo-like picture: smooth colour fields (a small noise image enlarged with a soft
    kernel) and fine sensor grain (a noise tile repeated) — it compresses like a photo, not
    like flat colour. Cheap enough to make a fresh set of files for every round."""
    import pyvips

    rng = random.Random(seed)

    def field(cell: int, sigma: float) -> object:
        small = pyvips.Image.gaussnoise(max(3, width // cell), max(3, height // cell), sigma=sigma, mean=128,
                                        seed=rng.randrange(1 << 30))  # fmt: skip
        bands = small.bandjoin([small.rot180().flip("horizontal"), small.flip("vertical")]).cast("uchar")
        enlarged = bands.resize(width / small.width, vscale=height / small.height, kernel="cubic")
        return enlarged.embed(0, 0, width, height, extend="copy")

    # Large soft colour areas (the scene) and smaller detail (texture, edges of things).
    colour = field(max(width, height) // 6, 55) * [rng.uniform(0.7, 1.1) for _ in range(3)]
    colour = colour + (field(48, 14) - 128) + [rng.uniform(-25, 25) for _ in range(3)]
    if grain:
        noise = pyvips.Image.gaussnoise(256, 256, sigma=5, mean=0, seed=rng.randrange(1 << 30)).cast("char")
        colour = colour + noise.replicate(width // 256 + 1, height // 256 + 1).crop(0, 0, width, height)
    return colour.cast("uchar").copy(interpretation="srgb")


def make_files(directory: Path, shapes: Sequence[tuple[int, int, str]], seed: int) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, (width, height, fmt) in enumerate(shapes):
        path = directory / f"{seed}-{index}-{width}x{height}.{fmt}"
        # PNGs stand for screenshots and drawings: no sensor grain.
        image = photo(width, height, seed * 1000 + index, grain=fmt == "jpg")
        if fmt == "jpg":
            image.jpegsave(str(path), Q=88)  # type: ignore[attr-defined]
        else:
            image.pngsave(str(path), compression=6)  # type: ignore[attr-defined]
        paths.append(path)
    return paths


# --- the two processes measured: the client of the site, and libvips alone -----------------


def _multipart(fields: dict[str, str], path: Path) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    mime = "image/png" if path.suffix == ".png" else "image/jpeg"
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="upfile"; filename="{path.name}"\r\n'
        f"Content-Type: {mime}\r\n\r\n".encode()
        + path.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _work(files: Sequence[Path], concurrency: int, one: object) -> dict[str, object]:
    """Run ``one(path)`` over ``files`` from ``concurrency`` threads; time the whole."""
    queue = list(reversed(files))
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []

    def worker() -> None:
        state: dict[str, object] = {}
        while True:
            with lock:
                if not queue:
                    return
                path = queue.pop()
            begun = time.perf_counter()
            try:
                one(path, state)  # type: ignore[operator]
            except Exception as exc:
                errors.append(f"{path.name}: {exc}")
            latencies.append((time.perf_counter() - begun) * 1000)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    return {
        "files": len(files),
        "seconds": seconds,
        "per_s": (len(files) - len(errors)) / seconds,
        "p50_ms": statistics.median(latencies) if latencies else float("nan"),
        "errors": errors,
    }


def client(base: str, board: str, thread: int, files: Sequence[Path], concurrency: int) -> dict[str, object]:
    host, port = base.removeprefix("http://").split(":")
    bodies = {path: _multipart({"resto": str(thread), "com": path.stem, "pwd": "benchpass"}, path) for path in files}

    def post(path: Path, state: dict[str, object]) -> None:
        connection = state.get("connection")
        if connection is None:
            connection = state["connection"] = http.client.HTTPConnection(host, int(port), timeout=120)
        assert isinstance(connection, http.client.HTTPConnection)
        body, content_type = bodies[path]
        connection.request(
            "POST", f"/{board}/post", body=body, headers={"Content-Type": content_type, "Accept": "application/json"}
        )
        response = connection.getresponse()
        answer = response.read()
        if response.status != 201:
            raise RuntimeError(f"HTTP {response.status}: {answer[:200]!r}")

    return _work(files, concurrency, post)


def raw(files: Sequence[Path], concurrency: int, out: Path) -> dict[str, object]:
    import resource

    import pyvips

    out.mkdir(parents=True, exist_ok=True)

    def thumbnail(path: Path, _state: dict[str, object]) -> None:
        image = pyvips.Image.thumbnail(str(path), REPLY_BOX, height=REPLY_BOX, size="down")
        image.jpegsave(
            str(out / f"{path.stem}s.jpg"), Q=THUMB_QUALITY, optimize_coding=True, keep=pyvips.enums.ForeignKeep.NONE
        )

    cpu = time.process_time()
    result = _work(files, concurrency, thumbnail)
    result["cpu_s"] = time.process_time() - cpu
    result["max_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def _subprocess(args: Sequence[str], timeout: float = 900) -> dict[str, object]:
    done = subprocess.run([PYTHON, __file__, *args], capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bench/uploads.py {args[0]} failed: {done.stderr}")
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- the site ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UploadSite:
    data_dir: Path
    url: str
    thread: int


def _prepare(run: Run, name: str) -> UploadSite:
    """``imageboard init``, a board taking big files (and more than 150 of them per thread),
    and a thread to reply to."""
    from dataset import init_site

    from imageboard.boards import BoardSpec, BoardsService, NewPost
    from imageboard.core.db import Database

    data_dir = run.run_dir / "data" / name
    data_dir.mkdir(parents=True, exist_ok=True)
    url = sqlite_url(data_dir / "imageboard.sqlite3")
    init_site(data_dir, url)

    async def create() -> int:
        db = Database(url)
        try:
            boards = BoardsService(db, secret=b"bench")
            spec = BoardSpec(uri=BOARD, title="Uploads", require_file=False, max_file_mb=64, image_limit=100_000,
                             bump_limit=100_000)  # fmt: skip
            await boards.create_board(spec)
            created = await boards.create_post(NewPost(board=BOARD, thread_no=0, comment="Post your pictures."))
            return created.thread_no
        finally:
            await db.dispose()

    return UploadSite(data_dir, url, asyncio.run(create()))


def _config(site: UploadSite, workers: int) -> AppConfig:
    # A 50 MP JPEG of photo-like content is 15–25 MB: the body limit must let it through.
    return AppConfig(site.data_dir, site.url, workers=workers, extra_env={"IMAGEBOARD_MAX_BODY_BYTES": str(64 << 20)})


def cpu_by_process(pid: int) -> dict[int, float]:
    """CPU time (user + system) used so far by each process of a tree."""
    ticks = os.sysconf("SC_CLK_TCK")
    used: dict[int, float] = {}
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        used[member] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14 and 15 of stat)
    return used


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by a process tree."""
    return sum(cpu_by_process(pid).values())


def busiest_share(before: dict[int, float], after: dict[int, float]) -> float:
    """The share of the tree's CPU time between two readings taken by its busiest process:
    how unevenly the worker processes shared the load."""
    spent = {member: after[member] - before.get(member, 0.0) for member in after}
    total = sum(spent.values())
    return max(spent.values()) / total if total > 0 else 0.0


def _hwm_kib(pid: int) -> int:
    best = 0
    for member in process_tree(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    best = max(best, int(line.split()[1]))
        except OSError:
            continue
    return best


def throughput(run: Run, files_dir: Path) -> tuple[Section, dict[str, object]]:
    site = _prepare(run, "uploads")
    app = start_app(run.services, "uploads-app", _config(site, run.workers), run.run_dir)
    floors = {work: _start_floor(run, work, files_dir) for work in FLOOR_WORK}
    floor_runs: dict[str, list[dict[str, object]]] = {work: [] for work in FLOOR_WORK}
    raw_runs: list[dict[str, object]] = []
    site_runs: list[dict[str, object]] = []
    for round_no in range(run.rounds):
        files = make_files(files_dir / f"round-{round_no}", SHAPES, seed=round_no + 1)
        names = ",".join(str(p) for p in files)
        log(f"uploads: round {round_no + 1}/{run.rounds}, {len(files)} files, {CONCURRENCY} at a time")
        raw_runs.append(
            _subprocess(["raw", "--files", names, "--concurrency", str(CONCURRENCY),
                         "--out", str(files_dir / f"raw-{round_no}")])
        )  # fmt: skip
        for work, floor in floors.items():
            floor_runs[work].append(_client_run(floor.pid, floor.base, 1, names))
        site_runs.append(_client_run(app.pid, app.base, site.thread, names))
    thread = json.loads(http_get(f"{app.base}/{BOARD}/thread/{site.thread}.json").body)
    thumbnails = sum(1 for post in thread["posts"] if post.get("tn_w"))
    run.services.close()
    site_rate = [float(r["per_s"]) for r in site_runs]  # type: ignore[arg-type]
    raw_rate = [float(r["per_s"]) for r in raw_runs]  # type: ignore[arg-type]
    ratio = summarize(ratios(site_rate, raw_rate))
    errors = [e for r in site_runs for e in r["errors"]]  # type: ignore[attr-defined]
    # CPU seconds per image: what each path costs, whatever else the shared machine runs.
    raw_cpu = [float(r["cpu_s"]) / len(SHAPES) * 1000 for r in raw_runs]  # type: ignore[arg-type]
    site_cpu = [float(r["cpu_s"]) / len(SHAPES) * 1000 for r in site_runs]  # type: ignore[arg-type]
    cpu_ratio = summarize(ratios(raw_cpu, site_cpu))
    floor_rows = []
    for work, label in FLOOR_WORK.items():
        runs = floor_runs[work]
        rate = [float(r["per_s"]) for r in runs]  # type: ignore[arg-type]
        cpu_ms = [float(r["cpu_s"]) / len(SHAPES) * 1000 for r in runs]  # type: ignore[arg-type]
        floor_rows.append(
            [f"{FLOOR_LABEL}: {label}", summarize(rate).fmt(1), summarize([float(r["p50_ms"]) for r in runs]).fmt(0),  # type: ignore[arg-type]
             str(sum(len(r["errors"]) for r in runs)), summarize(ratios(rate, raw_rate)).pct(),  # type: ignore[arg-type]
             summarize(cpu_ms).fmt(0), summarize(ratios(raw_cpu, cpu_ms)).pct()]
        )  # fmt: skip
    rows = [
        ["libvips alone: `pyvips.Image.thumbnail` + `jpegsave` (baseline)", summarize(raw_rate).fmt(1),
         summarize([float(r["p50_ms"]) for r in raw_runs]).fmt(0), str(sum(len(r["errors"]) for r in raw_runs)),  # type: ignore[arg-type]
         "100 %", summarize(raw_cpu).fmt(0), "100 %"],
        ["site: `POST /up/post` replies with the file", summarize(site_rate).fmt(1),
         summarize([float(r["p50_ms"]) for r in site_runs]).fmt(0), str(len(errors)), ratio.pct(),
         summarize(site_cpu).fmt(0), cpu_ratio.pct()],
        *floor_rows,
    ]  # fmt: skip
    section = Section(title="Uploads", command=run.command)
    headers = ["path", "images/s median (min–max)", "p50 ms", "errors", "ratio", "CPU ms per image", "CPU ratio"]
    section.tables.append(md_table(headers, rows))
    megapixels = sum(w * h for w, h, _ in SHAPES) / 1e6
    section.notes += [
        f"site at **{ratio.median * 100:.0f} %** of libvips alone in images/s (target ≥ 70 %); by CPU time per image "
        f"(libvips' over the site's, the server's process tree read from /proc) **{cpu_ratio.median * 100:.0f} %**.",
        f"{run.workers} server worker(s), `IMAGEBOARD_ANTISPAM=off`, SQLite, local media storage; {CONCURRENCY} "
        f"concurrent clients (one process) and {CONCURRENCY} baseline threads (one process); {run.rounds} rounds of "
        f"{len(SHAPES)} fresh files ({megapixels:.0f} MP in all: JPEGs of 1.2–24 MP, PNGs of 1–3.7 MP), baseline "
        "first in each round. Thumbnails: 125 px box, JPEG Q80, optimised, no metadata, on both paths.",
        f"the thread holds {thumbnails} posts with a thumbnail after the run "
        f"({run.rounds * len(SHAPES)} uploads sent).",
        "the busiest server process's share of the server's CPU, round by round (50 % is an even split over two "
        "workers; the workers share one listening socket and each client keeps its connection, so how the four "
        "connections fall on the processes sets much of a round's rate): "
        + ", ".join(f"{float(r['busiest_share']) * 100:.0f} %" for r in site_runs)  # type: ignore[arg-type]
        + ".",
        f"the {FLOOR_LABEL} rows are not baselines: a bare ASGI application under uvicorn, {run.workers} processes, "
        "that takes the file out of the multipart body and makes the same thumbnail in a thread; then also the "
        "SHA-256 and MD5 every stored upload needs; then also both files stored as the site's local storage stores "
        "them (temporary name, fsync, rename, fsync of the directory). No validation, metadata removal or post row: "
        "how far any Python server gets here with the work the media issue requires of every upload.",
    ]
    if errors:
        section.notes.append("site errors: " + "; ".join(errors[:5]))
    data = {"raw": raw_runs, "site": site_runs, "ratio": ratio.median, "cpu_ratio": cpu_ratio.median,
            "floors": floor_runs}  # fmt: skip
    return section, data | {"thumbnails": thumbnails}


def _start_floor(run: Run, work: str, files_dir: Path) -> Service:
    out = files_dir / f"floor-{work}"
    out.mkdir(parents=True, exist_ok=True)
    env = {"FLOOR_OUT": str(out), "FLOOR_UPLOAD_WORK": work}
    return start_floor(run.services, f"uploads-floor-{work}", "upload_app", env, run.workers, run.run_dir)


def _client_run(pid: int, base: str, thread: int, names: str) -> dict[str, object]:
    """One round of uploads from the client process, with the server tree's CPU time."""
    cpu = cpu_by_process(pid)
    result = _subprocess(["client", "--base", base, "--board", BOARD, "--thread", str(thread), "--files", names,
                          "--concurrency", str(CONCURRENCY)])  # fmt: skip
    after = cpu_by_process(pid)
    result["cpu_s"] = sum(after.values()) - sum(cpu.values())
    result["busiest_share"] = busiest_share(cpu, after)
    return result


def peak_memory(run: Run, files_dir: Path) -> tuple[Section, dict[str, object]]:
    [big] = make_files(files_dir / "big", [(*BIG, "jpg")], seed=99)
    site = _prepare(run, "uploads-memory")
    app = start_app(run.services, "uploads-memory-app", _config(site, 1), run.run_dir)
    before_rss = app.memory().rss_mib
    before_hwm = _hwm_kib(app.pid) / 1024
    with PeakMemory(app.pid, interval=0.02) as peak:
        result = _subprocess(["client", "--base", app.base, "--board", BOARD, "--thread", str(site.thread),
                              "--files", str(big), "--concurrency", "1"])  # fmt: skip
    after_hwm = _hwm_kib(app.pid) / 1024
    run.services.close()
    baseline = _subprocess(["raw", "--files", str(big), "--concurrency", "1", "--out", str(files_dir / "raw-big")])
    errors: list[str] = result["errors"]  # type: ignore[assignment]
    peak_mib = max(peak.peak.rss_mib, after_hwm)
    rows = [
        ["idle, before the upload", f"{before_rss:.0f}", f"{before_hwm:.0f}"],
        [f"during the upload ({float(result['seconds']):.1f} s)", f"{peak.peak.rss_mib:.0f}", f"{after_hwm:.0f}"],  # type: ignore[arg-type]
        ["libvips alone, same thumbnail (its own process)", "–", f"{float(baseline['max_rss_mib']):.0f}"],  # type: ignore[arg-type]
    ]
    section = Section(title="Upload memory", command=run.command)
    section.tables.append(md_table(["server (`--workers 1`)", "RSS MiB (sampled peak)", "VmHWM MiB"], rows))
    section.notes += [
        f"one reply with an {BIG[0]}×{BIG[1]} JPEG ({BIG[0] * BIG[1] / 1e6:.1f} MP, "
        f"{big.stat().st_size / 1e6:.1f} MB): peak **{peak_mib:.0f} MiB** (target < {RSS_TARGET_MIB} MB)"
        + (f"; the upload failed: {errors[0]}" if errors else "."),
        "RSS sampled every 20 ms over the server's process tree; VmHWM is the kernel's high-water mark of the "
        "process, so it also catches a peak between samples.",
    ]
    return section, {"before_rss_mib": before_rss, "peak_rss_mib": peak.peak.rss_mib, "hwm_mib": after_hwm,
                     "raw_max_rss_mib": baseline["max_rss_mib"], "errors": errors}  # fmt: skip


def benchmark(run: Run) -> list[Section]:
    files_dir = run.run_dir / "data" / "upload-files"
    section, data = throughput(run, files_dir)
    section.data = data
    memory, memory_data = peak_memory(run, files_dir)
    memory.data = memory_data
    return [section, memory]


def _main(argv: Sequence[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="bench/uploads.py")
    parser.add_argument("mode", choices=("client", "raw"))
    parser.add_argument("--files", required=True)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--base", default="")
    parser.add_argument("--board", default=BOARD)
    parser.add_argument("--thread", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("."))
    args = parser.parse_args(argv)
    files = [Path(p) for p in args.files.split(",")]
    if args.mode == "client":
        result = client(args.base, args.board, args.thread, files, args.concurrency)
    else:
        result = raw(files, args.concurrency, args.out)
    print(json.dumps(result))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("client", "raw"):
        _main(sys.argv[1:])
    else:
        from run import main

        main(["--only", "uploads", *sys.argv[1:]])
