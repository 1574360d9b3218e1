"""Observability across processes: multi-process metrics, tracing to an OTLP collector,
Sentry, and what is (not) imported when nothing is configured."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.e2e.conftest import CLI, RunningServer, free_port, start_server, stop_server
from tests.integration.observability.capture import Captured, start_capture
from tests.integration.observability.conftest import parse_metrics, value

WRITER = textwrap.dedent(
    """
    import os, sys, time
    from imageboard.observability import metrics
    count, mode = int(sys.argv[1]), sys.argv[2]
    for _ in range(count):
        metrics.HTTP_REQUESTS.labels("GET", "/{board}/", "200").inc()
        metrics.HTTP_REQUEST_DURATION.labels("GET", "/{board}/").observe(0.02)
    metrics.HTTP_IN_PROGRESS.labels("GET").inc()
    if mode == "exit":
        metrics.mark_dead()
        print("done", flush=True)
    else:
        print("holding", flush=True)
        time.sleep(60)
    """
)


def test_two_processes_write_one_collector_reads_both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    first = subprocess.run(
        [sys.executable, "-c", WRITER, "7", "exit"], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert first.stdout.strip() == "done"
    second = subprocess.Popen([sys.executable, "-c", WRITER, "5", "hold"], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert second.stdout is not None and second.stdout.readline().strip() == "holding"
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
        from imageboard.observability.metrics import render

        samples = parse_metrics(render().decode())
        assert value(samples, "imageboard_http_requests_total", method="GET", route="/{board}/", status="200") == 12
        assert value(samples, "imageboard_http_request_duration_seconds_count", method="GET", route="/{board}/") == 12
        # Live gauges: the process that ended said so; the one still running counts.
        assert value(samples, "imageboard_http_requests_in_progress", method="GET") == 1
    finally:
        second.send_signal(signal.SIGKILL)
        second.wait()
    # A process killed without a word: its live gauge is reaped at the next scrape,
    # while the counters it wrote stay in the totals.
    samples = parse_metrics(render().decode())
    assert value(samples, "imageboard_http_requests_in_progress", method="GET") == 0
    assert value(samples, "imageboard_http_requests_total", method="GET", route="/{board}/", status="200") == 12


def test_prepare_multiprocess_dir_picks_and_cleans(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from imageboard.observability import prepare_multiprocess_dir

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    assert prepare_multiprocess_dir(workers=1) is None
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    stale = tmp_path / "counter_123.db"
    stale.write_bytes(b"old")
    chosen = prepare_multiprocess_dir(workers=4, directory=str(tmp_path))
    assert chosen == tmp_path
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(tmp_path)
    assert not stale.exists()  # an earlier run's samples are not added to this one's
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    made = prepare_multiprocess_dir(workers=2)
    assert made is not None and made.is_dir() and made.name.startswith("imageboard-metrics-")


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("site"), {"IMAGEBOARD_WORKERS": "2"})
    yield running
    stop_server(running)


def test_a_server_with_two_workers_reports_every_request_once(two_workers: RunningServer) -> None:
    with httpx.Client(base_url=two_workers.url) as client:
        before = parse_metrics(client.get("/metrics").text)
        pids: set[str] = set()
        for _ in range(30):
            # New connections spread the requests over both processes.
            response = httpx.get(two_workers.url + "/tech/", headers={"Connection": "close"})
            assert response.status_code == 200
        scrapes = [parse_metrics(httpx.get(two_workers.url + "/metrics").text) for _ in range(6)]
    labels = {"method": "GET", "route": "/{board}/", "status": "200"}
    counts = {value(s, "imageboard_http_requests_total", **labels) - value(before, "imageboard_http_requests_total",
              **labels) for s in scrapes}
    assert counts == {30.0}, counts  # whichever process answered the scrape, the same total
    files = {p.name for p in Path(_multiproc_dir(two_workers)).glob("counter_*.db")}
    pids = {name.rsplit("_", 1)[1] for name in files}
    assert len(pids) >= 2, files  # both worker processes recorded


def _multiproc_dir(server: RunningServer) -> str:
    environ = Path(f"/proc/{server.process.pid}/environ").read_bytes().split(b"\0")
    for entry in environ:
        if entry.startswith(b"PROMETHEUS_MULTIPROC_DIR="):
            return entry.split(b"=", 1)[1].decode()
    raise AssertionError("serve did not set PROMETHEUS_MULTIPROC_DIR for its workers")


def _start_logged(data_dir: Path, env_extra: dict[str, str], log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "IMAGEBOARD_DATA_DIR": str(data_dir), "IMAGEBOARD_PORT": str(port), **env_extra}
    subprocess.run([CLI, "init"], env=env, check=True, capture_output=True, timeout=120)
    log = log_path.open("wb")
    process = subprocess.Popen([CLI, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, log_path.read_text()
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError("server did not start")


def test_traces_reach_the_collector_and_logs_carry_their_ids(tmp_path: Path) -> None:
    collector = start_capture()
    log_path = tmp_path / "server.log"
    env = {"IMAGEBOARD_OTLP_ENDPOINT": collector.url, "IMAGEBOARD_LOG_FORMAT": "json"}
    process, url = _start_logged(tmp_path / "data", env, log_path)
    try:
        response = httpx.get(url + "/b/", headers={"X-Request-ID": "trace-test-000001"})
        assert response.status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)  # the lifespan's end flushes the spans
        collector.close()
    spans = []
    for request in collector.received:
        assert request.path == "/v1/traces"
        export = ExportTraceServiceRequest()
        export.ParseFromString(request.body)
        for resource_spans in export.resource_spans:
            service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            assert service["service.name"] == "imageboard"
            for scope_spans in resource_spans.scope_spans:
                spans.extend(scope_spans.spans)
    server_spans = [s for s in spans if s.name == "GET /{board}/"]
    assert len(server_spans) == 1, [s.name for s in spans]
    trace_id = server_spans[0].trace_id.hex()
    db_spans = [s for s in spans if s.trace_id.hex() == trace_id and any(a.key == "db.system" or
                a.key == "db.system.name" for a in s.attributes)]
    assert db_spans, "no SQLAlchemy span in the request's trace"
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    access = next(line for line in lines if line.get("http.request.id") == "trace-test-000001")
    assert access["trace.id"] == trace_id
    assert len(access["span.id"]) == 16


SENTRY_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys, tempfile, pathlib
    import httpx
    from imageboard.app import create_app
    from imageboard.config import Settings
    from imageboard.core.migrate import upgrade

    async def main():
        data = pathlib.Path(tempfile.mkdtemp())
        upgrade(f"sqlite+aiosqlite:///{data / 'imageboard.sqlite3'}")
        app = create_app(Settings(data_dir=data, secret_key="s", log_format="json"))

        async def boom():
            raise RuntimeError("sentry test failure")

        app.add_api_route("/boom", boom)
        app.router.routes.insert(0, app.router.routes.pop())
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.get("/boom", headers={"X-Request-ID": "sentry-test-0001",
                                                          "X-Forwarded-For": "198.51.100.1"})
        await app.state.observability.shutdown()
        print(json.dumps({"status": response.status_code,
                          "sentry_imported": "sentry_sdk" in sys.modules,
                          "otel_imported": "opentelemetry.sdk" in sys.modules}))

    asyncio.run(main())
    """
)


