"""``core.cache.Memo.recall``: a value is read again after a change of generation or after
its time, and a None read (a page that does not exist) is remembered like any other."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import pytest

from imageboard.core.cache import Memo


async def test_recall_reads_once_per_generation_and_window(monkeypatch: pytest.MonkeyPatch) -> None:
    memo: Memo[str, int | None] = Memo(1.0)
    reads: list[str] = []
    answers = {"a": 1, "gone": None}

    def reader(key: str) -> Callable[[], Awaitable[int | None]]:
        async def read() -> int | None:
            reads.append(key)
            return answers[key]

        return read

    assert await memo.recall("a", 0, reader("a")) == 1
    assert await memo.recall("a", 0, reader("a")) == 1 and reads == ["a"]
    assert await memo.recall("gone", 0, reader("gone")) is None
    assert await memo.recall("gone", 0, reader("gone")) is None and reads == ["a", "gone"]
    answers["a"] = 2
    assert await memo.recall("a", 1, reader("a")) == 2 and reads[-1] == "a"  # a write here: read again
    later = time.monotonic() + 2
    monkeypatch.setattr(time, "monotonic", lambda: later)
    answers["a"] = 3
    assert await memo.recall("a", 1, reader("a")) == 3 and len(reads) == 4  # the window passed
