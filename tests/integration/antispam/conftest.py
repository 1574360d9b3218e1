"""Backends for the anti-spam contract suite: the in-memory one (with a clock the test moves)
and the real Redis at 127.0.0.1:6379 (real time; short windows). Every Redis test works under
a key prefix of its own and deletes its keys afterwards."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from redis.asyncio import Redis

from imageboard.antispam import AntispamConfig, AntispamService, ChallengeStore, NetworkList, RateLimiter
from imageboard.antispam.memory import MemoryChallengeStore, MemoryRateLimiter
from imageboard.antispam.redis_backend import RedisChallengeStore, RedisRateLimiter, connect

from ...unit.antispam.fakes import FakeClock

REDIS_URL = os.environ.get("IMAGEBOARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
SECRET = b"antispam-test-secret"


@dataclass
class Backend:
    kind: str
    limiter: RateLimiter
    store: ChallengeStore
    clock: Callable[[], float]
    fake: FakeClock | None = None
    services: list[AntispamService] = field(default_factory=list)

    async def advance(self, seconds: float) -> None:
        """Let time pass: the fake clock jumps; with Redis, we wait for real."""
        if self.fake is not None:
            self.fake.advance(seconds)
        else:
            await asyncio.sleep(seconds)

    def service(self, config: AntispamConfig | None = None, *, networks: NetworkList | None = None) -> AntispamService:
        return AntispamService(
            config or AntispamConfig(),
            limiter=self.limiter,
            challenges=self.store,
            secret=SECRET,
            networks=networks,
            clock=self.clock,
        )


async def _delete_prefix(client: Redis, prefix: str) -> None:
    async for key in client.scan_iter(match=prefix + "*", count=500):
        await client.delete(key)


async def redis_client() -> Redis:
    client = connect(REDIS_URL)
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        pytest.fail(f"Redis is not reachable at {REDIS_URL} ({exc}); start it: redis-server --daemonize yes")
    return client


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        clock = FakeClock()
        yield Backend(
            "memory", MemoryRateLimiter(clock=clock), MemoryChallengeStore(clock=clock), clock, fake=clock
        )
        return
    client = await redis_client()
    prefix = f"ibtest:{os.getpid()}:{uuid.uuid4().hex[:12]}:"
    try:
        yield Backend(
            "redis", RedisRateLimiter(client, prefix=prefix), RedisChallengeStore(client, prefix=prefix), time.time
        )
    finally:
        await _delete_prefix(client, prefix)
        await client.aclose()


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of this test's own on the real Redis, emptied afterwards."""
    client = await redis_client()
    prefix = f"ibtest:{os.getpid()}:{uuid.uuid4().hex[:12]}:"
    try:
        yield prefix
    finally:
        await _delete_prefix(client, prefix)
        await client.aclose()
