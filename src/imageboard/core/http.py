"""HTTP helpers shared by the page and API routes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import BaseRoute, Router
from starlette.types import Receive, Scope, Send


def client_ip(request: Request) -> str | None:
    """The address of the peer that sent the request."""
    return request.client.host if request.client else None


def wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def safe_local_url(candidate: str | None, fallback: str = "/") -> str:
    """Only same-site paths may be redirect or back-link targets (no open redirects)."""
    if not candidate or not candidate.startswith("/") or candidate.startswith("//") or "\\" in candidate:
        return fallback
    return candidate


def add_routes(app: Starlette, router: Router) -> None:
    """Append a router's routes to the application's own table, in order.

    Instead of ``include_router``: FastAPI wraps each included router in a layer that matches
    a request against all of that router's routes, then again to dispatch it, for every
    router ahead of the one that takes the request — a third of the CPU of a cached page
    went to finding its route. The routes are the same objects (paths already carry a
    router's prefix), so nothing else changes.
    """
    app.router.routes.extend(router.routes)


# A first path segment no literal route has: the bucket of the routes that start with a
# parameter (``/{board}/...``), which every other bucket also holds.
_ANY_SEGMENT = "{"


def _first_segment(route: BaseRoute) -> str:
    path: str = getattr(route, "path", "") or ""
    first = path.removeprefix("/").split("/", 1)[0]
    return _ANY_SEGMENT if "{" in first else first


class RoutesByFirstSegment:
    """The application's router, asked only about the routes that can match a request.

    A router tries its routes in order, each a regular expression; the site's pages come
    last, after the API, staff, media and operations routes (fixed paths must precede
    ``/{board}``), so a thread page was matched against 80 patterns — a fifth of a cached
    page's CPU. A route whose path starts with a literal segment can only match paths with
    that first segment, so each first segment gets a router of just the routes that can
    match it — those starting with it and those starting with a parameter — in the original
    order. FastAPI's own loop runs over that list: the first full match, 405s, trailing-slash
    redirects and 404s come out exactly as from the whole table (a redirect target has the
    same first segment)."""

    def __init__(self, router: APIRouter) -> None:
        self.router = router
        self._indexed: list[BaseRoute] = []
        self._buckets: dict[str, APIRouter] = {}

    def _bucket(self, routes: list[BaseRoute]) -> APIRouter:
        bucket = APIRouter(routes=routes, redirect_slashes=self.router.redirect_slashes, default=self.router.default)
        bucket.form_limits = self.router.form_limits
        return bucket

    def _index(self) -> None:
        routes = list(self.router.routes)
        segments = {_first_segment(route) for route in routes} | {_ANY_SEGMENT}
        self._buckets = {
            segment: self._bucket([r for r in routes if _first_segment(r) in (segment, _ANY_SEGMENT)])
            for segment in segments
        }
        self._indexed = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.router.app(scope, receive, send)
            return
        if self.router.routes != self._indexed:  # routes added after start-up (tests do)
            self._index()
        first = _route_path(scope).removeprefix("/").split("/", 1)[0]
        scope.setdefault("router", self.router)  # url_for resolves against the whole table
        await self._buckets.get(first, self._buckets[_ANY_SEGMENT]).app(scope, receive, send)


def _route_path(scope: Scope) -> str:
    """The path the routes match against: without the ASGI root path (as Starlette does)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if not root or not path.startswith(root):
        return path
    if path == root:
        return ""
    return path[len(root) :] if path[len(root)] == "/" else path


def index_routes(app: Any) -> None:
    """Route requests through :class:`RoutesByFirstSegment` (call once the routes are added)."""
    router: APIRouter = app.router
    router.middleware_stack = RoutesByFirstSegment(router)
