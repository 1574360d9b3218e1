"""HTTP helpers shared by the page and API routes."""

from __future__ import annotations

from starlette.requests import Request


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
