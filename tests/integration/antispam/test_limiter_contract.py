"""The RateLimiter and ChallengeStore ports: one suite, run on memory and on the real Redis."""

from __future__ import annotations

import asyncio
import math

from imageboard.antispam import Rule

from .conftest import Backend


async def test_burst_then_refused_with_retry_after(backend: Backend) -> None:
    rule = Rule("k", 3, 1.5)  # 3 at once, then one every 0.5 s
    for _ in range(3):
        assert (await backend.limiter.acquire([rule])).allowed
    refused = await backend.limiter.acquire([rule])
    assert not refused.allowed and refused.refused == 0
    assert 0.3 < refused.retry_after <= 0.5
    await backend.advance(refused.retry_after + 0.05)
    assert (await backend.limiter.acquire([rule])).allowed
    assert not (await backend.limiter.acquire([rule])).allowed


async def test_all_or_nothing(backend: Backend) -> None:
    tight = Rule("tight", 1, 10)
    loose = Rule("loose", 2, 10)
    assert (await backend.limiter.acquire([tight, loose])).allowed
    refused = await backend.limiter.acquire([loose, tight])
    assert not refused.allowed and refused.refused == 1
    # The refused call charged nothing: "loose" still has one left.
    assert (await backend.limiter.acquire([loose])).allowed
    assert not (await backend.limiter.acquire([loose])).allowed


async def test_longest_wait_is_reported(backend: Backend) -> None:
    short, long = Rule("short", 1, 2), Rule("long", 1, 8)
    assert (await backend.limiter.acquire([short, long])).allowed
    refused = await backend.limiter.acquire([short, long])
    assert refused.refused == 1 and 7 < refused.retry_after <= 8


async def test_check_only_rules_are_not_charged(backend: Backend) -> None:
    peek = Rule("peek", 1, 10, consume=False)
    for _ in range(3):
        assert (await backend.limiter.acquire([peek])).allowed
    assert (await backend.limiter.acquire([Rule("peek", 1, 10)])).allowed
    assert not (await backend.limiter.acquire([peek])).allowed


async def test_cost_and_impossible_cost(backend: Backend) -> None:
    files = Rule("files", 5, 3600, cost=3)
    assert (await backend.limiter.acquire([files])).allowed
    refused = await backend.limiter.acquire([files])
    assert not refused.allowed and math.isclose(refused.retry_after, 720, abs_tol=2)
    assert (await backend.limiter.acquire([Rule("files", 5, 3600, cost=2)])).allowed
    never = await backend.limiter.acquire([Rule("other", 5, 3600, cost=6)])
    assert not never.allowed and never.retry_after == math.inf


async def test_refund_gives_back(backend: Backend) -> None:
    rule = Rule("refund", 1, 30)
    assert (await backend.limiter.acquire([rule])).allowed
    assert not (await backend.limiter.acquire([rule])).allowed
    await backend.limiter.refund([rule])
    assert (await backend.limiter.acquire([rule])).allowed
    await backend.limiter.refund([Rule("never-used", 1, 30)])


async def test_reset(backend: Backend) -> None:
    rule = Rule("reset", 1, 30)
    assert (await backend.limiter.acquire([rule])).allowed
    await backend.limiter.reset(["reset"])
    assert (await backend.limiter.acquire([rule])).allowed


async def test_first_seen_age(backend: Backend) -> None:
    first = await backend.limiter.acquire([], seen_key="seen", seen_ttl=60)
    assert first.seen_age == 0
    await backend.advance(0.3)
    later = await backend.limiter.acquire([Rule("x", 1, 10)], seen_key="seen", seen_ttl=60)
    assert later.seen_age is not None and 0.25 <= later.seen_age < 5
    # Reported even when a rule refuses.
    refused = await backend.limiter.acquire([Rule("x", 1, 10)], seen_key="seen", seen_ttl=60)
    assert not refused.allowed and refused.seen_age is not None and refused.seen_age >= 0.25


async def test_concurrent_acquires_never_overshoot(backend: Backend) -> None:
    rule = Rule("race", 5, 60)
    results = await asyncio.gather(*(backend.limiter.acquire([rule]) for _ in range(40)))
    assert sum(d.allowed for d in results) == 5


async def test_challenge_store_take_is_single_use(backend: Backend) -> None:
    await backend.store.put("c1", "text:0", 30)
    assert await backend.store.peek("c1") == "text:0"
    taken = await asyncio.gather(*(backend.store.take("c1") for _ in range(10)))
    assert taken.count("text:0") == 1 and taken.count(None) == 9
    assert await backend.store.peek("c1") is None


async def test_challenge_store_expiry(backend: Backend) -> None:
    await backend.store.put("c2", "pow:16", 0.3)
    await backend.advance(0.45)
    assert await backend.store.peek("c2") is None
    assert await backend.store.take("c2") is None
