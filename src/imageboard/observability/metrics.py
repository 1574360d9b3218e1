"""Every Prometheus metric of the site, in one place.

Correct with several worker processes: when ``PROMETHEUS_MULTIPROC_DIR`` is set (the
``serve`` command sets it before its workers start, see :mod:`.multiproc`), each process
writes its samples to files there and :func:`render` merges the files of all processes.
Without it, samples live in this process's memory and process metrics (RSS, CPU, open
files) are exported as well.

Who updates what:

| metric | updated by | exposed |
| --- | --- | --- |
| ``imageboard_http_*`` | :class:`~.middleware.RequestObservability`, every request | now |
| ``imageboard_db_query_*``, ``imageboard_db_pool_*`` | :func:`instrument_database` (SQLAlchemy events) | now |
| ``imageboard_board_posts_total`` | read from the database at scrape time (``boards.last_post_no``) | now |
| ``imageboard_disk_*`` | read at scrape time (free space of the data directory) | now |
| ``imageboard_build_info`` | :func:`set_build_info` at start-up | now |
| ``imageboard_event_bus_lag_seconds``, ``imageboard_events_published_total`` | the ``events`` context | on enable() |
| ``imageboard_worker_job_*`` | the ``worker`` role's job runner | idem |
| ``imageboard_sse_connections`` | the ``realtime`` role's SSE gateway | idem |
| ``imageboard_cache_requests_total`` | the page cache (``core.cache``) adapters | idem |
| ``imageboard_upload_file_bytes``, ``imageboard_thumbnail_duration_seconds`` | the ``media`` context | idem |

The metrics of parts that do not record yet are defined here (so their names, labels and
buckets are settled and the dashboard and alerts can use them) but not registered: a
metric nothing updates would be a lie of zeros. The owner calls ``enable(METRIC)`` once at
start-up when it begins recording. All of them carry labels, so in multi-process mode they
appear only once something recorded a sample.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from imageboard.observability.multiproc import multiprocess_dir

__all__ = [
    "CACHE_REQUESTS",
    "CONTENT_TYPE",
    "DB_POOL_CAPACITY",
    "DB_POOL_CHECKED_OUT",
    "DB_POOL_OPEN",
    "DB_QUERY_DURATION",
    "DB_QUERY_ERRORS",
    "EVENTS_PUBLISHED",
    "EVENT_BUS_LAG",
    "HTTP_EXCEPTIONS",
    "HTTP_IN_PROGRESS",
    "HTTP_REQUESTS",
    "HTTP_REQUEST_BODY_BYTES",
    "HTTP_REQUEST_DURATION",
    "REGISTRY",
    "SSE_CONNECTIONS",
    "THUMBNAIL_DURATION",
    "UPLOAD_FILE_BYTES",
    "WORKER_JOBS",
    "WORKER_JOB_DURATION",
    "enable",
    "mark_dead",
    "render",
    "set_build_info",
]

CONTENT_TYPE = CONTENT_TYPE_LATEST
REGISTRY = CollectorRegistry(auto_describe=True)
if multiprocess_dir() is None:
    ProcessCollector(registry=REGISTRY)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
QUERY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
SIZE_BUCKETS = tuple(float(1024 * 4**i) for i in range(11))  # 1 KiB … 1 GiB
JOB_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0)

# --- HTTP (recorded by the request middleware) ------------------------------------------
HTTP_REQUESTS = Counter(
    "imageboard_http_requests",
    "HTTP requests answered, by route template and status code.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_REQUEST_DURATION = Histogram(
    "imageboard_http_request_duration_seconds",
    "Time from receiving a request to the end of its response, by route template.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
HTTP_IN_PROGRESS = Gauge(
    "imageboard_http_requests_in_progress",
    "Requests being handled right now.",
    ["method"],
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
HTTP_EXCEPTIONS = Counter(
    "imageboard_http_exceptions",
    "Requests that ended in an unhandled exception (answered 500), by exception type.",
    ["route", "type"],
    registry=REGISTRY,
)
HTTP_REQUEST_BODY_BYTES = Histogram(
    "imageboard_http_request_body_bytes",
    "Bytes of request bodies received (form posts and uploads), by route template.",
    ["method", "route"],
    buckets=SIZE_BUCKETS,
    registry=REGISTRY,
)

# --- Database (recorded by SQLAlchemy event listeners) -----------------------------------
DB_QUERY_DURATION = Histogram(
    "imageboard_db_query_duration_seconds",
    "Time the database took to execute a statement, by engine (write/read) and SQL verb.",
    ["engine", "operation"],
    buckets=QUERY_BUCKETS,
    registry=REGISTRY,
)
DB_QUERY_ERRORS = Counter(
    "imageboard_db_query_errors",
    "Statements that raised an error, by engine and SQL verb.",
    ["engine", "operation"],
    registry=REGISTRY,
)
DB_POOL_CHECKED_OUT = Gauge(
    "imageboard_db_pool_checked_out_connections",
    "Pooled connections in use, summed over processes.",
    ["engine"],
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
DB_POOL_OPEN = Gauge(
    "imageboard_db_pool_open_connections",
    "Database connections open (in use or idle in the pool), summed over processes.",
    ["engine"],
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
DB_POOL_CAPACITY = Gauge(
    "imageboard_db_pool_capacity_connections",
    "Most connections the pools may open (pool size + overflow), summed over processes.",
    ["engine"],
    multiprocess_mode="livesum",
    registry=REGISTRY,
)

BUILD_INFO = Gauge(
    "imageboard_build_info",
    "Always 1; labels name the running version and role.",
    ["version", "role"],
    multiprocess_mode="max",
    registry=REGISTRY,
)

# --- Defined for other parts; registered by them with enable() -------------------------
EVENT_BUS_LAG = Histogram(
    "imageboard_event_bus_lag_seconds",
    "Time from an event's publication to the start of its handling, by consumer.",
    ["consumer"],
    buckets=LAG_BUCKETS,
    registry=None,
)
EVENTS_PUBLISHED = Counter(
    "imageboard_events_published",
    "Events handed to the event bus, by event type.",
    ["type"],
    registry=None,
)
WORKER_JOB_DURATION = Histogram(
    "imageboard_worker_job_duration_seconds",
    "Time a background job took, by job name.",
    ["job"],
    buckets=JOB_BUCKETS,
    registry=None,
)
WORKER_JOBS = Counter(
    "imageboard_worker_jobs",
    "Background jobs finished, by job name and outcome (ok, failed, retried).",
    ["job", "outcome"],
    registry=None,
)
SSE_CONNECTIONS = Gauge(
    "imageboard_sse_connections",
    "Open Server-Sent Events connections, by stream kind (thread, board, firehose).",
    ["stream"],
    multiprocess_mode="livesum",
    registry=None,
)
CACHE_REQUESTS = Counter(
    "imageboard_cache_requests",
    "Page cache look-ups, by cache and result (hit, miss); the hit ratio is hit / (hit + miss).",
    ["cache", "result"],
    registry=None,
)
UPLOAD_FILE_BYTES = Histogram(
    "imageboard_upload_file_bytes",
    "Size of accepted uploaded files, by media kind (image, video, audio).",
    ["kind"],
    buckets=SIZE_BUCKETS,
    registry=None,
)
THUMBNAIL_DURATION = Histogram(
    "imageboard_thumbnail_duration_seconds",
    "Time to make a thumbnail, by media kind.",
    ["kind"],
    buckets=JOB_BUCKETS,
    registry=None,
)

_PENDING: dict[str, Collector] = {
    "imageboard_event_bus_lag_seconds": EVENT_BUS_LAG,
    "imageboard_events_published": EVENTS_PUBLISHED,
    "imageboard_worker_job_duration_seconds": WORKER_JOB_DURATION,
    "imageboard_worker_jobs": WORKER_JOBS,
    "imageboard_sse_connections": SSE_CONNECTIONS,
    "imageboard_cache_requests": CACHE_REQUESTS,
    "imageboard_upload_file_bytes": UPLOAD_FILE_BYTES,
    "imageboard_thumbnail_duration_seconds": THUMBNAIL_DURATION,
}
_enabled: set[str] = set()


def enable(*collectors: Collector) -> None:
    """Expose metrics defined above for another part of the site, from now on, in this
    process. Idempotent. (In multi-process mode a metric appears once it has samples.)"""
    for collector in collectors:
        name = next((key for key, value in _PENDING.items() if value is collector), None)
        if name is None:
            raise ValueError("only the metrics defined in imageboard.observability.metrics can be enabled")
        if name not in _enabled:
            REGISTRY.register(collector)
            _enabled.add(name)


def set_build_info(version: str, role: str) -> None:
    BUILD_INFO.labels(version=version, role=role).set(1)


def mark_dead(pid: int | None = None) -> None:
    """Forget the live gauges of a process that ends (multi-process mode only)."""
    path = multiprocess_dir()
    if path is not None:
        mark_process_dead(os.getpid() if pid is None else pid, str(path))  # type: ignore[no-untyped-call]


def _reap_dead_processes(path: Path) -> None:
    """Drop live gauges of worker processes that died without saying so (killed, crashed),
    so in-progress requests and open connections are not counted forever."""
    seen: set[int] = set()
    for file in path.glob("gauge_live*_*.db"):
        try:
            pid = int(file.stem.rsplit("_", 1)[1])
        except ValueError:
            continue
        if pid in seen or pid == os.getpid():
            continue
        seen.add(pid)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            mark_process_dead(pid, str(path))  # type: ignore[no-untyped-call]
        except PermissionError:
            pass  # alive, under another user


class _Joined:
    """Collects from several sources, for one exposition."""

    def __init__(self, *sources: Collector, extra: Iterable[Metric] = ()) -> None:
        self.sources = sources
        self.extra = list(extra)

    def collect(self) -> Iterator[Metric]:
        for source in self.sources:
            yield from source.collect()
        yield from self.extra


def scrape_time_families(*, board_posts: Mapping[str, int] | None, data_dir: Path | None) -> list[Metric]:
    families: list[Metric] = []
    if board_posts is not None:
        posts = CounterMetricFamily(
            "imageboard_board_posts",
            "Posts ever made on each board (its last post number; numbers are never reused).",
            labels=["board"],
        )
        for uri, count in sorted(board_posts.items()):
            posts.add_metric([uri], float(count))
        families.append(posts)
    if data_dir is not None:
        try:
            usage = shutil.disk_usage(data_dir)
        except OSError:
            usage = None
        if usage is not None:
            free = GaugeMetricFamily(
                "imageboard_disk_free_bytes", "Free bytes on the file system of a directory.", labels=["path"]
            )
            free.add_metric(["data"], float(usage.free))
            total = GaugeMetricFamily(
                "imageboard_disk_total_bytes", "Size of the file system of a directory.", labels=["path"]
            )
            total.add_metric(["data"], float(usage.total))
            families += [free, total]
    return families


def render(extra: Iterable[Metric] = ()) -> bytes:
    """The text exposition of every metric: all processes' samples in multi-process mode."""
    path = multiprocess_dir()
    if path is None:
        return generate_latest(_Joined(REGISTRY, extra=extra))
    _reap_dead_processes(path)
    merged = CollectorRegistry()
    MultiProcessCollector(merged, path=str(path))  # type: ignore[no-untyped-call]
    return generate_latest(_Joined(merged, extra=extra))
