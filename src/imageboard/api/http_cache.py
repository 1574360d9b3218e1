"""Conditional requests and CORS for the public read APIs.

Every read answers with ``Last-Modified`` (the newest change of what the document shows) and a
strong ``ETag``, and turns ``If-None-Match`` / ``If-Modified-Since`` into a bodiless 304, as the
4chan API asks its clients to rely on. The ETag is a hash of the body, or, for documents cached
by the version of what they show (the 4chan JSON), a hash of that version: a client holding the
current copy then gets its 304 without the document being built or looked up. Reads are open to every origin;
writes are not (they stay same-origin, see ``core.middleware.SameOriginWrites``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imageboard import __version__
from imageboard.core.clock import as_utc
from imageboard.web.purge import edge_key_headers

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
READ_METHODS = ("GET", "HEAD")
ALLOW_READS = "GET, HEAD, OPTIONS"
# Clients revalidate every time (cheap: 304); a shared cache (the edge) may keep the document
# for one second — what 4chan asks of API clients anyway, and what turns a burst of polls on a
# hot thread into one request to the application. (With ``no-cache`` NGINX stores nothing
# and its cache lock queues the concurrent requests for one URL behind each other.)
CACHE_CONTROL = "public, max-age=0, s-maxage=1"
CORS_HEADERS: dict[str, str] = {
    "Access-Control-Allow-Origin": "*",
    # Last-Modified is readable cross-origin by default; ETag is not.
    "Access-Control-Expose-Headers": "ETag",
}
PREFLIGHT_HEADERS: dict[str, str] = {
    **CORS_HEADERS,
    "Access-Control-Allow-Methods": ALLOW_READS,
    "Access-Control-Allow-Headers": "If-Modified-Since, If-None-Match, Cache-Control",
    "Access-Control-Max-Age": "86400",
    "Allow": ALLOW_READS,
}


def http_date(moment: datetime) -> str:
    """``Sun, 06 Nov 1994 08:49:37 GMT`` (whole seconds, as HTTP dates are)."""
    return format_datetime(as_utc(moment).replace(microsecond=0), usegmt=True)


def parse_http_date(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def newest(moments: Iterable[datetime | None], default: datetime = EPOCH) -> datetime:
    """The latest of ``moments`` (ignoring None), or ``default`` when there are none."""
    present = [as_utc(m) for m in moments if m is not None]
    return max(present) if present else default


def strong_etag(body: bytes) -> str:
    return f'"{hashlib.sha256(body).hexdigest()[:32]}"'


def version_etag(key: str, version: datetime) -> str:
    """The tag of the document ``key`` as of ``version``. The release is part of it, so a new
    release's documents (whose format may differ) are never taken for an old one's."""
    digest = hashlib.blake2b(f"{__version__}|{key}|{version.isoformat()}".encode(), digest_size=16)
    return f'"v{digest.hexdigest()}"'


def is_not_modified(headers: Mapping[str, str], *, etag: str | None, last_modified: datetime | None) -> bool:
    """RFC 9110 §13.2.2: If-None-Match wins; If-Modified-Since counts only without it."""
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        if etag is None:
            return False
        tags = [tag.strip() for tag in if_none_match.split(",")]
        # If-None-Match uses the weak comparison: W/"x" matches "x".
        return "*" in tags or any(tag.removeprefix("W/") == etag for tag in tags)
    if_modified_since = headers.get("if-modified-since")
    if if_modified_since is None or last_modified is None:
        return False
    since = parse_http_date(if_modified_since)
    return since is not None and int(as_utc(last_modified).timestamp()) <= since.timestamp()


def conditional_response(
    request: Request,
    body: bytes,
    *,
    media_type: str,
    last_modified: datetime,
    cors: bool = True,
    status_code: int = 200,
    etag: str | None = None,
) -> Response:
    """A cacheable read: 304 when the client's copy is current, the body otherwise (none
    for HEAD, with the length a GET would have). ``etag`` defaults to a hash of the body."""
    etag = etag or strong_etag(body)
    headers = {"Last-Modified": http_date(last_modified), "ETag": etag, "Cache-Control": CACHE_CONTROL}
    headers.update(edge_key_headers(request.url.path))  # what an edge purges this document by
    if cors:
        headers.update(CORS_HEADERS)
    if is_not_modified(request.headers, etag=etag, last_modified=last_modified):
        return Response(status_code=304, headers=headers)
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(body))
        return Response(b"", status_code=status_code, media_type=media_type, headers=headers)
    return Response(body, status_code=status_code, media_type=media_type, headers=headers)


def preflight_response() -> Response:
    return Response(status_code=204, headers=PREFLIGHT_HEADERS)


class PublicReads:
    """ASGI middleware for an API whose reads anyone may make from any origin.

    * OPTIONS is answered here: a CORS preflight for GET/HEAD is allowed, one for any other
      method gets no CORS headers (so the browser refuses cross-origin writes).
    * HEAD runs the GET handler and drops the body, keeping its headers.
    * Every GET/HEAD response, errors included, may be read by any origin.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        if method == "OPTIONS":
            await self._options(scope, receive, send)
            return
        if method not in READ_METHODS:
            await self.app(scope, receive, send)
            return
        head = method == "HEAD"
        if head:
            scope = {**scope, "method": "GET"}
        extra = [(k.lower().encode(), v.encode()) for k, v in CORS_HEADERS.items()]

        async def send_public(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in extra if h[0] not in present)]
            elif head and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app(scope, receive, send_public)

    async def _options(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers", []))
        requested = headers.get(b"access-control-request-method", b"").decode("latin-1").upper()
        if requested in READ_METHODS:
            response = preflight_response()
        else:
            response = Response(status_code=204, headers={"Allow": "GET, HEAD, POST, DELETE, OPTIONS"})
        await response(scope, receive, send)
