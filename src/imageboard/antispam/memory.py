"""In-process backends: the embedded default (one server process).

State lives in dicts with a bound on their size. Expired entries are swept every half a
minute and whenever a dict reaches its bound; if it is still full, the least recently used
entries go first (forgetting a key only ever lets its owner through early, it never refuses
anyone wrongly). Nothing here awaits, so every call is atomic within the event loop.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from imageboard.antispam.limiter import ALLOWED, NS, Decision, Rule, gcra, refunded

Clock = Callable[[], float]
SWEEP_INTERVAL = 30.0


class MemoryRateLimiter:
    def __init__(self, *, clock: Clock = time.monotonic, max_keys: int = 200_000) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self._tat: OrderedDict[str, int] = OrderedDict()  # key -> theoretical arrival time (ns)
        self._seen: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (first seen, expires)
        self._swept = clock()

    def __len__(self) -> int:
        return len(self._tat) + len(self._seen)

    async def acquire(self, rules: list[Rule], *, seen_key: str | None = None, seen_ttl: float = 0) -> Decision:
        now = self.clock()
        self._maybe_sweep(now)
        seen_age = self._touch_seen(seen_key, seen_ttl, now) if seen_key else None
        now_ns = round(now * NS)
        new: list[int] = []
        worst = -1
        worst_wait = 0.0
        for index, rule in enumerate(rules):
            allowed, wait, tat = gcra(self._tat.get(rule.key), now_ns, rule)
            if not allowed and (worst < 0 or wait > worst_wait):
                worst, worst_wait = index, wait
            new.append(tat)
        if worst >= 0:
            return Decision(False, worst_wait, worst, seen_age)
        for rule, tat in zip(rules, new, strict=True):
            if rule.consume and rule.cost:
                self._tat[rule.key] = tat
                self._tat.move_to_end(rule.key)
        self._bound(now)
        return Decision(True, 0.0, -1, seen_age) if seen_age is not None else ALLOWED

    async def refund(self, rules: list[Rule]) -> None:
        now_ns = round(self.clock() * NS)
        for rule in rules:
            back = refunded(self._tat.get(rule.key), now_ns, rule)
            if back is None:
                self._tat.pop(rule.key, None)
            else:
                self._tat[rule.key] = back

    async def reset(self, keys: list[str]) -> None:
        for key in keys:
            self._tat.pop(key, None)
            self._seen.pop(key, None)

    async def aclose(self) -> None:
        self._tat.clear()
        self._seen.clear()

    def _touch_seen(self, key: str, ttl: float, now: float) -> float:
        entry = self._seen.get(key)
        if entry is None or entry[1] <= now:
            self._seen[key] = (now, now + ttl)
            return 0.0
        self._seen.move_to_end(key)
        return now - entry[0]

    def _maybe_sweep(self, now: float) -> None:
        if now - self._swept >= SWEEP_INTERVAL:
            self._sweep(now)

    def _sweep(self, now: float) -> None:
        self._swept = now
        now_ns = round(now * NS)
        for key in [k for k, tat in self._tat.items() if tat <= now_ns]:
            del self._tat[key]
        for key in [k for k, (_, expires) in self._seen.items() if expires <= now]:
            del self._seen[key]

    def _bound(self, now: float) -> None:
        if len(self._tat) + len(self._seen) <= self.max_keys:
            return
        self._sweep(now)
        while len(self._tat) + len(self._seen) > self.max_keys:
            # Drop from whichever dict is larger, least recently used first.
            victim = self._tat if len(self._tat) >= len(self._seen) else self._seen
            victim.popitem(last=False)


class MemoryChallengeStore:
    """Captcha challenges with a time to live. All challenges share one TTL, so insertion
    order is expiry order and the oldest are dropped first when the store is full."""

    def __init__(self, *, clock: Clock = time.monotonic, max_entries: int = 50_000) -> None:
        self.clock = clock
        self.max_entries = max_entries
        self._items: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    async def put(self, key: str, value: str, ttl: float) -> None:
        now = self.clock()
        self._items[key] = (value, now + ttl)
        self._items.move_to_end(key)
        while self._items:
            oldest_key, (_, expires) = next(iter(self._items.items()))
            if expires > now and len(self._items) <= self.max_entries:
                break
            del self._items[oldest_key]

    async def take(self, key: str) -> str | None:
        entry = self._items.pop(key, None)
        if entry is None or entry[1] <= self.clock():
            return None
        return entry[0]

    async def peek(self, key: str) -> str | None:
        entry = self._items.get(key)
        if entry is None or entry[1] <= self.clock():
            return None
        return entry[0]

    async def aclose(self) -> None:
        self._items.clear()
