"""ASGI middleware written against the raw protocol: it runs on every request, so it stays
small and allocation-light."""

from __future__ import annotations

import json
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imageboard.core.db import read_from_primary

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:{media}; "
    "media-src 'self' blob:{media}; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)


class SecurityHeaders:
    """Headers every response carries; HSTS only when the request came over HTTPS."""

    def __init__(self, app: ASGIApp, *, media_origin: str = "") -> None:
        self.app = app
        policy = CONTENT_SECURITY_POLICY.format(media=f" {media_origin}" if media_origin else "")
        self.headers = [
            (b"content-security-policy", policy.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.headers if k not in present]
                if https:
                    extra.append((b"strict-transport-security", b"max-age=63072000; includeSubDomains"))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodySizeLimit:
    """Refuse request bodies over the limit before they are read into memory or disk, both
    when Content-Length announces them and when a chunked body grows past it."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _refuse(send, 400, "bad_request", "The Content-Length header is not a number.")
                    return
                if declared > self.max_bytes:
                    await _refuse(send, 413, "too_large", self._message())
                    return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _refuse(send, 413, "too_large", self._message())

    def _message(self) -> str:
        return f"The request is too large: at most {self.max_bytes // (1024 * 1024)} MiB may be sent at once."


class _TooLarge(Exception):
    pass


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message, "field": None}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class SameOriginWrites:
    """Refuse state-changing requests that a browser sent from another site.

    Browsers label every request with ``Sec-Fetch-Site`` and cross-origin writes with
    ``Origin``; a forged form on another site carries one of them, so it is refused here
    before any form is parsed. Clients that are not browsers (4chan apps, scripts) send
    neither and pass; forms of signed-in staff also carry a per-session token.
    """

    def __init__(self, app: ASGIApp, *, exempt_prefixes: tuple[str, ...] = ()) -> None:
        self.app = app
        self.exempt_prefixes = exempt_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in UNSAFE_METHODS
            or scope["path"].startswith(self.exempt_prefixes)
        ):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        fetch_site = headers.get(b"sec-fetch-site", b"").decode("latin-1")
        origin = headers.get(b"origin", b"").decode("latin-1")
        host = headers.get(b"host", b"").decode("latin-1")
        cross_site = fetch_site == "cross-site" or (
            bool(origin) and origin != "null" and origin.split("://", 1)[-1] != host
        )
        if origin == "null" or cross_site:
            await _refuse(
                send,
                403,
                "cross_site",
                "This form was sent from another website, so it was refused. Post from this site's own pages.",
            )
            return
        await self.app(scope, receive, send)


WROTE_COOKIE = b"ib_wrote"


class ReadYourWrites:
    """Route a client's reads to the primary for a few seconds after it wrote (the post
    handlers set a short-lived cookie holding the time until which that holds)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            recent = False
            for name, value in scope.get("headers", []):
                if name == b"cookie" and WROTE_COOKIE in value:
                    recent = _wrote_recently(value)
                    break
            read_from_primary.set(recent)
        await self.app(scope, receive, send)


def _wrote_recently(header: bytes) -> bool:
    for part in header.split(b";"):
        key, _, value = part.strip().partition(b"=")
        if key == WROTE_COOKIE:
            try:
                return float(value) > time.time()
            except ValueError:
                return False
    return False
