"""Live updates at scale: one realtime process (``imageboard serve --role realtime``, the
shipped way, NATS JetStream + Redis fan-out) holding 2,000 concurrent SSE clients of one
thread, while posts are made through a web process (``imageboard serve --role web``).

Latency is measured per post and per client, from the post's commit — the ``occurred_at``
of its ``post.created`` event, stamped in the posting transaction on this machine's clock —
to the moment that client has read the event's frame. The baseline, measured in the same
run with the same client process, is a minimal asyncio TCP server that holds as many SSE
connections and writes the same bytes to all of them when told to; posts and baseline
fan-outs alternate, so both are measured under the same load.

Settings the bench changes, and why: every client comes from 127.0.0.1, so the per-client
connection cap (``IMAGEBOARD_SSE_MAX_PER_CLIENT``, 8 by default) is raised to the client
count, and the total cap above it; the file-descriptor limit of the processes is raised to
its hard limit; anti-spam is off (one address posts every half second).

    python bench/sse.py [--clients 2000] [--posts 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import resource
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from common import (
    IMAGEBOARD,
    PYTHON,
    Run,
    Section,
    Service,
    Services,
    free_port,
    log,
    md_table,
    run_dir_for,
    tree_memory,
)

NATS_URL = os.environ.get("IMAGEBOARD_BENCH_NATS_URL", "nats://127.0.0.1:4222")
REDIS_URL = os.environ.get("IMAGEBOARD_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
OCCURRED = re.compile(rb'"occurred_at":"([^"]+)"')
CONNECT_BATCH = 200


# --- the baseline server ------------------------------------------------------------------


async def baseline_server(port: int) -> None:
    """Holds SSE connections; ``POST /publish`` writes its body to every one of them."""
    clients: set[asyncio.StreamWriter] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readline()
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        if request.startswith(b"POST /publish"):
            body = await reader.readexactly(length)
            for client in list(clients):
                client.write(body)
            writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
            writer.close()
            return
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-store\r\n\r\nretry: 1000\n\n"
        )
        clients.add(writer)
        try:
            await reader.read()  # until the client leaves
        finally:
            clients.discard(writer)

    server = await asyncio.start_server(serve, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


# --- the clients ----------------------------------------------------------------------------


@dataclass
class Clients:
    """Many SSE connections read by one asyncio process; each notes when a frame arrived."""

    name: str
    received: list[tuple[float, bytes]] = field(default_factory=list)  # (arrival, occurred_at)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    connected: int = 0
    last_frame: bytes = b""

    async def open(self, port: int, path: str, count: int) -> None:
        for start in range(0, count, CONNECT_BATCH):
            ready = [asyncio.get_running_loop().create_future() for _ in range(min(CONNECT_BATCH, count - start))]
            self.tasks += [asyncio.create_task(self._client(port, path, future)) for future in ready]
            await asyncio.gather(*ready)
        self.connected = count

    async def _client(self, port: int, path: str, ready: asyncio.Future[None]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n".encode())
        await writer.drain()
        status = await reader.readline()
        if b" 200 " not in status:
            ready.set_exception(RuntimeError(f"{self.name}: {status.decode(errors='replace').strip()}"))
            return
        ready.set_result(None)
        try:
            while line := await reader.readline():
                if line.startswith(b"data:") and b'"post.created"' in line:
                    found = OCCURRED.search(line)
                    if found:
                        self.received.append((time.time(), found.group(1)))
                        self.last_frame = line
        finally:
            writer.close()

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    def latencies_ms(self) -> list[float]:
        return [
            (arrived - datetime.fromisoformat(stamp.decode()).timestamp()) * 1000 for arrived, stamp in self.received
        ]


# --- the run ----------------------------------------------------------------------------------


def _raise_fd_limit() -> int:
    """Children inherit it: the realtime process needs a descriptor per client."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


