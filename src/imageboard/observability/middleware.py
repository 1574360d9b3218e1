"""The request middleware: request IDs, HTTP metrics and the access log, in one pass.

Add it last in ``create_app`` so it wraps every other middleware and sees every answer
(413s of the body limit included). Written against raw ASGI: it runs on every request.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imageboard.observability.logging import request_id_var
from imageboard.observability.metrics import (
    HTTP_EXCEPTIONS,
    HTTP_IN_PROGRESS,
    HTTP_REQUEST_BODY_BYTES,
    HTTP_REQUEST_DURATION,
    HTTP_REQUESTS,
)

access_log = logging.getLogger("imageboard.access")
log = logging.getLogger(__name__)

REQUEST_ID_HEADER = b"x-request-id"
_VALID_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{8,64}")
_CONVERTOR = re.compile(r":[a-z]+}")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
_templates: dict[str, str] = {}


def route_template(scope: Scope, root_path: str = "") -> str:
    """The matched route's path template (``/{board}/thread/{no}``), never the raw path, so
    label values stay few; ``unmatched`` when no route matched.

    Called after the application handled the request: the router leaves the route in the
    scope, and a mount (``/api/v1``, ``/static``) extends ``root_path`` by its prefix (the
    argument is the ``root_path`` the request arrived with)."""
    current = scope.get("root_path", "")
    prefix = current[len(root_path) :] if isinstance(current, str) and current.startswith(root_path) else ""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return f"{prefix}/{{path}}" if prefix else "unmatched"
    key = prefix + path
    template = _templates.get(key)
    if template is None:
        template = _templates.setdefault(key, _CONVERTOR.sub("}", key) or "/")
    return template


class RequestObservability:
    def __init__(self, app: ASGIApp, *, log_ips: bool = False, quiet_paths: frozenset[str] = QUIET_PATHS) -> None:
        self.app = app
        self.log_ips = log_ips
        self.quiet_paths = quiet_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        root_path = scope.get("root_path", "")
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        incoming = next((value for name, value in scope.get("headers", []) if name == REQUEST_ID_HEADER), b"")
        request_id = incoming.decode() if _VALID_REQUEST_ID.fullmatch(incoming) else secrets.token_hex(16)
        token = request_id_var.set(request_id)
        header = (REQUEST_ID_HEADER, request_id.encode())
        state: dict[str, Any] = {"status": 500, "started": False, "received": 0, "sent": 0}

        async def counting_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
            return message

        async def tagging_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                state["started"] = True
                message["headers"] = [*message.get("headers", []), header]
            elif message["type"] == "http.response.body":
                state["sent"] += len(message.get("body", b""))
            await send(message)

        in_progress = HTTP_IN_PROGRESS.labels(method)
        in_progress.inc()
        failure: BaseException | None = None
        try:
            await self.app(scope, counting_receive, tagging_send)
        except asyncio.CancelledError:
            if not state["started"]:
                state["status"] = 499  # the client went away first (NGINX's code for it)
            raise
        except Exception as exc:
            failure = exc
            if not state["started"]:
                state["status"] = 500
            raise
        finally:
            in_progress.dec()
            elapsed = time.perf_counter() - started
            route = route_template(scope, root_path)
            status = state["status"]
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_REQUEST_DURATION.labels(method, route).observe(elapsed)
            if method in _BODY_METHODS:
                HTTP_REQUEST_BODY_BYTES.labels(method, route).observe(state["received"])
            if failure is not None:
                HTTP_EXCEPTIONS.labels(route, type(failure).__name__).inc()
            if scope["path"] not in self.quiet_paths or status >= 500:
                self._log(scope, method, route, status, elapsed, state, failure)
            request_id_var.reset(token)

    def _log(
        self,
        scope: Scope,
        method: str,
        route: str,
        status: int,
        elapsed: float,
        state: dict[str, Any],
        failure: BaseException | None,
    ) -> None:
        fields: dict[str, Any] = {
            "event.dataset": "imageboard.access",
            "http.request.method": method,
            "url.path": scope["path"],
            "http.route": route,
            "http.response.status_code": status,
            "http.request.body.bytes": state["received"],
            "http.response.body.bytes": state["sent"],
            "event.duration": int(elapsed * 1e9),
            "duration_ms": round(elapsed * 1000, 2),
        }
        if self.log_ips:
            client = scope.get("client")
            if client:
                fields["client.ip"] = client[0]
            agent = next((v for k, v in scope.get("headers", []) if k == b"user-agent"), None)
            if agent:
                fields["user_agent.original"] = agent.decode("latin-1")[:512]
        level = logging.ERROR if failure is not None else logging.WARNING if status >= 500 else logging.INFO
        access_log.log(
            level,
            "%s %s %d",
            method,
            scope["path"],
            status,
            extra={"fields": fields},
            exc_info=(type(failure), failure, failure.__traceback__) if failure is not None else None,
        )
