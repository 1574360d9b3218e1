"""Edge purge against the real caches: the shipped NGINX config (Debian's nginx) and the
shipped Varnish VCL (Debian's varnishd), each in front of the real site.

The caches here keep pages for a minute (the shipped NGINX microcache keeps them one second;
the VCL's own page TTL is used as shipped), so a page that is fresh right after a write can
only be fresh because the purge replaced it: each test first shows the stale copy being
served, then the fresh one right after the purge.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import tests.deploy.conftest as deploy
from imageboard.events import PostCreated, ThreadUpdated
from imageboard.web.edge import EdgePurger
from imageboard.web.purge import purge_targets
from tests.deploy.conftest import (
    DEPLOY,
    Nginx,
    RunningServer,
    free_port,
    require_tool,
    start_nginx,
    start_server,
    stop_process,
    stop_server,
)

VALIDITY = "60s"


def long_lived_nginx(prefix: Path, web: str, *, port: int | None = None) -> Nginx:
    """The shipped config with the page validity raised to a minute (and the application's
    Cache-Control, which asks for five seconds, ignored): only a purge can renew a page."""
    copy = prefix / "config"
    shutil.copytree(DEPLOY / "nginx", copy)
    locations = copy / "templates" / "imageboard-locations.inc.template"
    text = locations.read_text()
    assert "proxy_cache_valid 200 301 302 1s;" in text
    text = text.replace(
        "proxy_cache_valid 200 301 302 1s;",
        f"proxy_cache_valid 200 301 302 {VALIDITY};\n    proxy_ignore_headers Cache-Control Expires X-Accel-Expires;",
    )
    locations.write_text(text)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(deploy, "NGINX_DIR", copy)
        if port is not None:
            patch.setattr(deploy, "free_port", lambda: port)
        # 127.0.0.1 is the load balancer here: its X-Forwarded-For is believed.
        return start_nginx(prefix / "run", web=web, trusted_proxy="127.0.0.1/32")


def new_thread(site: str, text: str) -> int:
    response = httpx.post(site + "/b/post", data={"com": text, "sub": "purge"}, headers={"Accept": "application/json"})
    assert response.status_code == 201, response.text
    return int(response.json()["thread"])


def reply(base: str, thread_no: int, text: str) -> None:
    response = httpx.post(
        base + "/b/post", data={"com": text, "resto": str(thread_no)}, headers={"Accept": "application/json"}
    )
    assert response.status_code == 201, response.text


@pytest.fixture(scope="module")
def quiet_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The site without an edge purge of its own: the tests purge by hand."""
    running = start_server(tmp_path_factory.mktemp("site"), {"IMAGEBOARD_ANTISPAM": "off"})
    yield running
    stop_server(running)


def test_nginx_refresh_replaces_a_stale_page_from_internal_addresses_only(
    tmp_path: Path, quiet_site: RunningServer
) -> None:
    nginx = long_lived_nginx(tmp_path, quiet_site.url.removeprefix("http://"))
    try:
        thread_no = new_thread(quiet_site.url, "a thread to purge")
        page = f"{nginx.url}/b/thread/{thread_no}"
        slugged = f"{page}/a-thread-to-purge"
        with httpx.Client() as client:
            assert client.get(page).headers["x-cache-status"] == "MISS"
            first = client.get(slugged)  # any slug shares the entry
            assert first.headers["x-cache-status"] == "HIT"
            assert "site" in first.headers["surrogate-key"].split()
            assert f"t:b:{thread_no}" in first.headers["surrogate-key"].split()
            for document, key in (
                (f"/b/thread/{thread_no}.json", f"t:b:{thread_no}"),
                (f"/api/v1/boards/b/threads/{thread_no}", f"t:b:{thread_no}"),
                ("/b/catalog.json", "b:b:index"),
                ("/api/v1/boards/b/catalog", "b:b:index"),
                ("/b/catalog", "b:b:index"),
            ):
                answered = client.get(nginx.url + document)
                assert answered.status_code == 200, document
                assert key in answered.headers["surrogate-key"].split(), document
                assert key in answered.headers["cache-tag"].split(","), document

            reply(quiet_site.url, thread_no, "the purged reply")  # straight to the site: the edge is not told
            stale = client.get(page)
            assert stale.headers["x-cache-status"] == "HIT"
            assert "the purged reply" not in stale.text
            # The refresh header from a client outside (through the trusted balancer) is ignored.
            outside = client.get(page, headers={"X-Imageboard-Refresh": "1", "X-Forwarded-For": "203.0.113.9"})
            assert outside.headers["x-cache-status"] == "HIT"
            assert "the purged reply" not in outside.text

            purger = EdgePurger("nginx", [nginx.url], batch_window=0)
            event = PostCreated(board="b", thread_no=thread_no, post_no=thread_no + 1)
            assert asyncio.run(_purge_and_close(purger, event))
            assert purger.stats.failed == 0 and purger.stats.sent > 10

            for url in (page, slugged):
                fresh = client.get(url)
                assert fresh.headers["x-cache-status"] == "HIT", url  # from the cache, renewed
                assert "the purged reply" in fresh.text, url
            board = client.get(nginx.url + "/b/")
            assert board.headers["x-cache-status"] == "HIT" and "the purged reply" in board.text
        def refresh_of_thread(line: str) -> bool:
            return '"cache":"BYPASS"' in line and f'"url.path":"/b/thread/{thread_no}"' in line

        assert any(refresh_of_thread(line) for line in nginx.access_log_lines(refresh_of_thread))
    finally:
        stop_process(nginx.process, sig=2)
    assert "[emerg]" not in nginx.error_log()


