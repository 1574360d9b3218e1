"""One call wires observability into the application: ``install_observability``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from fastapi import FastAPI

from imageboard import __version__
from imageboard.observability.database import instrument_database
from imageboard.observability.health import BoardLister, HasEngines, ReadinessCheck, build_ops_router
from imageboard.observability.logging import configure_logging
from imageboard.observability.metrics import mark_dead, set_build_info
from imageboard.observability.middleware import RequestObservability
from imageboard.observability.sentry import flush_sentry, setup_sentry
from imageboard.observability.tracing import setup_tracing, shutdown_tracing

__all__ = ["Observability", "ObservabilitySettings", "install_observability"]


class ObservabilitySettings(Protocol):
    """The settings observability reads (fields of ``imageboard.config.Settings``)."""

    @property
    def environment(self) -> str: ...

    @property
    def data_dir(self) -> Path: ...

    @property
    def log_format(self) -> str: ...

    @property
    def log_level(self) -> str: ...

    @property
    def log_ips(self) -> bool: ...

    @property
    def otlp_endpoint(self) -> str: ...

    @property
    def trace_sample_ratio(self) -> float: ...

    @property
    def sentry_dsn(self) -> str: ...


class _DropUvicornTraceback(logging.Filter):
    """The request middleware logs every unhandled exception with its request ID; uvicorn's
    second copy of the traceback (without one) is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name == "uvicorn.error" and str(record.msg).startswith("Exception in ASGI application"))


@dataclass
class Observability:
    log_format: str
    tracing: bool
    sentry: bool
    role: str

    async def shutdown(self) -> None:
        """Flush spans and error events and forget this process's live gauges. Call when the
        application stops (end of the lifespan)."""
        await asyncio.to_thread(shutdown_tracing)
        await asyncio.to_thread(flush_sentry)
        mark_dead()


def install_observability(
    app: FastAPI,
    settings: ObservabilitySettings,
    *,
    database: HasEngines,
    boards: BoardLister | None = None,
    checks: Mapping[str, ReadinessCheck] | None = None,
    role: str | None = None,
) -> Observability:
    """Logs, metrics, tracing, Sentry and the ``/healthz``, ``/readyz``, ``/metrics`` routes.

    Call it at the end of ``create_app``, after every other ``add_middleware``: its request
    middleware must wrap them all. The ops routes are put first in the route table (before
    ``/{board}``, which would otherwise take ``/metrics``). Idempotent per application.
    """
    existing = getattr(app.state, "observability", None)
    if isinstance(existing, Observability):
        return existing
    chosen_role = role or str(getattr(settings, "role", "all"))
    log_format = configure_logging(settings)
    uvicorn_error = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DropUvicornTraceback) for f in uvicorn_error.filters):
        uvicorn_error.addFilter(_DropUvicornTraceback())
    sentry = setup_sentry(settings, release=__version__, role=chosen_role)
    instrument_database(database)
    set_build_info(__version__, chosen_role)

    ops = build_ops_router(database=database, boards=boards, data_dir=settings.data_dir, checks=checks)
    app.router.routes[:0] = ops.routes
    app.add_middleware(RequestObservability, log_ips=settings.log_ips)
    tracing = setup_tracing(settings, app=app, database=database, version=__version__, role=chosen_role)
    state = Observability(log_format=log_format, tracing=tracing, sentry=sentry, role=chosen_role)
    app.state.observability = state
    return state
