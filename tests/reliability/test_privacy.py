"""Posters' addresses never leave the server through a public response.

The site runs behind a trusted proxy (127.0.0.1), so each poster's address is the one its
``X-Forwarded-For`` names: IPv4 and IPv6 documentation addresses that appear nowhere else.
They post threads, replies and files, report a post and get banned; then every public page,
JSON document, feed, error page and live-update stream — and every response header — is
searched for the addresses and their /24 or /48 prefixes. The staff post page must show them
(so the test knows they were recorded), and the ban page shown to another visitor must not.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests import media_samples as samples
from tests.reliability.conftest import Figures
from tests.reliability.services import JSON, Site, start_site, stop_site
from tests.reliability.web import Staff, sign_in_site_staff

POSTERS = {
    "v4": "198.51.100.77",
    "v4b": "203.0.113.201",
    "v6": "2001:db8:abcd:12::77",
}
# What would give an address away in part: its network prefix, and the expanded IPv6 form.
FRAGMENTS = ["198.51.100.", "203.0.113.", "2001:db8:abcd", "2001:0db8:abcd", "2001:db8:abcd:12:0:0:0:77"]


def as_poster(site: Site, who: str) -> httpx.Client:
    return httpx.Client(base_url=site.url, timeout=60, headers={**JSON, "x-forwarded-for": POSTERS[who]}, cookies={})


def leaks(text: str) -> list[str]:
    return [fragment for fragment in [*POSTERS.values(), *FRAGMENTS] if fragment in text]


class Private:
    site: Site
    staff: Staff
    threads: list[int]
    posts: list[int]
    sse_events: str = ""


@pytest.fixture(scope="module")
def private(tmp_path_factory: pytest.TempPathFactory) -> Iterator[type[Private]]:
    site = start_site(
        tmp_path_factory.mktemp("privacy") / "site",
        {
            # Anti-spam on (its pages and cookies are part of what is searched), with room
            # for a test's posts.
            "IMAGEBOARD_ANTISPAM": "on",
            "IMAGEBOARD_ANTISPAM_AUTOMATED_CHECKS": "false",
            "IMAGEBOARD_ANTISPAM_THREADS_PER_WINDOW": "100",
            "IMAGEBOARD_ANTISPAM_REPLIES_PER_WINDOW": "100",
            "IMAGEBOARD_TRUSTED_PROXIES": '["127.0.0.1/32", "::1/128"]',
            "IMAGEBOARD_PUBLIC_URL": "http://127.0.0.1",
        },
    )
    try:
        Private.site = site
        Private.staff = sign_in_site_staff(site, "privacyadmin")
        made = site.cli("create-board", "p", "Privacy", "--no-require-file", "--poster-ids", "--country-flags")
        assert made.returncode == 0, made.stderr
        Private.threads, Private.posts = [], []
        listener = threading.Thread(target=_listen, args=(site,), daemon=True)
        for i, who in enumerate(POSTERS):
            client = as_poster(site, who)
            answer = client.post(
                "/p/post",
                data={"name": f"poster {who}", "sub": f"thread by {who}", "com": f"hello from {who}"},
                files={"upfile": (f"{who}.png", samples.png_bytes(40 + i, 40), "image/png")},
            )
            assert answer.status_code == 201, answer.text
            Private.threads.append(answer.json()["no"])
            if i == 0:
                listener.start()
                time.sleep(1.0)  # the stream is open before the replies come
            for other in POSTERS:
                reply = as_poster(site, other).post(
                    "/p/post", data={"resto": str(Private.threads[-1]), "com": f">>{Private.threads[-1]} from {other}"}
                )
                assert reply.status_code == 201, reply.text
                Private.posts.append(reply.json()["no"])
        ruled = Private.staff.form("/staff/board/p/settings", {"rules": "No spam"})
        assert ruled.status_code == 303, ruled.text
        reported = as_poster(site, "v4b").post("/p/report", data={"no": str(Private.posts[0]), "reason": "board:1"})
        assert reported.status_code == 201, reported.text
        banned = Private.staff.form(
            f"/staff/post/p/{Private.threads[0]}/ban",
            {"reason": "privacy test", "hours": "1", "scope": "site", "public_mark": "on"},
        )
        assert banned.status_code == 303, banned.text
        listener.join(timeout=15)
        yield Private
    finally:
        stop_site(site)


def _listen(site: Site) -> None:
    """The live-update stream of the first thread, for a few seconds."""
    try:
        with httpx.stream("GET", f"{site.url}/p/thread/1/events", timeout=httpx.Timeout(8.0, read=8.0)) as stream:
            started = time.monotonic()
            for chunk in stream.iter_text():
                Private.sse_events += chunk
                if time.monotonic() - started > 6:
                    break
    except httpx.HTTPError:
        pass


def public_paths() -> list[str]:
    p = "p"
    threads = Private.threads
    return [
        "/", f"/{p}/", f"/{p}/1", f"/{p}/catalog", f"/{p}/archive", "/all/", "/sfw/", f"/{p}/modlog",
        f"/{p}/report/{Private.posts[0]}", "/help", "/settings",
        *[f"/{p}/thread/{n}" for n in threads],
        "/boards.json", f"/{p}/catalog.json", f"/{p}/threads.json", f"/{p}/1.json", f"/{p}/archive.json",
        *[f"/{p}/thread/{n}.json" for n in threads],
        "/api/v1/boards", f"/api/v1/boards/{p}", f"/api/v1/boards/{p}/catalog", "/api/v1/overboard",
        *[f"/api/v1/boards/{p}/threads/{n}" for n in threads],
        *[f"/api/v1/boards/{p}/threads/{n}/posts" for n in threads],
        f"/{p}/index.rss", f"/{p}/index.atom", *[f"/{p}/thread/{n}.rss" for n in threads],
        *[f"/{p}/thread/{n}.atom" for n in threads],
        "/search?q=hello", "/api/v1/openapi.json",
        # Errors and refusals, which sometimes echo the client.
        f"/{p}/thread/999999", "/nope/", f"/{p}/thread/999999.json", "/api/v1/boards/nope",
    ]  # fmt: skip


@pytest.mark.parametrize("viewer", ["v4b", "other"])
def test_no_public_response_carries_an_address(private: type[Private], viewer: str, figures: Figures) -> None:
    site = private.site
    headers = {"x-forwarded-for": POSTERS["v4b"] if viewer == "v4b" else "192.0.2.99"}
    problems = []
    for path in public_paths():
        for accept in ("text/html", "application/json"):
            answer = httpx.get(site.url + path, headers={**headers, "accept": accept}, timeout=60)
            assert answer.status_code < 500, f"{path}: {answer.status_code}"
            found = leaks(answer.text) + leaks(json.dumps(dict(answer.headers)))
            if found:
                problems.append(f"{path} ({accept}): {found}")
    assert problems == [], "\n".join(problems)
    figures.record("privacy", addresses=len(POSTERS), **{f"responses_searched_as_{viewer}": 2 * len(public_paths())})


def test_posting_answers_and_cookies_carry_no_address(private: type[Private]) -> None:
    client = as_poster(private.site, "v6")
    for accept in ("application/json", "text/html"):
        answer = client.post(
            "/p/post",
            data={"resto": str(private.threads[1]), "com": f"one more as {accept}"},
            headers={"accept": accept},
        )
        assert answer.status_code in (201, 303), answer.text
        assert leaks(answer.text) == [] and leaks(json.dumps(dict(answer.headers))) == []
        assert all(leaks(cookie) == [] for cookie in answer.headers.get_list("set-cookie"))


def test_the_ban_page_of_another_visitor_shows_no_address(private: type[Private]) -> None:
    site = private.site
    for viewer in ("192.0.2.99", POSTERS["v4b"]):
        for accept in ("text/html", "application/json"):
            answer = httpx.get(site.url + "/banned", headers={"x-forwarded-for": viewer, "accept": accept}, timeout=30)
            assert answer.status_code == 200
            assert leaks(answer.text) == [], (viewer, accept)
    # The banned poster sees their ban (proof the ban took), but that page is theirs alone.
    own = httpx.get(site.url + "/banned", headers={"x-forwarded-for": POSTERS["v4"], **JSON}, timeout=30)
    assert own.json()["bans"], "the poster is not banned"
    if leaks(own.text):
        assert "no-store" in own.headers.get("cache-control", "") or "private" in own.headers.get("cache-control", "")


def test_live_updates_carry_no_address(private: type[Private]) -> None:
    assert "event:" in private.sse_events, "the stream sent nothing"
    assert leaks(private.sse_events) == []


def test_staff_do_see_the_addresses(private: type[Private]) -> None:
    """The addresses were recorded: moderation needs them, and the checks above are not empty."""
    page = private.staff.client.get(f"/staff/post/p/{private.threads[0]}")
    assert page.status_code == 200
    assert POSTERS["v4"] in page.text
    reply = private.staff.client.get(f"/staff/post/p/{private.posts[2]}")
    assert POSTERS["v6"] in reply.text or "2001:db8:abcd:12::77" in reply.text