async def _cleanup(stream: str, redis_prefix: str) -> None:
    import nats
    import redis.asyncio as aioredis

    connection = await nats.connect(NATS_URL)
    with contextlib.suppress(Exception):
        await connection.jetstream().delete_stream(stream)
    await connection.close()
    client = aioredis.from_url(REDIS_URL)
    keys = [key async for key in client.scan_iter(match=f"{redis_prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def measure(run: Run, *, clients: int, posts: int, gap: float) -> Section:
    import httpx

    limit = _raise_fd_limit()
    tag = uuid.uuid4().hex[:10]
    data_dir = run.run_dir / "sse"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEBOARD_")}
    env.update(
        {
            "IMAGEBOARD_DATA_DIR": str(data_dir),
            "IMAGEBOARD_SECRET_KEY": "bench-secret-not-for-production",
            "IMAGEBOARD_ENVIRONMENT": "production",
            "IMAGEBOARD_HOST": "127.0.0.1",
            "IMAGEBOARD_WORKERS": "1",
            "IMAGEBOARD_ANTISPAM": "off",
            "IMAGEBOARD_EVENT_BUS": "nats",
            "IMAGEBOARD_NATS_URL": NATS_URL,
            "IMAGEBOARD_NATS_STREAM": f"IBBENCH_{tag}",
            "IMAGEBOARD_NATS_SUBJECT_PREFIX": f"ibbench.s{tag}",
            "IMAGEBOARD_REDIS_URL": REDIS_URL,
            "IMAGEBOARD_REDIS_PREFIX": f"ibbench_{tag}",
            # All clients are one address here: the per-client cap is raised to the client count.
            "IMAGEBOARD_SSE_MAX_PER_CLIENT": str(clients),
            "IMAGEBOARD_SSE_MAX_TOTAL": str(clients + 100),
        }
    )
    init = await asyncio.create_subprocess_exec(
        str(IMAGEBOARD), "init", env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    if await init.wait() != 0:
        raise RuntimeError("imageboard init failed")
    services = run.services
    ports = {name: free_port() for name in ("realtime", "web", "baseline")}

    def start(name: str, argv: list[str], ready: str) -> Service:
        service = services.add(
            Service(
                name,
                argv,
                env={**env, "IMAGEBOARD_PORT": str(ports[name])},
                log=run.run_dir / "logs" / f"sse-{name}.log",
                port=ports[name],
            )
        )
        if ready:
            service.wait_ready(ready)
        return service

    realtime = start("realtime", [str(IMAGEBOARD), "serve", "--role", "realtime"], "/healthz")
    web = start("web", [str(IMAGEBOARD), "serve", "--role", "web"], "/healthz")
    baseline = start("baseline", [PYTHON, __file__, "--baseline-server", str(ports["baseline"])], "")
    await asyncio.sleep(1.0)
    load_before = _load()
    idle_rss = tree_memory(realtime.pid).rss_mib
    live = Clients("realtime")
    plain = Clients("baseline")
    section = Section(
        title=f"Live updates: {clients} SSE clients on one realtime process",
        command=f"python bench/sse.py --clients {clients} --posts {posts}",
    )
    try:
        async with httpx.AsyncClient(base_url=web.base, timeout=30) as http:
            answer = await http.post(
                "/b/post",
                data={"com": "the benchmark thread", "resto": "0"},
                files={"upfile": ("", b"")},
                headers={"accept": "application/json"},
            )
            answer.raise_for_status()
            thread = int(answer.json()["no"])
            started = time.monotonic()
            await live.open(ports["realtime"], f"/b/thread/{thread}/events", clients)
            await plain.open(ports["baseline"], "/events", clients)
            log(f"sse: {clients} + {clients} clients connected in {time.monotonic() - started:.1f} s")
            held_rss = tree_memory(realtime.pid).rss_mib
            await asyncio.sleep(1.0)
            template: bytes | None = None
            for index in range(posts):
                comment = f"post {index:04d} of the live-update benchmark " + "x" * 40
                answer = await http.post(
                    "/b/post",
                    data={"com": comment, "resto": str(thread)},
                    files={"upfile": ("", b"")},
                    headers={"accept": "application/json"},
                )
                answer.raise_for_status()
                await asyncio.sleep(gap)
                if template is None:
                    template = _last_event(live, realtime)
                frame = _baseline_frame(template)
                await http.post(f"{baseline.base}/publish", content=frame)
                await asyncio.sleep(gap)
            await asyncio.sleep(1.0)
        peak_rss = tree_memory(realtime.pid).rss_mib
        load_after = _load()
    finally:
        await live.close()
        await plain.close()
        for service in (web, realtime, baseline):
            services.stop(service)
        await _cleanup(env["IMAGEBOARD_NATS_STREAM"], env["IMAGEBOARD_REDIS_PREFIX"])

    subject, base = live.latencies_ms(), plain.latencies_ms()
    expected = clients * posts
    s, b = _Percentiles.of(subject), _Percentiles.of(base)
    section.tables.append(
        md_table(
            ["server", "deliveries", "p50 ms", "p99 ms", "max ms"],
            [
                [
                    "realtime role (NATS + Redis, uvicorn)",
                    f"{len(subject)}/{expected}",
                    f"{s.p50:.1f}",
                    f"{s.p99:.1f}",
                    f"{max(subject, default=0):.1f}",
                ],
                [
                    "baseline: asyncio TCP fan-out",
                    f"{len(base)}/{expected}",
                    f"{b.p50:.1f}",
                    f"{b.p99:.1f}",
                    f"{max(base, default=0):.1f}",
                ],
                ["ratio realtime/baseline", "", f"{s.p50 / b.p50:.1f}x", f"{s.p99 / b.p99:.1f}x", ""],
            ],
        )
    )
    section.tables.append(
        md_table(
            ["realtime process RSS", "MiB"],
            [
                ["idle", f"{idle_rss:.0f}"],
                [f"holding {clients} clients", f"{held_rss:.0f}"],
                ["after the posts", f"{peak_rss:.0f}"],
            ],
        )
    )
    section.notes += [
        f"load average (1/5/15 min) before: {load_before}; after: {load_after}; {os.cpu_count()} cores, shared.",
        f"per-client connection cap set to {clients} (IMAGEBOARD_SSE_MAX_PER_CLIENT; default 8), as every "
        f"client is 127.0.0.1; file-descriptor limit raised to {limit}.",
        "latency = arrival at the client − the event's occurred_at (stamped in the posting transaction), "
        f"{posts} posts {gap * 2:.1f} s apart, alternating with baseline fan-outs of the same bytes.",
    ]
    section.data = {
        "clients": clients,
        "posts": posts,
        "realtime": {"deliveries": len(subject), "p50_ms": s.p50, "p99_ms": s.p99},
        "baseline": {"deliveries": len(base), "p50_ms": b.p50, "p99_ms": b.p99},
        "rss_mib": {"idle": idle_rss, "held": held_rss, "after": peak_rss},
        "load": {"before": load_before, "after": load_after},
    }
    return section


@dataclass(frozen=True)
class _Percentiles:
    p50: float
    p99: float

    @staticmethod
    def of(values: Sequence[float]) -> _Percentiles:
        if not values:
            return _Percentiles(float("nan"), float("nan"))
        ordered = sorted(values)
        return _Percentiles(ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))])


