"""Operations: Prometheus metrics, OpenTelemetry tracing, structured logs, Sentry, and the
``/healthz``, ``/readyz`` and ``/metrics`` endpoints.

The application calls :func:`install_observability` once at the end of ``create_app``;
the ``serve`` command calls :func:`prepare_multiprocess_dir` before its workers start and
:func:`configure_logging` so its own lines are formatted like the workers'.

Names are imported lazily: importing this package must not import prometheus-client
before ``prepare_multiprocess_dir`` has set ``PROMETHEUS_MULTIPROC_DIR``, and must not
import OpenTelemetry or Sentry at all unless they are configured.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from imageboard.observability.multiproc import multiprocess_dir, prepare_multiprocess_dir

if TYPE_CHECKING:
    from imageboard.observability import metrics
    from imageboard.observability.health import (
        ReadinessCheck,
        build_ops_router,
        database_check,
        nats_check,
        redis_check,
        storage_check,
    )
    from imageboard.observability.logging import bound, configure_logging, current_request_id
    from imageboard.observability.middleware import RequestObservability
    from imageboard.observability.sentry import setup_sentry
    from imageboard.observability.setup import Observability, ObservabilitySettings, install_observability
    from imageboard.observability.tracing import continue_trace, inject_context, setup_tracing, traced

__all__ = [
    "Observability",
    "ObservabilitySettings",
    "ReadinessCheck",
    "RequestObservability",
    "bound",
    "build_ops_router",
    "configure_logging",
    "continue_trace",
    "current_request_id",
    "database_check",
    "inject_context",
    "install_observability",
    "metrics",
    "multiprocess_dir",
    "nats_check",
    "prepare_multiprocess_dir",
    "redis_check",
    "setup_sentry",
    "setup_tracing",
    "storage_check",
    "traced",
]

_WHERE = {
    "metrics": "",
    "ReadinessCheck": "health",
    "build_ops_router": "health",
    "database_check": "health",
    "nats_check": "health",
    "redis_check": "health",
    "storage_check": "health",
    "bound": "logging",
    "configure_logging": "logging",
    "current_request_id": "logging",
    "RequestObservability": "middleware",
    "setup_sentry": "sentry",
    "Observability": "setup",
    "ObservabilitySettings": "setup",
    "install_observability": "setup",
    "continue_trace": "tracing",
    "inject_context": "tracing",
    "setup_tracing": "tracing",
    "traced": "tracing",
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if where == "":
        return importlib.import_module(f"{__name__}.{name}")
    return getattr(importlib.import_module(f"{__name__}.{where}"), name)
