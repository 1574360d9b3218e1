"""A cache of rendered pages and documents.

Entries are stored under keys that embed the *version* of what they show — the
``updated_at`` of the thread or board, which every write touches in its own transaction.
Readers look the version up (one indexed row) before looking the page up, so a page older
than the last committed write is never served, in any process, without any invalidation
messages. Old entries simply stop being asked for and age out.

Adapters: an in-process LRU bounded in bytes (the embedded default) and Redis (shared by
every web process, so a page is rendered once for the whole site). Redis being away only
costs rendering.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class CachedDocument:
    body: bytes
    media_type: str


class Memo(Generic[K, V]):
    """Values kept in this process for ``seconds``, and only while a counter of changes
    (``generation``, given by the caller) stays what it was when the value was read: a change
    this process makes is seen at once, one made elsewhere within ``seconds``."""

    def __init__(self, seconds: float, *, max_entries: int = 10_000) -> None:
        self.seconds = seconds
        self.max_entries = max_entries
        self._entries: dict[K, tuple[V, int, float]] = {}

    def get(self, key: K, generation: int) -> tuple[bool, V | None]:
        """(True, value) while it holds; (False, None) when it must be read again."""
        entry = self._entries.get(key)
        if entry is None or entry[1] != generation or entry[2] < time.monotonic():
            return False, None
        return True, entry[0]

    def put(self, key: K, value: V, generation: int) -> None:
        """``generation`` as it was *before* the value was read, so a change made meanwhile
        voids it."""
        if len(self._entries) >= self.max_entries:
            self._entries.clear()  # simpler than LRU, and refilled within ``seconds``
        self._entries[key] = (value, generation, time.monotonic() + self.seconds)

    async def recall(self, key: K, generation: int, read: Callable[[], Awaitable[V]]) -> V:
        """The value kept for ``key``, or ``read()``'s, kept from now on. ``generation`` is
        taken by the caller before this call: a change made during the read voids it."""
        known, value = self.get(key, generation)
        if known:
            return value  # type: ignore[return-value]  # known: the value put, None included
        value = await read()
        self.put(key, value, generation)
        return value


class PageCache(Protocol):
    hits: int
    misses: int

    async def get(self, key: str) -> CachedDocument | None: ...

    async def put(self, key: str, document: CachedDocument, ttl: float) -> None: ...

    async def close(self) -> None: ...


class MemoryPageCache:
    def __init__(self, *, max_bytes: int = 32 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, tuple[CachedDocument, float]] = OrderedDict()
        self._size = 0
        self.hits = 0
        self.misses = 0

    async def get(self, key: str) -> CachedDocument | None:
        entry = self._entries.get(key)
        if entry is None or entry[1] < time.monotonic():
            if entry is not None:
                self._drop(key)
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry[0]

    async def put(self, key: str, document: CachedDocument, ttl: float) -> None:
        if len(document.body) > self.max_bytes // 8:
            return
        if key in self._entries:
            self._drop(key)
        self._entries[key] = (document, time.monotonic() + ttl)
        self._size += len(document.body)
        while self._size > self.max_bytes and self._entries:
            self._drop(next(iter(self._entries)))

    def _drop(self, key: str) -> None:
        document, _ = self._entries.pop(key)
        self._size -= len(document.body)

    async def close(self) -> None:
        self._entries.clear()
        self._size = 0


class RedisPageCache:
    def __init__(self, url: str, *, prefix: str = "ib:page:") -> None:
        import redis.asyncio as redis

        self._redis: Any = redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.prefix = prefix
        self.hits = 0
        self.misses = 0
        self._down_until = 0.0

    def _available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self) -> None:
        # Back off briefly instead of paying a connection timeout on every request.
        self._down_until = time.monotonic() + 2.0

    async def get(self, key: str) -> CachedDocument | None:
        if not self._available():
            return None
        try:
            raw = await self._redis.get(self.prefix + key)
        except Exception:
            self._failed()
            return None
        if raw is None:
            self.misses += 1
            return None
        self.hits += 1
        media_type, _, body = bytes(raw).partition(b"\n")
        return CachedDocument(body=body, media_type=media_type.decode())

    async def put(self, key: str, document: CachedDocument, ttl: float) -> None:
        if not self._available():
            return
        try:
            await self._redis.set(
                self.prefix + key, document.media_type.encode() + b"\n" + document.body, ex=max(1, int(ttl))
            )
        except Exception:
            self._failed()

    async def close(self) -> None:
        await self._redis.aclose()