def _last_event(live: Clients, realtime: Service) -> bytes:
    """A real post.created data line, for the baseline to send the same bytes."""
    if not live.last_frame:
        raise RuntimeError(f"no event reached the SSE clients; see {realtime.log}")
    return live.last_frame


def _baseline_frame(data_line: bytes) -> bytes:
    """The real frame with this moment as its occurred_at (the same length, the same bytes)."""
    stamp = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z").encode()
    line = OCCURRED.sub(b'"occurred_at":"' + stamp + b'"', data_line.rstrip(b"\n"))
    return b"id: 01BASELINE0000000000000000\nevent: post.created\n" + line + b"\n\n"


def benchmark(run: Run, *, clients: int = 2000, posts: int = 20, gap: float = 0.25) -> list[Section]:
    return [asyncio.run(measure(run, clients=clients, posts=posts, gap=gap))]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench/sse.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--posts", type=int, default=20)
    parser.add_argument("--gap", type=float, default=0.25, help="seconds between a post and the baseline's fan-out")
    parser.add_argument("--baseline-server", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.baseline_server:
        asyncio.run(baseline_server(args.baseline_server))
        return
    with Services() as services:
        run = Run(run_dir=run_dir_for(), services=services)
        [section] = benchmark(run, clients=args.clients, posts=args.posts, gap=args.gap)
    sys.stdout.write(section.markdown())


if __name__ == "__main__":
    main()
