"""Routing by the first path segments (core.http.RoutesBySegments) picks exactly the route the
whole table would: checked for every route's own path, with and without a trailing slash,
and for paths no route has."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from starlette.routing import BaseRoute, Match

from imageboard.app import create_app
from imageboard.boards import BoardSpec, BoardsService
from imageboard.config import Settings
from imageboard.core.db import Database
from imageboard.core.http import RoutesBySegments

SAMPLE_VALUES = {"board": "b", "no": "123", "page": "2", "name": "123.png", "slug": "a-slug", "action": "sticky"}
EXTRA_PATHS = [
    "/", "", "/b", "/b/", "/nope", "/nope/", "/b/thread/abc", "/b/thread/1/extra/more", "//", "/staff",
    "/staff/", "/static", "/static/", "/api", "/api/v1", "/api/v1/boards", "/media/b/1s.jpg", "/b/catalog.json",
    "/healthz/", "/b/2", "/b/2/", "/b/thread/5.json", "/sfw/", "/all/", "/search", "/b/report/9", "/{/x", "/b/{",
    "/api/zzz", "/static/zzz/y", "/staff/zzz", "/b/thread", "/b/thread/",
]  # fmt: skip


def _fill(template: str) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: SAMPLE_VALUES.get(m.group(1), "x"), template)


def _select(routes: list[BaseRoute], path: str, method: str) -> tuple[BaseRoute | None, Match]:
    """The router's choice: the first full match, else the first partial one."""
    scope = {"type": "http", "path": path, "root_path": "", "method": method, "headers": []}
    partial = None
    for route in routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return route, match
        if match == Match.PARTIAL and partial is None:
            partial = route
    return (partial, Match.PARTIAL) if partial is not None else (None, Match.NONE)


@pytest.fixture
def app_routes(tmp_path: Path) -> tuple[RoutesBySegments, list[BaseRoute]]:
    app = create_app(Settings(data_dir=tmp_path, secret_key="test-secret", environment="development"))
    index = app.router.middleware_stack
    assert isinstance(index, RoutesBySegments)
    index._index()
    return index, list(app.router.routes)


def test_every_path_goes_to_the_route_the_whole_table_picks(
    app_routes: tuple[RoutesBySegments, list[BaseRoute]],
) -> None:
    index, routes = app_routes
    paths = set(EXTRA_PATHS)
    for route in routes:
        template = getattr(route, "path", None)
        if template:
            filled = _fill(template)
            paths |= {filled, filled.rstrip("/") or "/", filled + "/", filled + "/x"}
            first, _, rest = filled.removeprefix("/").partition("/")
            if rest:  # the same first segment with a second one no route names
                paths |= {f"/{first}/zzz", f"/{first}/zzz/{rest}", f"/{first}/{{"}
    assert len(paths) > 150
    for path in sorted(paths):
        candidates = list(index._router_for(path).routes)
        for method in ("GET", "POST", "DELETE"):
            assert _select(candidates, path, method) == _select(routes, path, method), (path, method)


def test_the_thread_page_is_not_matched_against_the_whole_table(
    app_routes: tuple[RoutesBySegments, list[BaseRoute]],
) -> None:
    index, routes = app_routes
    assert len(index._router_for("/b/thread/123").routes) < len(routes) / 8


async def test_answers_are_the_same_as_without_the_index(settings: Settings, sqlite_database: Database) -> None:
    """404s, trailing-slash redirects, 405s and pages, through the whole stack."""
    await BoardsService(sqlite_database, secret=b"x").create_board(
        BoardSpec(uri="b", title="Random", require_file=False)
    )
    app = create_app(settings, database=sqlite_database)
    requests = [("GET", p) for p in EXTRA_PATHS if p] + [("DELETE", "/b/post"), ("PUT", "/b/"), ("POST", "/healthz")]

    async def answers() -> list[tuple[int, str | None]]:
        seen = []
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
            for method, path in requests:
                response = await client.request(method, path)
                seen.append((response.status_code, response.headers.get("location")))
        return seen

    indexed = await answers()
    app.router.middleware_stack = app.router.app  # the plain router
    plain = await answers()
    assert indexed == plain
    assert {status for status, _ in plain} >= {200, 404, 405, 307}
