"""OpenTelemetry tracing, exported by OTLP/HTTP when ``IMAGEBOARD_OTLP_ENDPOINT`` is set.

Nothing of OpenTelemetry is imported unless tracing is configured (the SDK, exporter and
instrumentations cost ~4.4 MB per process); :func:`traced` and the context helpers are
no-ops then, so other parts can wrap their work in spans unconditionally:

    with traced("media.thumbnail", **{"media.kind": "image"}):
        ...

What is traced once configured: every HTTP request (server span named after the route
template, with its status), every SQL statement (SQLAlchemy instrumentation, both engines),
and whatever code wraps in :func:`traced` — the media context's probing and thumbnailing.
Redis and NATS: when those adapters land, call ``RedisInstrumentor().instrument()`` (package
``opentelemetry-instrumentation-redis``) from :func:`setup_tracing` when Redis is configured,
and carry the context in NATS message headers with :func:`inject_context` on publish and
:func:`continue_trace` on consume (there is no maintained NATS instrumentation).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any, Protocol

from imageboard.core.sqlite_writer import SqliteDirect

__all__ = [
    "continue_trace",
    "current_trace_ids",
    "inject_context",
    "setup_tracing",
    "shutdown_tracing",
    "traced",
    "tracing_enabled",
]

log = logging.getLogger(__name__)
EXCLUDED_URLS = "/healthz,/readyz,/metrics,/static/"
_provider: Any = None


class TracingSettings(Protocol):
    @property
    def environment(self) -> str: ...

    @property
    def otlp_endpoint(self) -> str: ...

    @property
    def trace_sample_ratio(self) -> float: ...


class HasEngines(Protocol):
    @property
    def write_engine(self) -> Any: ...

    @property
    def sqlite_direct(self) -> SqliteDirect | None: ...

    @property
    def read_engine(self) -> Any: ...


def tracing_enabled() -> bool:
    return _provider is not None


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL for a collector base URL (``http://jaeger:4318``)."""
    base = endpoint.rstrip("/")
    return base if base.endswith("/v1/traces") else f"{base}/v1/traces"


def setup_tracing(
    settings: TracingSettings,
    *,
    app: Any = None,
    database: HasEngines | None = None,
    service_name: str = "imageboard",
    version: str = "",
    role: str = "all",
) -> bool:
    """Configure tracing for this process when an endpoint is set; True if it is on."""
    global _provider
    if not settings.otlp_endpoint:
        return False
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    if _provider is None:
        resource = Resource.create(
            {
                "service.name": service_name if role == "all" else f"{service_name}-{role}",
                "service.namespace": service_name,
                "service.version": version,
                "deployment.environment.name": settings.environment,
                "imageboard.role": role,
            }
        )
        sampler = ParentBased(TraceIdRatioBased(settings.trace_sample_ratio))
        provider = TracerProvider(resource=resource, sampler=sampler)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_url(settings.otlp_endpoint))))
        trace.set_tracer_provider(provider)
        _provider = provider
    if database is not None:
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        instrumentor = SQLAlchemyInstrumentor()
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(
                engines=[database.write_engine.sync_engine, database.read_engine.sync_engine],
                tracer_provider=_provider,
                enable_commenter=False,
                # It declares "sqlalchemy < 2.1" and otherwise refuses silently; it only uses
                # engine events, which 2.1 keeps (tests/integration/observability checks the spans).
                skip_dep_check=True,
            )
        if database.sqlite_direct is not None:
            # Statements run straight on SQLite would have no span: with tracing on, every
            # statement goes through SQLAlchemy, at the cost the traces are there to show.
            database.sqlite_direct.enabled = False
    if app is not None:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(
            app, tracer_provider=_provider, excluded_urls=EXCLUDED_URLS, exclude_spans=["receive", "send"]
        )
    log.info("tracing to %s", traces_url(settings.otlp_endpoint))
    return True


def shutdown_tracing() -> None:
    """Export the spans still queued (call when the process stops)."""
    global _provider
    if _provider is not None:
        _provider.shutdown()
        _provider = None


def current_trace_ids() -> tuple[str, str] | None:
    """The (trace ID, span ID) of the current span, hex, or None when there is none."""
    if _provider is None:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


@contextlib.contextmanager
def traced(name: str, **attributes: str | int | float | bool) -> Iterator[Any]:
    """A span around a block (its exceptions are recorded on it); nothing when tracing is off.
    Yields the span (or None) so the block can add attributes."""
    if _provider is None:
        yield None
        return
    from opentelemetry import trace

    with trace.get_tracer("imageboard").start_as_current_span(name, attributes=attributes) as span:
        yield span


def inject_context(carrier: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """Write the current trace context into message headers (W3C ``traceparent``)."""
    if _provider is not None:
        from opentelemetry import propagate

        propagate.inject(carrier)
    return carrier


@contextlib.contextmanager
def continue_trace(name: str, carrier: Mapping[str, str], **attributes: str | int | float | bool) -> Iterator[Any]:
    """A consumer span that continues the trace whose context a message carried."""
    if _provider is None:
        yield None
        return
    from opentelemetry import propagate, trace

    parent = propagate.extract(dict(carrier))
    tracer = trace.get_tracer("imageboard")
    kind = trace.SpanKind.CONSUMER
    with tracer.start_as_current_span(name, context=parent, kind=kind, attributes=attributes) as span:
        yield span
