"""The in-memory backend stays bounded and forgets what has expired."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from imageboard.antispam import Rule
from imageboard.antispam.limiter import gcra
from imageboard.antispam.memory import SWEEP_INTERVAL, MemoryChallengeStore, MemoryRateLimiter

from .fakes import FakeClock


async def test_expired_keys_are_swept() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock=clock)
    for n in range(100):
        await limiter.acquire([Rule(f"k{n}", 1, 5)], seen_key=f"s{n}", seen_ttl=10)
    assert len(limiter) == 200
    clock.advance(max(SWEEP_INTERVAL, 11))
    await limiter.acquire([])
    assert len(limiter) == 0


async def test_key_count_is_bounded() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock=clock, max_keys=50)
    for n in range(1_000):
        await limiter.acquire([Rule(f"k{n}", 1, 3600)])
    assert len(limiter) <= 50
    # The most recent keys are the ones kept.
    assert not (await limiter.acquire([Rule("k999", 1, 3600)])).allowed


async def test_challenge_store_is_bounded() -> None:
    clock = FakeClock()
    store = MemoryChallengeStore(clock=clock, max_entries=10)
    for n in range(100):
        await store.put(f"c{n}", "text:0", 60)
    assert len(store) == 10
    assert await store.peek("c99") == "text:0" and await store.peek("c0") is None
    clock.advance(61)
    await store.put("new", "pow:16", 60)
    assert len(store) == 1


@given(
    now=st.integers(min_value=0, max_value=4 * 10**18),  # nanoseconds
    limit=st.integers(min_value=1, max_value=500),
    window=st.floats(min_value=0.001, max_value=86_400 * 30),
)
def test_gcra_allows_exactly_the_limit_at_one_instant(now: int, limit: int, window: float) -> None:
    """A full allowance at once, never one more (integer arithmetic: no rounding drift)."""
    rule = Rule("k", limit, window)
    tat = None
    for _ in range(limit):
        allowed, _, tat = gcra(tat, now, rule)
        assert allowed
    allowed, wait, _ = gcra(tat, now, rule)
    assert not allowed and wait > 0
    assert gcra(None, now, Rule("k", limit, window, cost=limit))[0]
