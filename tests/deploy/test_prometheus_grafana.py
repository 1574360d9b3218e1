"""Prometheus configuration, alert rules and the Grafana dashboard, checked with Debian's
promtool; then a real Prometheus scraping the real site (two worker processes)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from imageboard.observability import metrics
from tests.deploy.conftest import (
    DEPLOY,
    RunningServer,
    free_port,
    require_tool,
    start_server,
    stop_process,
    stop_server,
)

PROMETHEUS_DIR = DEPLOY / "prometheus"
GRAFANA_DIR = DEPLOY / "grafana"
DASHBOARD = GRAFANA_DIR / "dashboards" / "imageboard.json"
METRIC_NAME = re.compile(r"\b(imageboard_[a-z_]+|up|process_[a-z_]+|kubelet_[a-z_]+)\b")


def promtool(*args: str, cwd: Path = PROMETHEUS_DIR) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def defined_metric_names() -> set[str]:
    """Every series name the site can expose: the metric objects of the metrics module with
    their suffixes, the families computed at scrape time, and process metrics."""
    names = {"up", "process_resident_memory_bytes", "kubelet_volume_stats_available_bytes",
             "kubelet_volume_stats_capacity_bytes", "imageboard_board_posts_total", "imageboard_disk_free_bytes",
             "imageboard_disk_total_bytes"}
    for value in vars(metrics).values():
        if not isinstance(value, MetricWrapperBase):
            continue
        for family in value.describe():
            for sample_suffix in {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"],
                                  "gauge": [""]}.get(family.type, [""]):
                names.add(family.name + sample_suffix)
    return names


def test_prometheus_config_is_valid() -> None:
    result = promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_alert_rules_are_valid_and_cover_what_the_issue_asks() -> None:
    result = promtool("check", "rules", "rules/imageboard.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    rules = yaml.safe_load((PROMETHEUS_DIR / "rules" / "imageboard.yml").read_text())
    alerts = {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"] if "alert" in rule}
    expressions = " ".join(rule["expr"] for rule in alerts.values())
    for needed in ("imageboard_http_requests_total", "imageboard_http_request_duration_seconds_bucket",
                   "imageboard_event_bus_lag_seconds_bucket", "imageboard_worker_jobs_total",
                   "imageboard_disk_free_bytes"):
        assert needed in expressions, needed
    for alert in alerts.values():
        assert alert["labels"]["severity"] in {"warning", "critical"}
        assert alert["annotations"]["summary"]


def test_alert_rules_fire_as_intended() -> None:
    result = promtool("test", "rules", "tests/imageboard.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_and_dashboard_use_only_metrics_the_site_defines() -> None:
    defined = defined_metric_names()
    rules_text = (PROMETHEUS_DIR / "rules" / "imageboard.yml").read_text()
    used = set(METRIC_NAME.findall(rules_text)) | set(METRIC_NAME.findall(DASHBOARD.read_text()))
    assert used, "no metric found"
    assert used <= defined, f"unknown metrics: {sorted(used - defined)}"


def _dashboard_expressions(dashboard: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            found.append(target["expr"])
    return found


def test_grafana_dashboard_and_provisioning(tmp_path: Path) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    sources = yaml.safe_load((GRAFANA_DIR / "provisioning" / "datasources" / "imageboard.yml").read_text())
    uids = {source["uid"] for source in sources["datasources"]}
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] in uids, panel["title"]
            assert panel["targets"], panel["title"]
    providers = yaml.safe_load((GRAFANA_DIR / "provisioning" / "dashboards" / "imageboard.yml").read_text())
    assert providers["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    # Every panel query must be valid PromQL: promtool checks them as recording rules, with
    # Grafana's variables replaced by what Grafana would put there.
    expressions = _dashboard_expressions(dashboard)
    assert len(expressions) >= 25
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:panel_{i}", "expr": expr.replace("$__rate_interval", "1m").replace("$role", ".*")}
        for i, expr in enumerate(expressions)
    ]}]}
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump(rules))
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    # The issue's list: every one of these has a panel.
    text = " ".join(expressions)
    for metric in ("imageboard_http_requests_total", "imageboard_http_request_duration_seconds_bucket",
                   "imageboard_db_pool_checked_out_connections", "imageboard_db_query_duration_seconds_bucket",
                   "imageboard_cache_requests_total", "imageboard_event_bus_lag_seconds_bucket",
                   "imageboard_worker_job_duration_seconds_bucket", "imageboard_worker_jobs_total",
                   "imageboard_upload_file_bytes_bucket", "imageboard_thumbnail_duration_seconds_bucket",
                   "imageboard_board_posts_total", "imageboard_sse_connections"):
        assert metric in text, metric


@pytest.fixture(scope="module")
def multi_worker_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("site2"), {"IMAGEBOARD_WORKERS": "2"})
    yield running
    stop_server(running)


def test_real_prometheus_scrapes_the_site(tmp_path: Path, multi_worker_site: RunningServer) -> None:
    prometheus = require_tool("prometheus")
    for _ in range(5):
        assert httpx.get(multi_worker_site.url + "/b/").status_code == 200
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = "1s"
    config["global"]["scrape_timeout"] = "1s"
    config["global"]["evaluation_interval"] = "1s"
    config["rule_files"] = [str(PROMETHEUS_DIR / "rules" / "imageboard.yml")]
    target = multi_worker_site.url.removeprefix("http://")
    config["scrape_configs"] = [
        {"job_name": "imageboard", "static_configs": [{"targets": [target], "labels": {"role": "all"}}]}
    ]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    process = subprocess.Popen(
        [prometheus, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    api = f"http://127.0.0.1:{port}/api/v1"

    def query(expr: str) -> list[dict[str, Any]]:
        try:
            response = httpx.get(f"{api}/query", params={"query": expr}, timeout=2)
        except httpx.HTTPError:
            return []
        return response.json()["data"]["result"] if response.status_code == 200 else []

    try:
        deadline = time.monotonic() + 40
        up: list[dict[str, Any]] = []
        requests: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            up = query('up{job="imageboard"} == 1')
            requests = query('sum(imageboard_http_requests_total{job="imageboard", route="/{board}/", status="200"})')
            if up and requests and float(requests[0]["value"][1]) >= 5:
                break
            time.sleep(0.5)
        assert up, "the site's target never came up"
        assert requests and float(requests[0]["value"][1]) >= 5, requests
        # Samples of both worker processes and the scrape-time families arrived.
        assert query('imageboard_board_posts_total{board="b"}')
        assert query("imageboard_disk_free_bytes > 0")
        assert query("imageboard_db_query_duration_seconds_count > 0")
        rules = httpx.get(f"{api}/rules", timeout=2).json()["data"]["groups"]
        assert {group["name"] for group in rules} >= {"imageboard.availability", "imageboard.disk"}
        assert all(rule["health"] != "err" for group in rules for rule in group["rules"])
    finally:
        stop_process(process)
