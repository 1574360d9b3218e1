"""Request metrics, database metrics, posts per board, request IDs and access logs, through
the real application in-process."""

from __future__ import annotations

import re

import pytest
from prometheus_client import Histogram

from imageboard.observability import metrics
from imageboard.observability.logging import ConsoleFormatter, JsonFormatter, bound
from tests.integration.observability.conftest import Observed, value


async def test_requests_are_counted_by_route_template_and_status(observed: Observed) -> None:
    before = await observed.metrics()
    assert (await observed.client.get("/b/")).status_code == 200
    assert (await observed.client.get("/b/thread/999")).status_code == 404
    assert (await observed.client.get("/no/such/page/at/all")).status_code == 404
    assert (await observed.client.get("/static/css/site.css")).status_code == 200
    after = await observed.metrics()

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("imageboard_http_requests_total", method="GET", route="/{board}/", status="200") == 1
    assert delta("imageboard_http_requests_total", method="GET", route="/{board}/thread/{no}", status="404") == 1
    assert delta("imageboard_http_requests_total", method="GET", route="unmatched", status="404") == 1
    # A mount contributes its prefix: one label for every static file.
    assert delta("imageboard_http_requests_total", method="GET", route="/static/{path}", status="200") == 1
    assert delta("imageboard_http_request_duration_seconds_count", method="GET", route="/{board}/") == 1
    assert value(after, "imageboard_http_requests_in_progress", method="GET") == 1  # the scrape itself
    # No raw paths as label values: the label set stays small whatever clients ask for.
    assert not any("no/such" in str(labels) for _, labels in after)


async def test_unhandled_exceptions_are_counted_and_logged_with_the_request_id(observed: Observed) -> None:
    response = await observed.client.get("/boom", headers={"X-Request-ID": "req-1234567890"})
    assert response.status_code == 500
    samples = await observed.metrics()
    assert value(samples, "imageboard_http_exceptions_total", route="/boom", type="RuntimeError") == 1
    assert value(samples, "imageboard_http_requests_total", method="GET", route="/boom", status="500") == 1
    line = next(line for line in observed.log_lines() if line.get("url.path") == "/boom")
    assert line["log.level"] == "error"
    assert line["http.request.id"] == "req-1234567890"
    assert line["error.type"] == "RuntimeError"
    assert "kaboom" in line["error.stack_trace"]


async def test_upload_bodies_are_measured(observed: Observed) -> None:
    # Metrics live as long as the process: compare with what earlier tests left behind.
    before = await observed.metrics()
    count = value(before, "imageboard_http_request_body_bytes_count", method="POST", route="/{board}/post")
    total = value(before, "imageboard_http_request_body_bytes_sum", method="POST", route="/{board}/post")
    response = await observed.client.post(
        "/b/post", data={"com": "x" * 1500, "sub": "y" * 60}, headers={"Accept": "application/json"}
    )
    assert response.status_code == 201
    samples = await observed.metrics()
    assert value(samples, "imageboard_http_request_body_bytes_count", method="POST", route="/{board}/post") == count + 1
    assert value(samples, "imageboard_http_request_body_bytes_sum", method="POST", route="/{board}/post") > total + 1500


async def test_database_metrics_and_posts_per_board(observed: Observed) -> None:
    posted = value(await observed.metrics(), "imageboard_board_posts_total", board="b")
    for text in ("one", "two", "three"):
        await observed.client.post("/b/post", data={"com": text}, headers={"Accept": "application/json"})
    samples = await observed.metrics()
    assert value(samples, "imageboard_board_posts_total", board="b") == posted + 3
    assert value(samples, "imageboard_db_query_duration_seconds_count", engine="write", operation="INSERT") >= 3
    assert value(samples, "imageboard_db_query_duration_seconds_count", engine="read", operation="SELECT") >= 1
    assert value(samples, "imageboard_db_pool_capacity_connections", engine="write") >= 1
    assert value(samples, "imageboard_db_pool_open_connections", engine="read") >= 1
    assert value(samples, "imageboard_db_pool_checked_out_connections", engine="write") == 0  # all returned
    assert value(samples, "imageboard_disk_free_bytes", path="data") > 0
    assert value(samples, "process_resident_memory_bytes") > 0  # single-process mode
    build = [labels for name, labels in samples if name == "imageboard_build_info"]
    assert build and dict(build[0])["role"] == "all"