def test_nginx_refresh_from_an_address_it_does_not_allow_is_reported_not_retried(
    tmp_path: Path, quiet_site: RunningServer
) -> None:
    nginx = long_lived_nginx(tmp_path, quiet_site.url.removeprefix("http://"))
    try:
        thread_no = new_thread(quiet_site.url, "a thread nobody may refresh")
        httpx.get(f"{nginx.url}/b/thread/{thread_no}")
        # The balancer says the request came from outside: the edge answers from its cache.
        transport = httpx.AsyncHTTPTransport()
        purger = EdgePurger("nginx", [nginx.url], batch_window=0, retries=3, transport=_Forwarded(transport))
        event = ThreadUpdated(board="b", thread_no=thread_no, sticky=True)
        assert not asyncio.run(_purge_and_close(purger, event))
        assert purger.stats.failed >= 1 and purger.stats.retried == 0
    finally:
        stop_process(nginx.process, sig=2)


def test_posting_through_the_edge_refreshes_the_pages_without_waiting_for_expiry(tmp_path: Path) -> None:
    """The whole path: the site's worker group turns post.created into refreshes."""
    port = free_port()
    site = start_server(
        tmp_path / "site",
        {
            "IMAGEBOARD_ANTISPAM": "off",
            "IMAGEBOARD_EDGE_PURGE": "nginx",
            "IMAGEBOARD_EDGE_PURGE_URLS": f"http://127.0.0.1:{port}",
        },
    )
    nginx = None
    try:
        nginx = long_lived_nginx(tmp_path, site.url.removeprefix("http://"), port=port)
        thread_no = new_thread(nginx.url, "a thread behind the edge")
        page = f"{nginx.url}/b/thread/{thread_no}"
        with httpx.Client() as client:
            client.get(page)
            assert client.get(page).headers["x-cache-status"] == "HIT"
            started = time.monotonic()
            reply(nginx.url, thread_no, "fresh through the edge")
            while "fresh through the edge" not in (seen := client.get(page)).text:
                assert time.monotonic() - started < 10, "the edge kept the stale page"
                time.sleep(0.1)
            assert seen.headers["x-cache-status"] == "HIT"
    finally:
        if nginx is not None:
            stop_process(nginx.process, sig=2)
        stop_server(site)


# --- Varnish ---------------------------------------------------------------------------------


