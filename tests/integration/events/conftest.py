"""Fixtures for the events context: the real NATS and Redis servers, a private NATS server
that a test may stop and start, an in-process HTTP server, and helpers.

Every test gets its own JetStream stream, subject prefix and Redis key prefix, deleted
afterwards, so runs do not see each other's events.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

import imageboard.events.models  # noqa: F401  (the tables are emptied between tests)
from imageboard.events.bus_nats import NatsBus

NATS_URL = os.environ.get("IMAGEBOARD_TEST_NATS_URL", "nats://127.0.0.1:4222")
REDIS_URL = os.environ.get("IMAGEBOARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


def unique(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:10]}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def eventually(check: Callable[[], Awaitable[bool]] | Callable[[], bool], *, within: float = 5.0) -> None:
    """Wait until ``check()`` is true, failing after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(0.02)


NatsFactory = Callable[..., Awaitable[NatsBus]]


@pytest.fixture
async def nats_factory() -> AsyncIterator[NatsFactory]:
    """Make NATS buses on a stream of this test. Buses made with the same ``name`` share a
    stream (like processes of one site); each has its own connection."""
    made: list[NatsBus] = []
    default = unique("IBTEST")

    async def make(name: str | None = None, url: str = NATS_URL, **options: Any) -> NatsBus:
        stream = name or default
        options.setdefault("fetch_timeout", 1.0)
        options.setdefault("memory_storage", True)
        bus = NatsBus(url, stream=stream, prefix=f"ibtest.{stream.lower()}", **options)
        await bus.start()
        made.append(bus)
        return bus

    yield make
    streams = {bus.stream for bus in made if bus.url == NATS_URL}
    for bus in made:
        await bus.close()
    await delete_streams(NATS_URL, streams)


async def delete_streams(url: str, streams: set[str]) -> None:
    """Delete test streams over a plain connection (a bus would set up a stream of its own)."""
    if not streams:
        return
    import nats

    connection = await nats.connect(url)
    js = connection.jetstream()
    for stream in streams:
        with contextlib.suppress(Exception):
            await js.delete_stream(stream)
    await connection.close()


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A Redis key prefix for this test; its keys are deleted afterwards."""
    import redis.asyncio as aioredis

    prefix = unique("ibtest")
    yield prefix
    client = aioredis.from_url(REDIS_URL)
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@dataclass
class PrivateNats:
    """A NATS server of our own, which a test may stop and start again (same port, same
    store), to see what happens while the broker is away."""

    port: int
    store: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("private nats-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def private_nats(tmp_path: Path) -> Iterator[PrivateNats]:
    server = PrivateNats(free_port(), tmp_path / "jetstream")
    server.start()
    yield server
    server.stop()


@contextlib.asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    """Serve an ASGI app on a free local port in this event loop; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started, within=10)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