async def test_metrics_of_parts_that_do_not_record_yet_are_not_exposed(observed: Observed) -> None:
    text = (await observed.client.get("/metrics")).text
    for name in (
        "imageboard_event_bus_lag_seconds",
        "imageboard_worker_jobs",
        "imageboard_sse_connections",
        "imageboard_cache_requests",
        "imageboard_upload_file_bytes",
        "imageboard_thumbnail_duration_seconds",
    ):
        assert name not in text
    # Their owner turns them on when it starts recording.
    metrics.enable(metrics.CACHE_REQUESTS)
    try:
        metrics.CACHE_REQUESTS.labels(cache="pages", result="hit").inc()
        samples = await observed.metrics()
        assert value(samples, "imageboard_cache_requests_total", cache="pages", result="hit") == 1
    finally:
        metrics.REGISTRY.unregister(metrics.CACHE_REQUESTS)
        metrics._enabled.discard("imageboard_cache_requests")
    with pytest.raises(ValueError, match="only the metrics defined"):
        metrics.enable(Histogram("stray_seconds", "not ours", registry=None))


async def test_request_ids_are_made_or_taken_over_and_returned(observed: Observed) -> None:
    made = await observed.client.get("/b/")
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    taken = await observed.client.get("/b/", headers={"X-Request-ID": "edge-abcdef123456"})
    assert taken.headers["x-request-id"] == "edge-abcdef123456"
    hostile = await observed.client.get("/b/", headers={"X-Request-ID": "<script>alert(1)</script>"})
    assert re.fullmatch(r"[0-9a-f]{32}", hostile.headers["x-request-id"])


async def test_access_log_is_one_json_object_per_request_without_addresses(observed: Observed) -> None:
    await observed.client.get("/b/", headers={"X-Request-ID": "access-log-test-1"})
    await observed.client.get("/healthz")  # probes are not logged
    lines = [line for line in observed.log_lines() if line.get("event.dataset") == "imageboard.access"]
    assert len(lines) == 1
    line = lines[0]
    assert line["http.request.id"] == "access-log-test-1"
    assert line["http.route"] == "/{board}/"
    assert line["url.path"] == "/b/"
    assert line["http.response.status_code"] == 200
    assert line["http.request.method"] == "GET"
    assert line["duration_ms"] >= 0 and line["event.duration"] > 0
    assert line["log.level"] == "info" and line["log.logger"] == "imageboard.access"
    assert line["@timestamp"].endswith("Z")
    assert "203.0.113.7" not in observed.logs.getvalue()
    assert "client.ip" not in line


async def test_access_log_carries_addresses_only_when_configured(observed: Observed) -> None:
    from imageboard.observability.middleware import RequestObservability

    await observed.client.get("/healthz")  # the middleware stack is built on the first request
    layer = observed.app.middleware_stack
    while layer is not None and not isinstance(layer, RequestObservability):
        layer = getattr(layer, "app", None)
    assert layer is not None, "the request middleware is not installed"
    layer.log_ips = True
    await observed.client.get("/b/", headers={"User-Agent": "test-agent"})
    line = [entry for entry in observed.log_lines() if entry.get("url.path") == "/b/"][-1]
    assert line["client.ip"] == "203.0.113.7"
    assert line["user_agent.original"] == "test-agent"


def test_formatters() -> None:
    import logging

    record = logging.makeLogRecord(
        {
            "name": "imageboard.test",
            "levelno": logging.WARNING,
            "levelname": "WARNING",
            "msg": "disk %s",
            "args": ("low",),
            "fields": {"board": "b"},
        }
    )
    with bound(job="prune"):
        json_line = JsonFormatter(environment="production").format(record)
        console = ConsoleFormatter().format(record)
    import json

    doc = json.loads(json_line)
    assert doc["message"] == "disk low"
    assert doc["board"] == "b" and doc["job"] == "prune"
    assert doc["service.environment"] == "production"
    assert "\n" not in json_line
    assert "WARNING" in console and "disk low" in console and "board=b" in console and "job=prune" in console
