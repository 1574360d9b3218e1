"""Word filters that cannot be made to hang.

Python's ``re`` backtracks: ``(a+)+$`` against ``aaaa…!`` takes exponential time, and a
filter runs on every post, so one careless pattern would stall posting for everyone. Patterns
run on RE2 (google-re2), whose matching time is linear in the input whatever the pattern; RE2
refuses what it cannot do in linear time (backreferences, lookaround) when the filter is
saved. Without RE2 installed, patterns are checked when saved — no backreferences, no
lookaround, no quantifier or alternation inside a repeated group — and, since that still lets
through patterns that take polynomial time, every match runs in a worker process under a time
budget: a post that cannot be checked in time is refused, not let through, and the worker is
killed.
"""

from __future__ import annotations

import asyncio
import atexit
import multiprocessing
import re
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, Protocol, cast

from imageboard.core.errors import DomainError, InvalidInput

try:  # pragma: no cover - which branch runs depends on the installation
    import re2 as _re2  # type: ignore[import-not-found, import-untyped, unused-ignore]
except ImportError:  # pragma: no cover
    _re2 = None

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import sre_constants
    import sre_parse

FilterAction = Literal["replace", "refuse", "ban"]
FILTER_ACTIONS: tuple[FilterAction, ...] = ("replace", "refuse", "ban")
MAX_PATTERN = 500
MATCH_BUDGET = 0.5  # seconds for all filters on one post
RE2_MAX_MEM = 8 << 20
Engine = Literal["re2", "python"]
DEFAULT_ENGINE: Engine = "re2" if _re2 is not None else "python"


class FilterTimeout(DomainError):
    status = 503
    code = "filter_timeout"


class Matcher(Protocol):
    def search(self, text: str) -> bool: ...

    def sub(self, text: str, replacement: str) -> str: ...


class _Compiled:
    """A compiled pattern of either engine: both offer ``search`` and ``sub`` with a callable."""

    def __init__(self, compiled: Any) -> None:
        self._compiled = compiled

    def search(self, text: str) -> bool:
        return self._compiled.search(text) is not None

    def sub(self, text: str, replacement: str) -> str:
        # A callable replacement is inserted literally: no group references, no escapes.
        return str(self._compiled.sub(lambda _match: replacement, text))


@dataclass(frozen=True, slots=True)
class FilterRule:
    id: int
    board: str | None
    pattern: str
    is_regex: bool
    action: FilterAction
    replacement: str
    ban_hours: int
    reason: str


@dataclass(frozen=True, slots=True)
class FilterOutcome:
    fields: dict[str, str]
    refused_by: FilterRule | None = None
    banned_by: FilterRule | None = None


def compile_pattern(pattern: str, *, is_regex: bool, engine: Engine = DEFAULT_ENGINE) -> Matcher:
    """Compile a filter pattern, or raise InvalidInput saying what is wrong with it. Plain
    patterns match as case-insensitive substrings."""
    if not pattern:
        raise InvalidInput("A filter needs a pattern.", field="pattern")
    if len(pattern) > MAX_PATTERN:
        raise InvalidInput(f"A filter pattern has at most {MAX_PATTERN} characters.", field="pattern")
    return _compile(pattern, is_regex, engine)


@lru_cache(maxsize=1024)
def _compile(pattern: str, is_regex: bool, engine: Engine) -> Matcher:
    if engine == "re2":
        assert _re2 is not None, "google-re2 is not installed"
        options = _re2.Options()
        options.log_errors = False
        options.max_mem = RE2_MAX_MEM
        if not is_regex:
            options.literal = True
            options.case_sensitive = False
        try:
            return _Compiled(_re2.compile(pattern, options))
        except _re2.error as exc:
            detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
            raise InvalidInput(f"This pattern cannot be used: {detail}.", field="pattern") from None
    if not is_regex:
        return _Compiled(re.compile(re.escape(pattern), re.IGNORECASE))
    check_backtracking_safety(pattern)
    try:
        return _Compiled(re.compile(pattern))
    except re.error as exc:
        raise InvalidInput(f"This pattern cannot be used: {exc}.", field="pattern") from None


_REPEATS = {sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT}
_REPEATS |= {getattr(sre_constants, "POSSESSIVE_REPEAT", sre_constants.MAX_REPEAT)}