def _run_sentry_script(env_extra: dict[str, str]) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMAGEBOARD_", "SENTRY_", "OTEL_"))}
    result = subprocess.run(
        [sys.executable, "-c", SENTRY_SCRIPT], env={**env, **env_extra}, capture_output=True, text=True,
        timeout=60, check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_sentry_gets_unhandled_errors_without_personal_data() -> None:
    sentry = start_capture()
    try:
        dsn = sentry.url.replace("http://", "http://publickey@") + "/42"
        outcome = _run_sentry_script({"IMAGEBOARD_SENTRY_DSN": dsn})
        assert outcome["status"] == 500 and outcome["sentry_imported"] is True
        deadline = time.monotonic() + 10
        while not sentry.received and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        sentry.close()
    envelopes = [r for r in sentry.received if r.path.startswith("/api/42/envelope")]
    assert envelopes, [r.path for r in sentry.received]
    text = "".join(_envelope_text(e) for e in envelopes)
    assert "sentry test failure" in text and "RuntimeError" in text
    assert "sentry-test-0001" in text  # the request ID leads from the event to the log lines
    assert "203.0.113.7" not in text and "198.51.100.1" not in text


def _envelope_text(captured: Captured) -> str:
    body = captured.body
    encoding = captured.headers.get("Content-Encoding", captured.headers.get("content-encoding", ""))
    if encoding == "gzip":
        body = gzip.decompress(body)
    elif encoding:
        raise AssertionError(f"unexpected encoding {encoding}")
    return body.decode()


def test_nothing_is_imported_or_sent_without_configuration() -> None:
    outcome = _run_sentry_script({})
    assert outcome == {"status": 500, "sentry_imported": False, "otel_imported": False}
