"""Serving pages from the page cache, with HTTP validators.

A page's cache key and ETag embed the version (last write time) of what it shows, plus the
language and theme it was rendered in. A browser or edge holding the current ETag gets a
304 without the page being looked up or rendered; anyone else gets the cached bytes, or a
fresh render that is then cached (or, with the page cache off, a fresh render). Signed-in
staff see moderation controls, so their pages are neither cached nor cacheable.

Renders are single-flight per process: when a page's version changes under load, the first
request renders it and the requests that miss the cache meanwhile wait for that render
instead of each rendering the same page (a 300-reply thread costs tens of milliseconds of
CPU; 32 concurrent copies of it stall the process for a second).
"""

from __future__ import annotations

import asyncio
import hashlib
import weakref
from collections.abc import Awaitable, Callable
from datetime import datetime
from email.utils import format_datetime

from starlette.requests import Request
from starlette.responses import Response

from imageboard.core.cache import CachedDocument, PageCache
from imageboard.core.i18n import current_language
from imageboard.web.purge import edge_key_headers

# Edges may keep a page briefly and serve it stale while they revalidate; browsers always
# revalidate (cheap: a 304 from the version check).
PUBLIC_CACHE_CONTROL = "public, max-age=0, s-maxage=5, stale-while-revalidate=30"
PRIVATE_CACHE_CONTROL = "private, no-store"
STAFF_COOKIE = "session"
PAGE_TTL = 600.0


# Renders in progress, per cache (so two sites in one process never share one): key -> the
# document being rendered, or None when that render gave no cacheable page.
_rendering: weakref.WeakKeyDictionary[PageCache, dict[str, asyncio.Future[CachedDocument | None]]] = (
    weakref.WeakKeyDictionary()
)


def _variant(request: Request) -> str:
    return f"{current_language()}:{request.cookies.get('theme', 'auto')}"


def _etag(key: str, version: datetime, variant: str) -> str:
    digest = hashlib.blake2b(f"{key}|{version.isoformat()}|{variant}".encode(), digest_size=12).hexdigest()
    return f'"{digest}"'


def _matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    return header.strip() == "*" or etag in {part.strip().removeprefix("W/") for part in header.split(",")}


async def cached_page(
    request: Request,
    cache: PageCache | None,
    key: str,
    version_of: Callable[[], Awaitable[datetime | None]],
    render: Callable[[], Awaitable[Response]],
) -> Response:
    """``version_of`` looks the version up: only when the answer may be cached (a private
    page would not use it), and None means the page does not exist (``render`` says so).

    Without a page cache (``IMAGEBOARD_PAGE_CACHE=off``) every page is rendered afresh, but
    still carries its validators and public caching: browsers get 304s and an edge keeps
    its microcache. (A ``no-store`` page would make NGINX's cache lock queue every
    concurrent request for one URL behind the one in flight.)"""
    if STAFF_COOKIE in request.cookies:
        response = await render()
        response.headers["cache-control"] = PRIVATE_CACHE_CONTROL
        return response
    version = await version_of()
    if version is None:
        return await render()  # renders the not-found page (or the empty home page)
    variant = _variant(request)
    etag = _etag(key, version, variant)
    headers = {
        "etag": etag,
        "last-modified": format_datetime(version, usegmt=True),
        "cache-control": PUBLIC_CACHE_CONTROL,
        "vary": "Accept-Language, Cookie",
        **edge_key_headers(request.url.path),  # what an edge purges this page by
    }
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    if cache is None:
        response = await render()
        if response.status_code == 200:
            response.headers.update(headers)
        return response
    stored_key = f"{key}|{etag}"
    document = await cache.get(stored_key)
    if document is None:
        pending = _rendering.setdefault(cache, {})
        leading = pending.get(stored_key)
        if leading is not None:
            # Someone is rendering this very page: wait for it (shielded, so a waiter that is
            # cancelled does not cancel the render others wait for).
            document = await asyncio.shield(leading)
        if document is None:
            rendered = await _render_once(cache, pending, stored_key, render)
            if isinstance(rendered, Response):
                return rendered
            document = rendered
    return Response(document.body, media_type=document.media_type, headers=headers)


async def _render_once(
    cache: PageCache,
    pending: dict[str, asyncio.Future[CachedDocument | None]],
    stored_key: str,
    render: Callable[[], Awaitable[Response]],
) -> CachedDocument | Response:
    """Render and cache the page, telling those who wait for it; a response that is not a
    cacheable 200 is returned as it is (and the waiters render for themselves)."""
    future: asyncio.Future[CachedDocument | None] = asyncio.get_running_loop().create_future()
    leader = stored_key not in pending
    if leader:
        pending[stored_key] = future
    document: CachedDocument | None = None
    try:
        rendered = await render()
        if rendered.status_code != 200:
            return rendered
        document = CachedDocument(body=bytes(rendered.body), media_type=rendered.media_type or "text/html")
        await cache.put(stored_key, document, PAGE_TTL)
        return document
    finally:
        if leader:
            if pending.get(stored_key) is future:
                del pending[stored_key]
            future.set_result(document)
