"""Roles as separate processes over the real NATS, Redis and PostgreSQL servers.

* web → realtime: a post written through one web process's outbox reaches an SSE stream held
  by a realtime process (JetStream, then Redis fan-out) within a second, while a worker
  process indexes it once.
* SIGKILL: two worker processes in one consumer group; the one running a job is killed
  mid-way; the other does the job, and its completion is recorded exactly once.
* a video posted through the web process shows as processing until a worker process makes
  its clean copy and thumbnail; the thread's live stream then says so.

Every process is the real command: ``imageboard serve --role web|worker|realtime``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from imageboard.core.db import Database
from imageboard.events import EventPublisher, OutboxRelay, PostCreated
from imageboard.events.bus_nats import NatsBus

from .. import media_samples as samples
from .conftest import CLI, free_port

ROOT = Path(__file__).resolve().parents[2]
NATS_URL = os.environ.get("IMAGEBOARD_TEST_NATS_URL", "nats://127.0.0.1:4222")
REDIS_URL = os.environ.get("IMAGEBOARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass
class Site:
    """Names for one test's processes: their own stream, subjects, Redis keys and job table."""

    env: dict[str, str]
    stream: str
    prefix: str
    redis_prefix: str
    table: str
    dsn: str
    logs: Path
    board: str

    def bus(self) -> NatsBus:
        return NatsBus(NATS_URL, stream=self.stream, prefix=self.prefix)


@pytest.fixture
def site(postgres_url: str, tmp_path: Path) -> Iterator[Site]:
    tag = f"{os.getpid()}_{uuid.uuid4().hex[:8]}"
    stream, prefix, redis_prefix, table = f"IBE2E_{tag}", f"ibe2e.r{tag}", f"ibe2e_{tag}", f"role_jobs_{tag}"
    dsn = postgres_url.replace("postgresql+asyncpg://", "postgresql://")
    _sql(dsn, f"CREATE TABLE {table} (id serial PRIMARY KEY, event_id text, pid int, phase text)")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "IMAGEBOARD_DATA_DIR": str(tmp_path / "data"),
        "IMAGEBOARD_SECRET_KEY": "e2e-secret",
        "IMAGEBOARD_DATABASE_URL": postgres_url,
        "IMAGEBOARD_EVENT_BUS": "nats",
        "IMAGEBOARD_NATS_URL": NATS_URL,
        "IMAGEBOARD_NATS_STREAM": stream,
        "IMAGEBOARD_NATS_SUBJECT_PREFIX": prefix,
        "IMAGEBOARD_REDIS_URL": REDIS_URL,
        "IMAGEBOARD_REDIS_PREFIX": redis_prefix,
        "IB_TEST_JOB_TABLE": table,
        # One address posts a dozen times a second here: the limits would refuse it.
        "IMAGEBOARD_ANTISPAM": "off",
    }
    board = f"r{uuid.uuid4().hex[:10]}"
    subprocess.run(
        [CLI, "create-board", board, "Roles", "--no-require-file"], env=env, check=True, capture_output=True, timeout=60
    )
    yield Site(env, stream, prefix, redis_prefix, table, dsn, tmp_path, board)
    _sql(dsn, f"DROP TABLE IF EXISTS {table}")
    _in_thread(_cleanup(stream, redis_prefix))


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


