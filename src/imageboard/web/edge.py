"""Edge purge adapters: tell the NGINX or Varnish caches in front of the site what a write
made stale (``web.purge`` says what), from the worker role.

NGINX (``IMAGEBOARD_EDGE_PURGE=nginx``)
    Debian's and the official image's nginx have no purge module, so this is a *refresh*: a
    ``GET`` of each page with ``X-Imageboard-Refresh: 1``, which the shipped config
    (deploy/nginx) honours only from internal addresses by bypassing its cache, fetching the
    page from the application and storing it in place of the old entry. A refresh renews the
    entry of the variant it asks for (no language or theme cookie, no Accept-Language: what
    crawlers, feed readers and first visits get); entries of other variants keep their short
    microcache validity. Only HTML is refreshed: the JSON API and feeds are kept for one
    second at most (``s-maxage=1``), too short to be worth a refresh.
Varnish (``IMAGEBOARD_EDGE_PURGE=varnish``)
    ``PURGE`` of each URL (every variant of it goes) and one ``BAN`` with the surrogate keys
    in ``Surrogate-Key``, which deploy/varnish/default.vcl turns into a ban on objects whose
    ``Surrogate-Key`` holds one of them (thread pages under any slug, everything of a board).

Purges are batched for a moment (a burst of posts on one board refreshes its pages once),
sent to every edge concurrently, and a failed request is retried with exponential backoff,
then logged and dropped: a purge never fails a post, and the edge's own expiry remains the
backstop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import httpx

from imageboard.web.purge import PurgeTargets

log = logging.getLogger(__name__)

REFRESH_HEADER = "X-Imageboard-Refresh"
KEY_HEADER = "Surrogate-Key"
# Paths whose NGINX entries live one second (API, 4chan JSON, feeds): not refreshed.
_NOT_STORED_BY_NGINX = (".json", ".rss", ".atom")
Kind = Literal["nginx", "varnish"]


@dataclass(frozen=True, slots=True)
class EdgeRequest:
    method: str
    path: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class PurgeStats:
    sent: int = 0
    failed: int = 0
    retried: int = 0


def nginx_requests(targets: PurgeTargets) -> list[EdgeRequest]:
    return [
        EdgeRequest("GET", path, ((REFRESH_HEADER, "1"),))
        for path in targets.urls
        if not path.startswith("/api/") and not path.partition("?")[0].endswith(_NOT_STORED_BY_NGINX)
    ]


def varnish_requests(targets: PurgeTargets) -> list[EdgeRequest]:
    requests = [EdgeRequest("PURGE", path) for path in targets.urls]
    if targets.keys:
        requests.append(EdgeRequest("BAN", "/", ((KEY_HEADER, " ".join(targets.keys)),)))
    return requests


REQUESTS: dict[Kind, Callable[[PurgeTargets], list[EdgeRequest]]] = {
    "nginx": nginx_requests,
    "varnish": varnish_requests,
}


class EdgePurger:
    """Sends the purge requests of ``kind`` to every edge in ``edges`` (base URLs)."""

    def __init__(
        self,
        kind: Kind,
        edges: Sequence[str],
        *,
        host: str = "",
        timeout: float = 2.0,
        retries: int = 4,
        base_delay: float = 0.5,
        concurrency: int = 8,
        batch_window: float = 0.2,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not edges:
            raise ValueError(f"IMAGEBOARD_EDGE_PURGE={kind} needs IMAGEBOARD_EDGE_PURGE_URLS (the edges' base URLs)")
        for edge in edges:
            if urlsplit(edge).scheme not in ("http", "https") or not urlsplit(edge).netloc:
                raise ValueError(f"IMAGEBOARD_EDGE_PURGE_URLS: {edge!r} is not an http(s) base URL")
        self.kind: Kind = kind
        self.edges = [edge.rstrip("/") for edge in edges]
        self.host = host
        self.retries = retries
        self.base_delay = base_delay
        self.batch_window = batch_window
        self.stats = PurgeStats()
        self._sleep = sleep
        self._limit = asyncio.Semaphore(concurrency * len(self.edges))
        self._client = httpx.AsyncClient(timeout=timeout, transport=transport, follow_redirects=False)
        self._pending_urls: dict[str, None] = {}
        self._pending_keys: dict[str, None] = {}
        self._flush: asyncio.Task[None] | None = None

    async def submit(self, targets: PurgeTargets) -> None:
        """Purge ``targets`` together with whatever else arrives within the batch window;
        returns when the batch was sent (or given up on)."""
        if not targets:
            return
        self._pending_urls.update(dict.fromkeys(targets.urls))
        self._pending_keys.update(dict.fromkeys(targets.keys))
        if self._flush is None:
            self._flush = asyncio.create_task(self._flush_soon(), name="edge-purge")
        await asyncio.shield(self._flush)

    async def _flush_soon(self) -> None:
        try:
            await self._sleep(self.batch_window)
        finally:
            targets = PurgeTargets(tuple(self._pending_urls), tuple(self._pending_keys))
            self._pending_urls, self._pending_keys, self._flush = {}, {}, None
        await self.purge(targets)

    async def purge(self, targets: PurgeTargets) -> bool:
        """Send ``targets`` to every edge now; False if some request failed for good (each
        edge's failures are logged as one line)."""
        requests = REQUESTS[self.kind](targets)
        ok = True
        for edge in self.edges:
            problems = [
                problem
                for problem in await asyncio.gather(*(self._send(edge, request) for request in requests))
                if problem is not None
            ]
            if problems:
                ok = False
                log.error(
                    "edge purge: %d of %d requests to %s failed for good, e.g. %s",
                    len(problems), len(requests), edge, problems[0],
                )  # fmt: skip
        return ok

    async def _send(self, edge: str, request: EdgeRequest) -> str | None:
        """One request, retried with backoff while the failure may pass; what went wrong, if
        it never went right."""
        headers = dict(request.headers)
        if self.host:
            headers["Host"] = self.host
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.stats.retried += 1
                await self._sleep(self.base_delay * 2 ** (attempt - 1) * random.uniform(0.8, 1.2))
            async with self._limit:
                try:
                    response = await self._client.request(request.method, edge + request.path, headers=headers)
                    await response.aclose()
                except httpx.HTTPError as exc:
                    problem = f"{request.method} {request.path}: {type(exc).__name__} {exc}".rstrip()
                    continue
            status = response.status_code
            if self.kind == "nginx" and response.headers.get("x-cache-status") == "HIT":
                # Answered from the cache: the edge takes no refreshes from this worker's
                # address (the allowed ranges in deploy/nginx). Retrying cannot help.
                self.stats.failed += 1
                return f"{request.method} {request.path}: the edge ignored the refresh (is this address allowed?)"
            if status in (401, 403, 405):  # refused: the edge's ACL or method rules, not a passing fault
                self.stats.failed += 1
                return f"{request.method} {request.path}: HTTP {status} (is this address allowed to purge?)"
            if status < 500 and status != 429:  # a 404 is a refreshed "not found" page, or nothing to purge
                self.stats.sent += 1
                return None
            problem = f"{request.method} {request.path}: HTTP {status}"
        self.stats.failed += 1
        return problem

    async def close(self) -> None:
        if self._flush is not None:
            with contextlib.suppress(Exception):
                await self._flush
        await self._client.aclose()