def start_varnish(prefix: Path, backend: str, *, acl_without: str = "") -> tuple[str, subprocess.Popen[bytes]]:
    """varnishd with the shipped VCL, its backend pointed at ``backend`` (and one ACL entry
    taken out, when asked)."""
    varnishd = require_tool("varnishd")
    host, _, backend_port = backend.rpartition(":")
    vcl = (DEPLOY / "varnish" / "default.vcl").read_text()
    if acl_without:
        vcl, removed = re.subn(rf'\n    "{re.escape(acl_without)}"(/[0-9]+)?;', "", vcl)
        assert removed == 1
    vcl, count = re.subn(r'\.host = "[^"]*";\s*\.port = "[^"]*";', f'.host = "{host}"; .port = "{backend_port}";', vcl)
    assert count == 1, "the VCL's backend is not where the test expects it"
    prefix.mkdir(parents=True, exist_ok=True)
    (prefix / "default.vcl").write_text(vcl)
    port = free_port()
    process = subprocess.Popen(
        # -j none: no privilege separation, so the root-run test's private directories stay readable.
        [varnishd, "-F", "-j", "none", "-f", str(prefix / "default.vcl"), "-a", f"127.0.0.1:{port}",
         "-n", str(prefix / "work"), "-s", "malloc,32m", "-p", "ban_lurker_sleep=0.05"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"varnishd exited: {process.stderr.read().decode() if process.stderr else ''}")
        try:
            httpx.get(url + "/help", timeout=1)
            return url, process
        except httpx.HTTPError:
            time.sleep(0.2)
    stop_process(process)
    raise RuntimeError("varnishd did not answer within 30 s")


def test_varnish_purge_and_ban_by_surrogate_key(tmp_path: Path, quiet_site: RunningServer) -> None:
    url, process = start_varnish(tmp_path / "varnish", quiet_site.url.removeprefix("http://"))
    try:
        thread_no = new_thread(quiet_site.url, "a thread in varnish")
        page = f"{url}/b/thread/{thread_no}"
        slugged = f"{page}/some-slug"
        with httpx.Client() as client:
            for target in (page, slugged):
                assert client.get(target).headers["x-cache"] == "MISS", target
                cached = client.get(target, headers={"Cookie": "pwd=secret; theme=auto"})
                assert cached.headers["x-cache"] == "MISS", target  # the theme is part of the key
                assert client.get(target, headers={"Cookie": "pwd=other"}).headers["x-cache"] == "HIT", target
            assert client.get(page, headers={"Cookie": "session=staff"}).headers["x-cache"] == "MISS"
            reply(quiet_site.url, thread_no, "the banned reply")
            for target in (page, slugged):
                stale = client.get(target)
                assert stale.headers["x-cache"] == "HIT" and "the banned reply" not in stale.text, target
            refused = client.request("BAN", url + "/")
            assert refused.status_code == 400 and "Surrogate-Key" in refused.text

            purger = EdgePurger("varnish", [url], batch_window=0)
            assert asyncio.run(_purge_and_close(purger, PostCreated(board="b", thread_no=thread_no, post_no=1)))
            assert purger.stats.failed == 0
            for target in (page, slugged):  # the slug form by its surrogate key, the bare one by URL too
                fresh = client.get(target)
                assert fresh.headers["x-cache"] == "MISS", target
                assert "the banned reply" in fresh.text, target
                assert client.get(target).headers["x-cache"] == "HIT", target
            assert client.request("PURGE", page).status_code == 200
            assert client.get(page).headers["x-cache"] == "MISS"
    finally:
        stop_process(process)


def test_varnish_refuses_purges_from_outside_and_the_purger_gives_up_after_retries(
    tmp_path: Path, quiet_site: RunningServer
) -> None:
    # The shipped ACL with loopback taken out: this test's requests now come from "outside".
    url, process = start_varnish(tmp_path / "varnish", quiet_site.url.removeprefix("http://"), acl_without="127.0.0.0")
    try:
        assert httpx.request("PURGE", url + "/").status_code == 403
        assert httpx.request("BAN", url + "/", headers={"Surrogate-Key": "site"}).status_code == 403
        purger = EdgePurger("varnish", [url], batch_window=0, retries=2)
        assert not asyncio.run(_purge_and_close(purger, ThreadUpdated(board="b", thread_no=1, locked=True)))
        # Refused is final: no retry can change the edge's mind.
        assert purger.stats.failed > 10 and purger.stats.sent == 0 and purger.stats.retried == 0
    finally:
        stop_process(process)


def test_an_unreachable_edge_is_retried_with_backoff_then_given_up() -> None:
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    purger = EdgePurger("varnish", [nowhere], batch_window=0, retries=3, base_delay=0.5, sleep=sleep)
    assert not asyncio.run(_purge_and_close(purger, ThreadUpdated(board="b", thread_no=1, locked=True)))
    requests = purger.stats.failed
    assert requests > 10 and purger.stats.sent == 0 and purger.stats.retried == 3 * requests
    per_request = sorted(sleeps)
    # 0.5 s, 1 s, 2 s, each with ±20 % jitter, for every request.
    assert per_request[0] >= 0.4 and per_request[requests - 1] <= 0.6
    assert per_request[requests] >= 0.8 and per_request[2 * requests - 1] <= 1.2
    assert per_request[2 * requests] >= 1.6 and per_request[-1] <= 2.4


class _Forwarded(httpx.AsyncBaseTransport):
    """Adds the header a balancer in front would add for a client outside."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.headers["X-Forwarded-For"] = "198.51.100.7"
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _purge_and_close(purger: EdgePurger, event: PostCreated | ThreadUpdated) -> bool:
    try:
        return await purger.purge(purge_targets(event, pages=2))
    finally:
        await purger.close()
