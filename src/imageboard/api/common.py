"""Pieces shared by the site-root read routes (4chan JSON and feeds)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from imageboard.api.http_cache import CORS_HEADERS, conditional_response, preflight_response
from imageboard.boards import BOARD_URI
from imageboard.core.errors import DomainError, NotFound

READ = ["GET", "HEAD", "OPTIONS"]
MAX_NO = 2**53 - 1  # no post has a larger number (and larger ones overflow database integers)
MAX_PAGE = 1000
JSON_TYPE = "application/json"

Build = Callable[[], Awaitable[tuple[bytes, datetime]]]


def json_bytes(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


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


def base_url(request: Request, public_url: str) -> str:
    """Absolute base of the site for links that leave it (feeds): the configured public URL,
    else the one the request came in on."""
    return (public_url or str(request.base_url)).rstrip("/")
