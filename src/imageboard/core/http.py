"""HTTP helpers shared by the page and API routes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import BaseRoute, Mount, Router
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


# Stands for a segment no literal route segment equals: a parameter (``{board}``), or what
# a mount's prefix leaves to its own routes.
_ANY_SEGMENT = "{"


def _route_segment(route: BaseRoute, index: int) -> str | None:
    """The route's ``index``-th path segment: a literal, ``_ANY_SEGMENT``, or None when the
    route's path has no such segment (then it cannot match a path that has one)."""
    path: str = getattr(route, "path", "") or ""
    segments = path.removeprefix("/").split("/")
    for segment in segments[: index + 1]:
        if ":path}" in segment:  # a path parameter takes the rest of the path
            return _ANY_SEGMENT
    if index >= len(segments) or (not path and index == 0):
        return _ANY_SEGMENT if isinstance(route, Mount) else None
    segment = segments[index]
    return _ANY_SEGMENT if "{" in segment else segment


def _can_match(route: BaseRoute, segments: tuple[str, ...]) -> bool:
    for index, wanted in enumerate(segments):
        found = _route_segment(route, index)
        if found is None or (found != _ANY_SEGMENT and found != wanted):
            return False
    return True


class RoutesBySegments:
    """The application's router, asked only about the routes that can match a request.

    A router tries its routes in order, each a regular expression; the site's pages come
    last, after the API, staff, media and operations routes (fixed paths must precede
    ``/{board}``), so a thread page was matched against 80 patterns — a fifth of a cached
    page's CPU. A route whose first segments are literal can only match paths that start
    with them, so requests are sorted by their first two path segments to a router of just
    the routes that can match (in the original order); a segment no route names literally
    goes to the routes with a parameter there. FastAPI's own loop runs over that list: the
    first full match, 405s, trailing-slash redirects and 404s come out as from the whole
    table. (A redirect target keeps both segments, except that of ``/b/`` and ``/b``, which
    the second level therefore leaves alone.) Every router is built at start-up, so no path
    can make the index grow."""

    def __init__(self, router: APIRouter) -> None:
        self.router = router
        self._indexed: list[BaseRoute] = []
        self._first: dict[str, tuple[APIRouter, dict[str, APIRouter]]] = {}

    def _bucket(self, routes: list[BaseRoute]) -> APIRouter:
        bucket = APIRouter(routes=routes, redirect_slashes=self.router.redirect_slashes, default=self.router.default)
        bucket.form_limits = self.router.form_limits
        return bucket

    def _index(self) -> None:
        routes = list(self.router.routes)
        firsts = {_route_segment(r, 0) for r in routes} - {None} | {_ANY_SEGMENT}
        self._first = {}
        for first in firsts:
            assert first is not None
            by_first = [r for r in routes if _can_match(r, (first,))]
            seconds = {_route_segment(r, 1) for r in by_first} - {None, ""} | {_ANY_SEGMENT}
            self._first[first] = (
                self._bucket(by_first),
                {
                    second: self._bucket([r for r in by_first if _can_match(r, (first, second))])
                    for second in seconds
                    if second is not None
                },
            )
        self._indexed = routes

    def _router_for(self, path: str) -> APIRouter:
        first, _, rest = path.removeprefix("/").partition("/")
        whole, by_second = self._first.get(first) or self._first[_ANY_SEGMENT]
        second = rest.partition("/")[0]
        if not second:
            return whole
        return by_second.get(second) or by_second[_ANY_SEGMENT]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.router.app(scope, receive, send)
            return
        if self.router.routes != self._indexed:  # routes added after start-up (tests do)
            self._index()
        scope.setdefault("router", self.router)  # url_for resolves against the whole table
        await self._router_for(_route_path(scope)).app(scope, receive, send)


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
    """Route requests through :class:`RoutesBySegments` (call once the routes are added)."""
    router: APIRouter = app.router
    router.middleware_stack = RoutesBySegments(router)