def _in_thread(work: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine to the end from synchronous fixture code, on a loop of its own."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, work).result()


def _sql(dsn: str, statement: str) -> None:
    async def run() -> None:
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    _in_thread(run())


async def _rows(site: Site) -> list[tuple[str, int, str]]:
    connection = await asyncpg.connect(site.dsn)
    try:
        records = await connection.fetch(f"SELECT event_id, pid, phase FROM {site.table} ORDER BY id")  # noqa: S608
    finally:
        await connection.close()
    return [(r["event_id"], r["pid"], r["phase"]) for r in records]


class Process:
    def __init__(self, name: str, args: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.log = logs / f"{name}.log"
        handle = self.log.open("wb")
        self.popen = subprocess.Popen(args, env=env, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT)
        handle.close()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return self.popen.returncode


@contextlib.asynccontextmanager
async def processes(*items: Process) -> AsyncIterator[None]:
    try:
        yield
    except BaseException:
        for item in items:
            print(f"----- {item.name} -----\n{item.output()}")
        raise
    finally:
        for item in items:
            item.stop()


async def wait_healthy(client: httpx.AsyncClient, url: str, process: Process, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise AssertionError(f"{process.name} exited early:\n{process.output()}")
        with contextlib.suppress(httpx.HTTPError):
            if (await client.get(url)).status_code == 200:
                return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{process.name} not healthy within {within} s:\n{process.output()}")


def role(name: str, site: Site, **env: str) -> Process:
    """``imageboard serve --role <name without its digits>``, logging to ``<name>.log``."""
    command = [CLI, "serve", "--role", name.rstrip("0123456789")]
    return Process(name, command, {**site.env, **env}, site.logs)


async def test_a_post_on_one_web_process_reaches_an_sse_stream_of_another_within_a_second(site: Site) -> None:
    web_port, realtime_port, worker_port = free_port(), free_port(), free_port()
    realtime = role("realtime", site, IMAGEBOARD_PORT=str(realtime_port))
    worker = role(
        "worker",
        site,
        IMAGEBOARD_WORKER_TASKS="tests.e2e.roles_jobs:register",
        IMAGEBOARD_WORKER_HEALTH_PORT=str(worker_port),
    )
    web = role("web", site, IMAGEBOARD_PORT=str(web_port))
    web_url, realtime_url = f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{realtime_port}"
    latencies: list[float] = []
    async with processes(realtime, worker, web), httpx.AsyncClient(timeout=10) as client:
        await wait_healthy(client, f"{realtime_url}/healthz", realtime)
        await wait_healthy(client, f"http://127.0.0.1:{worker_port}/healthz", worker)
        await wait_healthy(client, f"{web_url}/healthz", web)
        thread = await _post(client, web_url, site.board, "a thread for the live stream")
        async with client.stream("GET", f"{realtime_url}/{site.board}/thread/{thread}/events") as response:
            assert response.status_code == 200
            lines = response.aiter_lines()
            assert (await anext(lines)).startswith("retry:")
            numbers = [thread]
            for index in range(10):
                started = time.monotonic()
                numbers.append(await _post(client, web_url, site.board, f"reply {index}", thread))
                frame = await asyncio.wait_for(_post_frame(lines, numbers[-1]), timeout=1.0)
                latencies.append(time.monotonic() - started)
                assert f"reply {index}" in frame["data"]

        async def indexed() -> bool:
            done = sorted(int(e) for e, _pid, phase in await _rows(site) if phase == "completed")
            return done == sorted(numbers)

        deadline = time.monotonic() + 10
        while not await indexed():
            assert time.monotonic() < deadline, await _rows(site)
            await asyncio.sleep(0.1)
        print(
            f"SSE delivery across processes: median {sorted(latencies)[len(latencies) // 2] * 1000:.1f} ms, "
            f"max {max(latencies) * 1000:.1f} ms over {len(latencies)} posts"
        )
        assert max(latencies) < 1.0
        # SIGTERM: the worker finishes and exits 0; uvicorn re-raises the signal once it has shut down.
        assert worker.stop() == 0
        assert realtime.stop() in (0, -signal.SIGTERM) and web.stop() in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in realtime.output()


async def _post(client: httpx.AsyncClient, web_url: str, board: str, comment: str, thread: int = 0) -> int:
    """Post through the web process, as the post form does; returns the post's number."""
    answer = await client.post(
        f"{web_url}/{board}/post",
        data={"com": f"{comment} {uuid.uuid4().hex[:6]}", "resto": str(thread)},
        files={"upfile": ("", b"")},
        headers={"accept": "application/json"},
    )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["no"])


async def _post_frame(lines: AsyncIterator[str], no: int) -> dict[str, str]:
    """The post.created frame of post ``no`` (the thread's own may come first)."""
    while True:
        frame = await _next_event(lines, "post.created")
        if json.loads(frame["data"])["post_no"] == no:
            return frame


async def _next_event(lines: AsyncIterator[str], kind: str | None = None) -> dict[str, str]:
    """The next event frame (of type ``kind``, when given: others are skipped)."""
    fields: dict[str, str] = {}
    async for line in lines:
        if not line:
            if "event" in fields and kind in (None, fields["event"]):
                return fields
            fields = {}
            continue
        name, _, value = line.partition(":")
        fields[name] = value.removeprefix(" ")
    raise EOFError


async def test_a_worker_killed_mid_job_leaves_it_to_another_which_completes_it_once(site: Site) -> None:
    ports = free_port(), free_port()
    env = {
        "IMAGEBOARD_WORKER_TASKS": "tests.e2e.roles_jobs:register_slow",
        "IMAGEBOARD_WORKER_ACK_WAIT": "3",
        "IMAGEBOARD_WORKER_CONCURRENCY": "1",
    }
    first = role("worker1", site, IMAGEBOARD_WORKER_HEALTH_PORT=str(ports[0]), **env)
    second = role("worker2", site, IMAGEBOARD_WORKER_HEALTH_PORT=str(ports[1]), **env)
    async with processes(first, second), httpx.AsyncClient(timeout=5) as client:
        for process, port in zip((first, second), ports, strict=True):
            await wait_healthy(client, f"http://127.0.0.1:{port}/healthz", process)

        # The job comes the way jobs come: a post's event through the outbox.
        bus = site.bus()
        db = Database(site.env["IMAGEBOARD_DATABASE_URL"])
        relay = OutboxRelay(db, bus)
        await bus.start()
        event = PostCreated(board="b", thread_no=1, post_no=2, post={"no": 2})
        async with db.writer() as session:
            EventPublisher(relay).record(session, event)
        await relay.drain()
        await relay.stop()
        await bus.close()
        await db.dispose()

        deadline = time.monotonic() + 10
        while not (started := [row for row in await _rows(site) if row[2] == "started"]):
            assert time.monotonic() < deadline, "no worker started the job"
            await asyncio.sleep(0.05)
        victim = started[0][1]
        assert victim in (first.pid, second.pid)
        survivor = second if victim == first.pid else first
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()

        deadline = time.monotonic() + 15
        while not [row for row in await _rows(site) if row[2] == "completed"]:
            assert time.monotonic() < deadline, await _rows(site)
            await asyncio.sleep(0.1)
        taken_over_after = time.monotonic() - killed_at
        await asyncio.sleep(3.5)  # longer than ack_wait: nothing more may happen
        rows = await _rows(site)
        assert [(e, pid, phase) for e, pid, phase in rows if phase == "completed"] == [
            (event.id, survivor.pid, "completed")
        ]
        assert [pid for _e, pid, phase in rows if phase == "started"] == [victim, survivor.pid]
        print(f"job taken over and completed {taken_over_after:.1f} s after the SIGKILL")
        assert survivor.stop() == 0


async def test_a_video_posted_on_a_web_process_is_finished_by_a_worker_process(site: Site) -> None:
    web_port, realtime_port, worker_port = free_port(), free_port(), free_port()
    realtime = role("realtime", site, IMAGEBOARD_PORT=str(realtime_port))
    worker = role("worker", site, IMAGEBOARD_WORKER_HEALTH_PORT=str(worker_port))
    web = role("web", site, IMAGEBOARD_PORT=str(web_port))
    web_url, realtime_url = f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{realtime_port}"
    clip = samples.video(site.logs / "clip.webm", metadata=True).read_bytes()
    async with processes(realtime, web), httpx.AsyncClient(timeout=30) as client:
        await wait_healthy(client, f"{realtime_url}/healthz", realtime)
        await wait_healthy(client, f"{web_url}/healthz", web)
        thread = await _post(client, web_url, site.board, "videos below")
        async with client.stream("GET", f"{realtime_url}/{site.board}/thread/{thread}/events") as stream:
            lines = stream.aiter_lines()
            assert (await anext(lines)).startswith("retry:")
            answer = await client.post(
                f"{web_url}/{site.board}/post",
                data={"com": "my holiday", "resto": str(thread)},
                files={"upfile": ("holiday.webm", clip, "video/webm")},
                headers={"accept": "application/json"},
            )
            assert answer.status_code == 201, answer.text
            no = int(answer.json()["no"])
            page = await client.get(f"{web_url}/{site.board}/thread/{thread}")
            assert "Processing the video" in page.text  # no worker runs yet: it waits

            async with processes(worker):
                await wait_healthy(client, f"http://127.0.0.1:{worker_port}/healthz", worker)
                frame = await asyncio.wait_for(_next_event(lines, "file.processed"), timeout=30)
                announced = json.loads(frame["data"])
                assert (announced["post_no"], announced["status"]) == (no, "ready")
                tim = announced["file"]["tim"]
                page = await client.get(f"{web_url}/{site.board}/thread/{thread}")
                assert "Processing the video" not in page.text and f"{tim}s.jpg" in page.text
                original = await client.get(f"{web_url}/media/{site.board}/{tim}.webm")
                assert original.status_code == 200 and samples.SECRET not in original.content
                assert worker.stop() == 0
