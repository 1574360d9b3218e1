"""The real NGINX (Debian's package) with deploy/nginx in front of the real site: pages,
microcache, compression, security headers, static files from disk, posting and the body
limit, client address headers, unbuffered Server-Sent Events, cached media, and TLS."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.deploy.conftest import (
    STATIC_DIR,
    Nginx,
    RunningServer,
    free_port,
    start_nginx,
    start_server,
    stop_process,
    stop_server,
)

STUB = Path(__file__).with_name("upstream_stub.py")
LIMIT = 1024 * 1024


@pytest.fixture(scope="module")
def stub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    files = tmp_path_factory.mktemp("stub")
    process = subprocess.Popen([sys.executable, str(STUB), str(port), str(files)], stderr=subprocess.PIPE)
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://{address}/hits", timeout=1)
            break
        except httpx.HTTPError:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            time.sleep(0.1)
    yield address
    stop_process(process)


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory, site: RunningServer, stub: str) -> Iterator[Nginx]:
    nginx = start_nginx(
        tmp_path_factory.mktemp("nginx"),
        web=site.url.removeprefix("http://"),
        realtime=stub,
        media=stub,
        max_body_bytes=LIMIT,
    )
    yield nginx
    stop_process(nginx.process, sig=2)  # SIGINT: fast shutdown, drops the open connections
    assert "[emerg]" not in nginx.error_log()


def test_pages_pass_through_with_one_copy_of_each_security_header(edge: Nginx) -> None:
    response = httpx.get(edge.url + "/")
    assert response.status_code == 200
    assert "<html" in response.text
    for name in ("content-security-policy", "x-content-type-options", "x-frame-options", "referrer-policy"):
        assert len(response.headers.get_list(name)) == 1, name
    # The application's own policy, not the edge's fallback for files it serves itself.
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert len(response.headers["x-request-id"]) == 32
    assert "strict-transport-security" not in response.headers  # plain HTTP


def test_pages_are_compressed_when_the_client_asks(edge: Nginx) -> None:
    with httpx.Client() as client:
        raw = client.get(edge.url + "/b/", headers={"Accept-Encoding": "gzip"})
        plain = client.get(edge.url + "/b/", headers={"Accept-Encoding": "identity"})
    assert raw.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in raw.headers["vary"].lower()
    assert "content-encoding" not in plain.headers
    assert raw.text == plain.text  # httpx decoded the compressed one


def test_microcache_serves_the_second_request_from_cache(edge: Nginx) -> None:
    with httpx.Client() as client:
        first = client.get(edge.url + "/tech/")
        second = client.get(edge.url + "/tech/")
        staff = client.get(edge.url + "/tech/", headers={"Cookie": "session=abc"})
        german = client.get(edge.url + "/tech/", headers={"Accept-Language": "de"})
    assert first.status_code == second.status_code == 200
    assert first.headers["x-cache-status"] == "MISS"
    assert second.headers["x-cache-status"] == "HIT"
    assert second.text == first.text
    assert len(second.headers.get_list("content-security-policy")) == 1  # also on a hit
    assert staff.headers["x-cache-status"] == "BYPASS"  # signed-in staff see fresh pages
    assert german.headers["x-cache-status"] == "MISS"  # the language is part of the key


def test_static_assets_come_from_disk_not_the_application(edge: Nginx) -> None:
    response = httpx.get(edge.url + "/static/css/site.css", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.content == (STATIC_DIR / "css" / "site.css").read_bytes()
    assert response.headers["content-type"].startswith("text/css")
    assert "max-age=86400" in response.headers["cache-control"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert "x-cache-status" not in response.headers
    assert httpx.get(edge.url + "/static/css/missing.css").status_code == 404

    def stylesheet(entry: str) -> bool:
        return '"url.path":"/static/css/site.css"' in entry

    line = next(json.loads(entry) for entry in reversed(edge.access_log_lines(stylesheet)) if stylesheet(entry))
    assert line["upstream.address"] == ""  # no upstream was asked
    assert "client.ip" not in line and "127.0.0.1" not in json.dumps(line)


def test_posting_goes_through_and_oversized_bodies_are_refused_at_the_edge(edge: Nginx) -> None:
    with httpx.Client() as client:
        posted = client.post(edge.url + "/b/post", data={"com": "through the edge", "sub": "edge test"})
        assert posted.status_code == 303
        assert posted.headers["location"].startswith("/b/")
        thread_url = edge.url + posted.headers["location"].split("#")[0]
        assert "through the edge" in client.get(thread_url).text

        big = client.post(
            edge.url + "/b/post",
            data={"com": "too big"},
            files={"upfile": ("big.bin", b"\0" * (2 * LIMIT), "application/octet-stream")},
        )
    assert big.status_code == 413
    assert big.json()["error"]["code"] == "too_large"
    assert big.headers["x-content-type-options"] == "nosniff"


def test_operations_endpoints_are_not_published(edge: Nginx) -> None:
    for path in ("/metrics", "/healthz", "/readyz"):
        assert httpx.get(edge.url + path).status_code == 404, path


@pytest.mark.parametrize("path", ["/api/v1/stream", "/b/thread/1/events"])
def test_event_streams_arrive_unbuffered_with_client_address_headers(edge: Nginx, path: str) -> None:
    started = time.monotonic()
    arrivals: list[tuple[float, str]] = []
    headers = {"X-Forwarded-For": "203.0.113.9", "Accept-Encoding": "gzip", "Accept": "text/event-stream"}
    with httpx.stream("GET", edge.url + path, headers=headers, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert "content-encoding" not in response.headers
        assert "x-cache-status" not in response.headers
        for line in response.iter_lines():
            if line.startswith("data:"):
                arrivals.append((time.monotonic() - started, line.removeprefix("data:").strip()))
    assert [data for _, data in arrivals[1:]] == ["tick 1", "tick 2"]
    assert arrivals[0][0] < 0.8, arrivals  # the first event did not wait for the stream to end
    assert arrivals[1][0] < 1.8 < arrivals[2][0], arrivals
    seen = json.loads(arrivals[0][1])
    # The edge appends the address it saw (the application reads the header from the right)
    # and states it in X-Real-IP; 127.0.0.1 is not a trusted proxy here, so the client's own
    # X-Forwarded-For entry was not believed.
    assert seen["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert seen["x-real-ip"] == "127.0.0.1"
    assert len(seen["x-request-id"]) == 32


def test_media_is_cached_at_the_edge_in_slices(edge: Nginx, stub: str) -> None:
    before = httpx.get(f"http://{stub}/hits").json()["media"]
    with httpx.Client(timeout=10) as client:
        first = client.get(edge.url + "/media/b/123.png")
        second = client.get(edge.url + "/media/b/123.png")
        ranged = client.get(edge.url + "/media/b/123.png", headers={"Range": "bytes=1048570-1048580"})
    assert first.status_code == second.status_code == 200
    assert first.headers["x-cache-status"] == "MISS"
    assert second.headers["x-cache-status"] == "HIT"
    assert second.content == first.content
    assert len(first.content) == 256 * (3 * 4096 + 100)
    assert ranged.status_code == 206
    assert ranged.content == first.content[1048570:1048581]
    assert "immutable" in second.headers["cache-control"]
    # Four 1 MiB slices fetched once; the second request and the range came from the cache.
    assert httpx.get(f"http://{stub}/hits").json()["media"] - before == 4


def test_tls_server_sends_hsts(tmp_path: Path, site: RunningServer) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    nginx = start_nginx(tmp_path / "nginx", web=site.url.removeprefix("http://"), tls=(cert, key))
    try:
        assert nginx.https_url is not None
        response = httpx.get(nginx.https_url + "/", verify=ssl.create_default_context(cafile=str(cert)))
        assert response.status_code == 200
        assert response.headers["strict-transport-security"].startswith("max-age=63072000")
        assert "strict-transport-security" not in httpx.get(nginx.url + "/").headers
    finally:
        stop_process(nginx.process, sig=2)


@pytest.fixture(scope="module")
def sizeable_thread(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Nginx, str]]:
    """A site whose thread JSON is ~70–100 KB, the sizes that a corked socket held back, and
    an edge in front of it. Anti-spam is off so the replies go in quickly."""
    site = start_server(tmp_path_factory.mktemp("sizeable"), {"IMAGEBOARD_ANTISPAM": "off"})
    nginx = None
    try:
        with httpx.Client(base_url=site.url, headers={"Accept": "application/json"}) as client:
            words = " ".join(f"word{n}" for n in range(300))[:1900]
            thread = client.post("/b/post", data={"com": words, "sub": "sizes"}).json()["thread"]
            for reply in range(40):
                posted = client.post("/b/post", data={"com": f"{reply} {words}", "resto": str(thread)})
                assert posted.status_code == 201, posted.text
        nginx = start_nginx(tmp_path_factory.mktemp("nginx-sizes"), web=site.url.removeprefix("http://"))
        yield nginx, f"/b/thread/{thread}.json"
    finally:
        if nginx is not None:
            stop_process(nginx.process, sig=2)
        stop_server(site)


def test_cached_documents_are_not_held_back_on_kept_alive_connections(sizeable_thread: tuple[Nginx, str]) -> None:
    """With TCP_CORK (tcp_nopush) a cached document of these sizes waited for the client's
    delayed ACK: 40 ms or more for every response after the first on a connection. The
    client reads as load generators do, in large buffers on one kept-alive connection."""
    edge, path = sizeable_thread
    host, port = edge.url.removeprefix("http://").split(":")
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    timings = []
    with socket.create_connection((host, int(port))) as connection:
        for attempt in range(16):
            started = time.perf_counter()
            connection.sendall(request)
            head, body = _read_response(connection)
            if attempt:  # the first may be a miss
                timings.append(time.perf_counter() - started)
            assert b" 200 " in head.split(b"\r\n", 1)[0] and 60_000 < len(body) < 120_000, (head, len(body))
    timings.sort()
    assert timings[len(timings) // 2] < 0.02, [f"{t * 1000:.1f} ms" for t in timings]


def _read_response(connection: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        data += connection.recv(1 << 20)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = int(next(line.split(b":")[1] for line in lines if line.lower().startswith(b"content-length")))
    while len(body) < length:
        body += connection.recv(1 << 20)
    return head, body


def test_the_edge_caches_pages_of_a_site_without_a_page_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """``IMAGEBOARD_PAGE_CACHE=off`` renders every page afresh in the app, but the pages stay
    cacheable at the edge: a ``no-store`` page made NGINX's cache lock queue every concurrent
    request for one URL behind the one in flight (tens of requests a second)."""
    site = start_server(tmp_path_factory.mktemp("uncached"), {"IMAGEBOARD_PAGE_CACHE": "off"})
    nginx = None
    try:
        nginx = start_nginx(tmp_path_factory.mktemp("nginx-uncached"), web=site.url.removeprefix("http://"))
        with httpx.Client() as client:
            first = client.get(nginx.url + "/tech/")
            second = client.get(nginx.url + "/tech/")
            revalidated = client.get(site.url + "/tech/", headers={"If-None-Match": first.headers["etag"]})
        assert first.status_code == second.status_code == 200
        assert first.headers["x-cache-status"] == "MISS" and second.headers["x-cache-status"] == "HIT"
        assert "no-store" not in first.headers["cache-control"]
        assert revalidated.status_code == 304  # browsers revalidate against the app for free
    finally:
        if nginx is not None:
            stop_process(nginx.process, sig=2)
        stop_server(site)
