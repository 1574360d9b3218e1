"""Pieces shared by the site-root read routes (4chan JSON and feeds)."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from imageboard.api.http_cache import (
    CORS_HEADERS,
    EPOCH,
    conditional_response,
    is_not_modified,
    preflight_response,
    version_etag,
)
from imageboard.boards import BOARD_URI
from imageboard.core.cache import CachedDocument, PageCache
from imageboard.core.errors import DomainError, NotFound

READ = ["GET", "HEAD", "OPTIONS"]
MAX_NO = 2**53 - 1  # no post has a larger number (and larger ones overflow database integers)
MAX_PAGE = 1000
JSON_TYPE = "application/json"

Build = Callable[[], Awaitable[tuple[bytes, datetime]]]
BuildBody = Callable[[], Awaitable[bytes]]
Version = Callable[[], Awaitable[datetime | None]]
DOCUMENT_TTL = 600.0

# Documents being built, per cache: key -> the bytes, or None when that build failed (the
# waiters then build for themselves).
_building: weakref.WeakKeyDictionary[PageCache, dict[str, asyncio.Future[bytes | None]]] = (
    weakref.WeakKeyDictionary()
)


def json_bytes(document: Any) -> bytes:
    """Compact UTF-8 JSON. orjson's output is byte-identical to ``json.dumps(...,
    ensure_ascii=False, separators=(",", ":"))`` for these documents and ten times faster on
    the large ones (bench/RESULTS.md, "Decisions")."""
    return orjson.dumps(document)


def error_response(exc: DomainError) -> Response:
    """Errors of the read routes, readable cross-origin so that a browser client can tell a
    thread that 404s (pruned) from a network failure."""
    body = {"error": {"code": exc.code, "message": exc.message, "field": exc.field}}
    return JSONResponse(body, status_code=exc.status, headers=CORS_HEADERS)


def check_board(uri: str) -> None:
    if not BOARD_URI.fullmatch(uri):
        raise NotFound(f"There is no board /{uri[:40]}/.", code="board_not_found")


def check_post_no(value: int) -> None:
    if not 1 <= value <= MAX_NO:
        raise NotFound(f"There is no post No.{value}.", code="thread_not_found")


def check_page(value: int) -> None:
    if not 1 <= value <= MAX_PAGE:
        raise NotFound(f"There is no page {value}.", code="page_not_found")


async def read(request: Request, build: Build, *, media_type: str = JSON_TYPE) -> Response:
    """Answer a CORS preflight, or build the document and answer it conditionally."""
    if request.method == "OPTIONS":
        return preflight_response()
    try:
        body, last_modified = await build()
    except DomainError as exc:
        return error_response(exc)
    return conditional_response(request, body, media_type=media_type, last_modified=last_modified)


async def read_versioned(
    request: Request,
    cache: PageCache | None,
    key: str,
    version_of: Version,
    build: BuildBody,
    *,
    media_type: str = JSON_TYPE,
) -> Response:
    """Answer a document that changes only with the version (last write time) of what it
    shows, the version the HTML pages are cached by (``BoardsService.version``): the version
    is its Last-Modified and the source of its ETag, so a current client gets a 304 after one
    indexed lookup, and the bytes are kept in the page cache under that version. ``version_of``
    gives None for a board or thread that does not exist; ``build`` then raises the error."""
    if request.method == "OPTIONS":
        return preflight_response()
    try:
        version = await version_of()
        if version is None:
            return conditional_response(request, await build(), media_type=media_type, last_modified=EPOCH)
        etag = version_etag(key, version)
        if is_not_modified(request.headers, etag=etag, last_modified=version):
            return conditional_response(request, b"", media_type=media_type, last_modified=version, etag=etag)
        body = await _cached_body(cache, f"{key}|{etag}", build, media_type)
    except DomainError as exc:
        return error_response(exc)
    return conditional_response(request, body, media_type=media_type, last_modified=version, etag=etag)


async def _cached_body(cache: PageCache | None, key: str, build: BuildBody, media_type: str) -> bytes:
    """The stored bytes, or one build per process however many requests miss at once (the
    catalog of a big board is hundreds of kilobytes)."""
    if cache is None:
        return await build()
    found = await cache.get(key)
    if found is not None:
        return found.body
    pending = _building.setdefault(cache, {})
    leader = pending.get(key)
    if leader is not None:
        body = await asyncio.shield(leader)
        if body is not None:
            return body
    future: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
    pending.setdefault(key, future)
    body = None
    try:
        body = await build()
        await cache.put(key, CachedDocument(body=body, media_type=media_type), DOCUMENT_TTL)
        return body
    finally:
        if pending.get(key) is future:
            del pending[key]
        future.set_result(body)


def base_url(request: Request, public_url: str) -> str:
    """Absolute base of the site for links that leave it (feeds): the configured public URL,
    else the one the request came in on."""
    return (public_url or str(request.base_url)).rstrip("/")
