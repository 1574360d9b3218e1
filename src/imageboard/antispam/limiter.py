"""The ports of the anti-spam context: a rate limiter and a store of captcha challenges.

Rate limits use GCRA (the generic cell rate algorithm, a token bucket kept as one number per
key: the "theoretical arrival time"). A rule allows ``limit`` units per ``window`` seconds;
a burst of up to ``limit`` passes at once and the allowance refills evenly over the window.
One key costs one number, whatever the limit, so memory stays bounded.

``acquire`` checks several rules at once and is all-or-nothing: when any rule refuses,
nothing is consumed (so refused attempts do not eat a poster's allowance, nor the site-wide
burst allowance). Backends: ``memory.py`` (one process) and ``redis_backend.py`` (shared by
every process, one round trip per call).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Rule:
    """``limit`` units per ``window`` seconds under ``key``. ``cost`` units are asked for; a
    rule with ``consume=False`` is only checked (as if asking for ``cost``), never charged."""

    key: str
    limit: int
    window: float
    cost: int = 1
    consume: bool = True

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window <= 0 or self.cost < 0:
            raise ValueError(f"invalid rule {self!r}")

    @property
    def window_ns(self) -> int:
        return round(self.window * NS)

    @property
    def interval_ns(self) -> int:
        """Time one unit takes to refill, rounded down to whole nanoseconds: integer
        arithmetic is exact, and rounding down keeps a full burst always allowed."""
        return self.window_ns // self.limit

    @property
    def impossible(self) -> bool:
        """More is asked for than the rule ever allows at once."""
        return self.cost > self.limit


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    # Seconds until the refused request would pass (0 when allowed; inf when it never can).
    retry_after: float = 0.0
    # Index (in the rules given) of the rule that refused, or -1.
    refused: int = -1
    # Seconds since ``seen_key`` was first seen (when one was given).
    seen_age: float | None = None


ALLOWED = Decision(True)


class BackendUnavailable(Exception):
    """The shared store (Redis) could not be reached or did not answer in time."""


def gcra(tat: int | None, now: int, rule: Rule) -> tuple[bool, float, int]:
    """One GCRA step on integer nanoseconds: (allowed, seconds to wait, new arrival time)."""
    if rule.impossible:
        return False, math.inf, tat or now
    start = now if tat is None or tat < now else tat
    new_tat = start + rule.cost * rule.interval_ns
    allow_at = new_tat - rule.window_ns
    if allow_at > now:
        return False, (allow_at - now) / NS, start
    return True, 0.0, new_tat


def refunded(tat: int | None, now: int, rule: Rule) -> int | None:
    """The theoretical arrival time after giving ``rule.cost`` back (None: nothing left)."""
    if tat is None:
        return None
    back = tat - rule.cost * rule.interval_ns
    return back if back > now else None


class RateLimiter(Protocol):
    async def acquire(self, rules: list[Rule], *, seen_key: str | None = None, seen_ttl: float = 0) -> Decision:
        """Check every rule; when all pass, charge those with ``consume``. With ``seen_key``,
        also remember when that key was first seen (kept ``seen_ttl`` seconds) and report
        its age — whether or not the rules passed."""
        ...

    async def refund(self, rules: list[Rule]) -> None:
        """Give back what ``acquire`` charged for these rules (a post that failed after all)."""
        ...

    async def reset(self, keys: list[str]) -> None: ...

    async def aclose(self) -> None: ...


class ChallengeStore(Protocol):
    async def put(self, key: str, value: str, ttl: float) -> None: ...

    async def take(self, key: str) -> str | None:
        """Return and delete the value in one atomic step: a second take finds nothing."""
        ...

    async def peek(self, key: str) -> str | None: ...

    async def aclose(self) -> None: ...