def check_backtracking_safety(pattern: str) -> None:
    """Refuse patterns a backtracking engine can take exponential time on."""
    try:
        parsed = sre_parse.parse(pattern)
    except re.error as exc:
        raise InvalidInput(f"This pattern cannot be used: {exc}.", field="pattern") from None
    _walk(parsed, repeated=False)


def _walk(items: Any, *, repeated: bool) -> None:
    for op, arg in items:
        if op in (sre_constants.GROUPREF, sre_constants.GROUPREF_EXISTS):
            raise InvalidInput("Backreferences are not allowed in filters.", field="pattern")
        if op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            raise InvalidInput("Lookahead and lookbehind are not allowed in filters.", field="pattern")
        if op in _REPEATS:
            _low, high, body = arg
            if repeated:
                raise InvalidInput("Nested quantifiers such as (a+)+ are not allowed in filters.", field="pattern")
            _walk(body, repeated=high > 1)
        elif op is sre_constants.BRANCH:
            if repeated:
                raise InvalidInput("Alternation inside a repeated group is not allowed in filters.", field="pattern")
            for branch in arg[1]:
                _walk(branch, repeated=repeated)
        elif op is sre_constants.SUBPATTERN:
            _walk(arg[-1], repeated=repeated)
        elif op is getattr(sre_constants, "ATOMIC_GROUP", object()):
            _walk(arg, repeated=repeated)


def apply_filters(
    rules: Sequence[FilterRule], fields: dict[str, str], *, engine: Engine = DEFAULT_ENGINE
) -> FilterOutcome:
    """Run the filters over the post's fields in order. A ban or refuse filter that matches
    ends the run; replace filters rewrite the text for the filters after them."""
    current = dict(fields)
    for rule in rules:
        matcher = _compile(rule.pattern, rule.is_regex, engine)
        for name, text in current.items():
            if not text or not matcher.search(text):
                continue
            if rule.action == "ban":
                return FilterOutcome(current, banned_by=rule)
            if rule.action == "refuse":
                return FilterOutcome(current, refused_by=rule)
            current[name] = matcher.sub(text, rule.replacement)
    return FilterOutcome(current)


async def apply_filters_in_time(
    rules: Sequence[FilterRule],
    fields: dict[str, str],
    *,
    budget: float = MATCH_BUDGET,
    engine: Engine = DEFAULT_ENGINE,
) -> FilterOutcome:
    """Run the filters within ``budget`` seconds, or refuse the post.

    On RE2 matching is linear in the text, so it simply runs. The backtracking engine runs
    in a worker process that is killed when it overruns: a regex holds the interpreter lock
    for the whole of one match, so a thread could not be stopped, and would stall the
    server."""
    if not rules:
        return FilterOutcome(dict(fields))
    if engine == "re2":
        return apply_filters(rules, fields, engine="re2")
    return await _SANDBOX.run(list(rules), dict(fields), budget)


class _Sandbox:
    """Worker processes for the backtracking engine, replaced whenever one overruns."""

    def __init__(self, processes: int = 1) -> None:
        self.processes = processes
        self._pool: Any = None
        self._lock = threading.Lock()

    def _ready_pool(self) -> Any:
        with self._lock:
            if self._pool is None:
                pool = multiprocessing.get_context("spawn").Pool(self.processes)
                pool.apply(_ping)  # start-up (imports) is not part of any post's budget (one worker)
                self._pool = pool
            return self._pool

    def _kill(self, pool: Any) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        # Stopping the workers takes a moment; the refused poster need not wait for it.
        threading.Thread(target=pool.terminate, name="filter-sandbox-kill", daemon=True).start()

    def _run_blocking(self, rules: list[FilterRule], fields: dict[str, str], budget: float) -> FilterOutcome:
        pool = self._ready_pool()
        pending = pool.apply_async(apply_filters, (rules, fields), {"engine": "python"})
        try:
            return cast(FilterOutcome, pending.get(timeout=budget))
        except multiprocessing.TimeoutError:
            self._kill(pool)
            raise FilterTimeout(
                "Your post could not be checked against the site's filters in time, so it was not posted. "
                "Try again, or shorten it."
            ) from None

    async def run(self, rules: list[FilterRule], fields: dict[str, str], budget: float) -> FilterOutcome:
        return await asyncio.to_thread(self._run_blocking, rules, fields, budget)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.terminate()


def _ping() -> bool:
    return True


_SANDBOX = _Sandbox()
atexit.register(_SANDBOX.close)
