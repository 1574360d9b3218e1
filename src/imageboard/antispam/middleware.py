"""Pure-ASGI middleware of the anti-spam context.

``ClientAddress`` replaces the peer address in the ASGI scope by the client's, read from
``X-Forwarded-For`` / ``X-Real-IP`` only when the peer is a trusted proxy; everything after it
(``request.client.host``, the rate limits, moderation) sees the real client. ``ReadRateLimit``
counts GET/HEAD requests per client and answers 429 with ``Retry-After`` past the limit.

``FloodGate`` refuses at the door the posts of a client that keeps posting after being told
to wait. Both answer their refusals after a short pause (``Tarpit``), so a client that
ignores 429s is slowed to about one answer a second per connection.

Order in create_app (the last added runs first): ReadRateLimit and FloodGate, then
ClientAddress, then SecurityHeaders, so a refusal still carries the security headers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from html import escape

import anyio
from starlette.types import ASGIApp, Receive, Scope, Send

from imageboard.antispam.clientip import IPNetwork, TrustedProxies, resolve_client_ip
from imageboard.antispam.errors import RateLimited
from imageboard.antispam.service import AntispamService

READ_METHODS = frozenset({"GET", "HEAD"})


class Tarpit:
    """Answers refusals after a pause. A client that ignores 429s and asks again at once —
    a flooder — then gets about one answer per ``delay`` seconds per connection instead of
    hundreds, and costs the server next to nothing. At most ``max_waiting`` refusals wait at
    once (a pending answer is cheap, but not free); past that they are answered at once."""

    def __init__(self, delay: float = 1.0, max_waiting: int = 256) -> None:
        self.delay = delay
        self.max_waiting = max_waiting
        self.waiting = 0

    async def refuse(self, scope: Scope, send: Send, exc: RateLimited) -> None:
        if self.delay > 0 and self.waiting < self.max_waiting:
            self.waiting += 1
            try:
                await anyio.sleep(min(self.delay, exc.retry_after))
            finally:
                self.waiting -= 1
        await refuse(scope, send, exc)


class ClientAddress:
    def __init__(self, app: ASGIApp, *, trusted: Iterable[str | IPNetwork] | TrustedProxies) -> None:
        self.app = app
        self.trusted = trusted if isinstance(trusted, TrustedProxies) else TrustedProxies(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.trusted:
            client = scope.get("client")
            peer = client[0] if client else ""
            forwarded: list[str] = []
            real = ""
            for name, value in scope.get("headers", []):
                if name == b"x-forwarded-for":
                    forwarded.append(value.decode("latin-1"))
                elif name == b"x-real-ip":
                    real = value.decode("latin-1")
            headers = {"x-forwarded-for": ", ".join(forwarded), "x-real-ip": real}
            address = resolve_client_ip(peer, headers, self.trusted)
            if address != peer:
                scope = {**scope, "client": (address, client[1] if client else 0)}
        await self.app(scope, receive, send)


class ReadRateLimit:
    def __init__(
        self,
        app: ASGIApp,
        *,
        antispam: AntispamService,
        exempt_prefixes: tuple[str, ...] = ("/static/",),
        tarpit: Tarpit | None = None,
    ) -> None:
        self.app = app
        self.antispam = antispam
        self.exempt_prefixes = exempt_prefixes
        self.tarpit = tarpit or Tarpit()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in READ_METHODS
            and self.antispam.enabled
            and not scope["path"].startswith(self.exempt_prefixes)
        ):
            client = scope.get("client")
            try:
                await self.antispam.check_read(client[0] if client else "")
            except RateLimited as exc:
                await self.tarpit.refuse(scope, send, exc)
                return
        await self.app(scope, receive, send)


class FloodGate:
    """Refuses, before the body is read, the posts of a client that keeps posting after
    being refused (``AntispamService.check_gate``): a flooder costs the server next to
    nothing, so everyone else is still served. Applies to POSTs whose path ends with one of
    ``post_suffixes`` (the post form's ``/<board>/post``)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        antispam: AntispamService,
        post_suffixes: tuple[str, ...] = ("/post",),
        tarpit: Tarpit | None = None,
    ) -> None:
        self.app = app
        self.antispam = antispam
        self.post_suffixes = post_suffixes
        self.tarpit = tarpit or Tarpit()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and self.antispam.enabled
            and scope["path"].endswith(self.post_suffixes)
        ):
            client = scope.get("client")
            try:
                await self.antispam.check_gate(client[0] if client else "")
            except RateLimited as exc:
                await self.tarpit.refuse(scope, send, exc)
                return
        await self.app(scope, receive, send)


async def refuse(scope: Scope, send: Send, exc: RateLimited) -> None:
    """A 429 answer in the form the client asked for (JSON for API clients, else HTML)."""
    accept = ""
    for name, value in scope.get("headers", []):
        if name == b"accept":
            accept = value.decode("latin-1")
            break
    api = scope.get("path", "").startswith("/api/") or scope.get("path", "").endswith(".json")
    if api or ("application/json" in accept and "text/html" not in accept):
        body = json.dumps({"error": {"code": exc.code, "message": exc.message, "field": None}}).encode()
        content_type = b"application/json"
    else:
        body = (
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Too many requests</title></head>"
            f"<body><main><h1>Too many requests</h1><p>{escape(exc.message)}</p></main></body></html>"
        ).encode()
        content_type = b"text/html; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(exc.retry_after).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body if scope["method"] != "HEAD" else b""})
