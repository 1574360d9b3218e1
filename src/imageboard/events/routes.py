"""HTTP side of the events context: the realtime role's application (SSE + health)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.responses import PlainTextResponse, Response

from imageboard import __version__
from imageboard.config import Settings, load_settings
from imageboard.core.heap import freeze_startup_objects
from imageboard.core.http import add_routes
from imageboard.events.runtime import EventsRuntime
from imageboard.events.settings import EventSettings
from imageboard.events.sse import SseGateway


def sse_gateway(runtime: EventsRuntime, **options: Any) -> SseGateway:
    """The SSE gateway over a runtime's hub, with the caps from its settings."""
    if runtime.hub is None:
        raise RuntimeError(f"the {runtime.role} role has no live hub")
    events = runtime.events
    settings: dict[str, Any] = {
        "heartbeat": events.sse_heartbeat,
        "max_per_client": events.sse_max_per_client,
        "max_total": events.sse_max_total,
    }
    settings.update(options)
    return SseGateway(runtime.hub, **settings)


def build_realtime_app(
    settings: Settings, events: EventSettings | None = None, *, runtime: EventsRuntime | None = None
) -> FastAPI:
    runtime = runtime or EventsRuntime(settings, events, role="realtime")
    gateway = sse_gateway(runtime)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop(grace=5.0)

    app = FastAPI(
        title=f"{settings.site_name} live updates",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.events = runtime
    app.state.sse = gateway
    add_routes(app, gateway.router())

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> Response:
        ok = runtime.healthy()
        return PlainTextResponse("ok\n" if ok else "down\n", status_code=200 if ok else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        text = runtime.metrics() + f"imageboard_sse_connections {gateway.total}\n"
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    return app


def realtime_application() -> FastAPI:
    """Factory for ASGI servers: ``uvicorn --factory imageboard.events.routes:realtime_application``."""
    app = build_realtime_app(load_settings())
    freeze_startup_objects()
    return app
