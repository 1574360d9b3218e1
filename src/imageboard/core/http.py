"""HTTP helpers shared by the page and API routes."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Router


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
