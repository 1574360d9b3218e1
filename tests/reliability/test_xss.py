"""Cross-site scripting across every rendered field, against the running server.

Hostile text goes into every field a person can set — the poster's name (and with it a
tripcode), subject, comment and file name, the options field; and, through the real staff
UI (signed in with a second factor), the board title, description, default name, rules and
announcement, the site's rules, ban reasons and public ban marks, warning and deletion
reasons, word-filter replacements and appeal texts; the operator's site name and description
come from the environment. Then every page, JSON document and feed is read, anonymously and
as staff, and must not contain anything a browser would run:

* no payload appears raw (an escaped payload has no ``<``);
* parsing the HTML finds no inline script, event handler, inline style, script URL,
  foreign media or tag the site never emits (the CSP would block most of these; the test
  proves they are not there to block);
* the 4chan API escapes ``name``, ``sub`` and ``filename`` (its clients insert them as HTML)
  and its ``com``, our ``comment_html`` and the feeds' HTML parts pass the same inspection;
* each field's marker *is* shown somewhere, so the test sees what it claims to test.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests import media_samples as samples
from tests.reliability.conftest import Figures
from tests.reliability.services import JSON, Site, start_site, stop_site
from tests.reliability.web import Staff, inspect_html, sign_in_site_staff

BOARD = "xss"
PAYLOADS = [
    '<script>alert("{m}")</script>',
    '"><img src=x onerror=alert("{m}")>',
    "'><svg onload=alert('{m}')>",
    '</textarea></title></a><script>alert("{m}")</script>',
    "<a href=\"javascript:alert('{m}')\">{m}</a>",
    "{{{{7*7}}}}{m}{{% print(1) %}}<!--",
    '<iframe srcdoc="<script>alert(1)</script>">{m}',
    "]]></description><script>{m}</script><![CDATA[",
    "&lt;script&gt;{m}&#60;img src=x onerror=alert(1)&#62;",
    "<<script>script>{m}</script>",
    "<style>*{{background:url(javascript:alert('{m}'))}}</style><base href=//evil.example/>",
]
# File names lose everything up to the last slash: their payloads have none.
FILENAME_PAYLOADS = [
    '"><img src=x onerror=alert({m})>',
    "'><svg onload=alert({m})>",
    "<script>alert({m})<",
    '<iframe srcdoc="x">{m}',
]


def payload(index: int, marker: str) -> str:
    return PAYLOADS[index % len(PAYLOADS)].format(m=marker)


@dataclass
class Planted:
    """Every hostile string sent, by field, and the marker each carries."""

    markers: dict[str, list[str]] = field(default_factory=dict)
    raw: set[str] = field(default_factory=set)
    threads: list[int] = field(default_factory=list)
    posts: list[int] = field(default_factory=list)

    def add(self, field_name: str, marker: str, text: str) -> str:
        self.markers.setdefault(field_name, []).append(marker)
        if "<" in text:
            self.raw.add(text)
        return text


@dataclass
class XssSite:
    site: Site
    staff: Staff
    planted: Planted


SITE_NAME = '<script>alert("XSSsitename")</script>'
SITE_DESCRIPTION = '"><img src=x onerror=alert("XSSsitedesc")>'


@pytest.fixture(scope="module")
def xss(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XssSite]:
    site = start_site(
        tmp_path_factory.mktemp("xss") / "site",
        {
            "IMAGEBOARD_ANTISPAM": "off",
            "IMAGEBOARD_SITE_NAME": SITE_NAME,
            "IMAGEBOARD_SITE_DESCRIPTION": SITE_DESCRIPTION,
            "IMAGEBOARD_PUBLIC_URL": PUBLIC_URL,
        },
    )
    try:
        planted = Planted()
        planted.add("site name", "XSSsitename", SITE_NAME)
        planted.add("site description", "XSSsitedesc", SITE_DESCRIPTION)
        staff = sign_in_site_staff(site, "xssadmin")
        _plant(site, staff, planted)
        yield XssSite(site, staff, planted)
    finally:
        stop_site(site)


def _ok(answer: httpx.Response) -> httpx.Response:
    assert answer.status_code in (200, 201, 303), f"{answer.request.url}: {answer.status_code} {answer.text[:400]}"
    return answer


def _plant(site: Site, staff: Staff, planted: Planted) -> None:
    # The board, by the staff UI: title, description, then default name, rules, announcement.
    _ok(staff.form("/staff/boards/new", {
        "uri": BOARD,
        "title": planted.add("board title", "XSStitle0", payload(0, "XSStitle0"))[:100],
        "description": planted.add("board description", "XSSdesc1", payload(1, "XSSdesc1")),
    }))  # fmt: skip
    rules = [planted.add("board rules", f"XSSrule{i}", payload(i, f"XSSrule{i}")) for i in range(len(PAYLOADS))]
    _ok(staff.form(f"/staff/board/{BOARD}/settings", {
        "title": planted.add("board title", "XSStitle3", payload(3, "XSStitle3"))[:100],
        "description": planted.add("board description", "XSSdesc2", payload(2, "XSSdesc2")),
        "default_name": planted.add("default name", "XSSdefname", payload(1, "XSSdefname"))[:50],
        "rules": "\n".join(rules),
        "announcement": planted.add("announcement", "XSSannounce", payload(4, "XSSannounce")),
    }))  # fmt: skip
    site_rules = [planted.add("site rules", f"XSSsiterule{i}", payload(i + 5, f"XSSsiterule{i}")) for i in range(3)]
    _ok(
        staff.form(
            "/staff/site",
            {"global_rules": "\n".join(site_rules), "board_creation": "admins", "ip_retention_days": "30"},
        )
    )
    _ok(staff.form("/staff/filters", {
        "board": BOARD, "pattern": "filterme", "action": "replace",
        "replacement": planted.add("filter replacement", "XSSfilter", payload(0, "XSSfilter")),
    }))  # fmt: skip

    # Posts from an anonymous visitor: every field hostile, a file with a hostile name.
    poster = httpx.Client(base_url=site.url, timeout=60, headers=JSON)
    for i in range(len(PAYLOADS)):
        name = planted.add("name", f"XSSname{i}", payload(i, f"XSSname{i}"))[:90]
        if i % 3 == 1:
            name += "#trip" + str(i)  # a tripcode next to the hostile name
        elif i % 3 == 2:
            name += "##secure" + str(i)
        filename = planted.add(
            "filename", f"XSSfile{i}", FILENAME_PAYLOADS[i % len(FILENAME_PAYLOADS)].format(m=f"XSSfile{i}")
        )
        answer = _ok(poster.post(f"/{BOARD}/post", data={
            "name": name,
            "email": planted.add("options", f"XSSopt{i}", payload(i, f"XSSopt{i}"))[:100],
            "sub": planted.add("subject", f"XSSsub{i}", payload(i, f"XSSsub{i}"))[:100],
            "com": planted.add("comment", f"XSScom{i}", payload(i, f"XSScom{i}"))
            + "\n>quoted " + payload(i + 1, f"XSSquote{i}") + "\nfilterme",
        }, files={"upfile": (filename + ".png", samples.png_bytes(30 + i, 30), "image/png")}))  # fmt: skip
        planted.add("comment", f"XSSquote{i}", payload(i + 1, f"XSSquote{i}"))
        planted.threads.append(answer.json()["no"])
        reply = _ok(poster.post(f"/{BOARD}/post", data={
            "resto": str(planted.threads[-1]),
            "com": f">>{planted.threads[-1]}\n"
            + planted.add("comment", f"XSSreply{i}", payload(i + 2, f"XSSreply{i}")),
        }))  # fmt: skip
        planted.posts.append(reply.json()["no"])
    # A nameless post shows the board's hostile default name.
    nameless = _ok(poster.post(f"/{BOARD}/post", data={"resto": str(planted.threads[0]), "com": "nameless"}))
    planted.posts.append(nameless.json()["no"])
    # A report, by the board's first (hostile) rule.
    _ok(poster.post(f"/{BOARD}/report", data={"no": str(planted.posts[0]), "reason": "board:1"}))

    # Staff actions with hostile reasons: a warning, a deletion, a ban with a public mark.
    _ok(staff.form(f"/staff/post/{BOARD}/{planted.posts[1]}/warn", {
        "reason": planted.add("warning reason", "XSSwarn", payload(2, "XSSwarn")),
    }))  # fmt: skip
    _ok(staff.form(f"/staff/post/{BOARD}/{planted.posts[2]}/delete", {
        "reason": planted.add("deletion reason", "XSSdel", payload(3, "XSSdel")),
    }))  # fmt: skip
    _ok(staff.form(f"/staff/post/{BOARD}/{planted.threads[1]}/ban", {
        "reason": planted.add("ban reason", "XSSban", payload(0, "XSSban")),
        "hours": "1", "scope": "board", "public_mark": "on",
        "mark_text": planted.add("ban mark", "XSSmark", payload(1, "XSSmark"))[:200],
    }))  # fmt: skip
    # The banned poster (everyone here is 127.0.0.1) appeals with a hostile text.
    bans = _ok(poster.get("/banned")).json()["bans"]
    assert bans, "the ban did not take"
    _ok(poster.post("/banned/appeal", data={
        "ban": str(bans[0]["id"]), "text": planted.add("appeal", "XSSappeal", payload(4, "XSSappeal")),
    }))  # fmt: skip


# --------------------------------------------------------------------------- crawling


def public_paths(planted: Planted) -> list[str]:
    b = BOARD
    threads = planted.threads
    return [
        "/", "/help", "/settings", f"/{b}/", f"/{b}/1", f"/{b}/catalog", f"/{b}/catalog?sort=replies",
        f"/{b}/archive", "/all/", "/sfw/", f"/{b}/modlog", f"/{b}/report/{planted.posts[0]}", "/banned", "/login",
        "/search?q=XSScom", f"/search?q={payload(0, 'XSSq')}", f"/{b}/thread/{threads[0]}?quote={planted.posts[0]}",
        *[f"/{b}/thread/{n}" for n in threads],
    ]  # fmt: skip


def staff_paths(planted: Planted) -> list[str]:
    b = BOARD
    return [
        "/staff", "/staff/bans", "/staff/bans?all=1", "/staff/filters", f"/staff/board/{b}", "/staff/site",
        "/staff/boards/new", "/staff/modlog", "/account", f"/{b}/",
        *[f"/staff/post/{b}/{n}" for n in planted.threads[:4] + planted.posts[:2]],
        *[f"/{b}/thread/{n}" for n in planted.threads[:3]],
    ]  # fmt: skip


def json_paths(planted: Planted) -> list[str]:
    b = BOARD
    return [
        "/boards.json", f"/{b}/catalog.json", f"/{b}/threads.json", f"/{b}/1.json", f"/{b}/archive.json",
        *[f"/{b}/thread/{n}.json" for n in planted.threads],
        "/api/v1/boards", f"/api/v1/boards/{b}", f"/api/v1/boards/{b}/catalog", "/api/v1/overboard",
        *[f"/api/v1/boards/{b}/threads/{n}" for n in planted.threads],
    ]  # fmt: skip


def feed_paths(planted: Planted) -> list[str]:
    b = BOARD
    return [f"/{b}/index.rss", f"/{b}/index.atom", *[f"/{b}/thread/{n}.rss" for n in planted.threads[:3]]]


PUBLIC_URL = "http://127.0.0.1"


def _problems_in_html(path: str, text: str, raw: set[str]) -> list[str]:
    problems = [f"{path}: {p}" for p in inspect_html(text, origins=(PUBLIC_URL + "/",)).problems]
    problems += [f"{path}: the payload {r[:60]!r} is in the page unescaped" for r in raw if r in text]
    return problems


@pytest.mark.parametrize("viewer", ["anonymous", "staff"])
def test_no_page_runs_planted_markup(xss: XssSite, viewer: str, figures: Figures) -> None:
    client = httpx.Client(base_url=xss.site.url, timeout=60) if viewer == "anonymous" else xss.staff.client
    paths = public_paths(xss.planted) if viewer == "anonymous" else staff_paths(xss.planted)
    problems: list[str] = []
    shown = ""
    for path in paths:
        answer = client.get(path, headers={"accept": "text/html"})
        assert answer.status_code in (200, 404), f"{path}: {answer.status_code}"
        if path.startswith("/search") and answer.status_code == 404:
            continue  # the search page may be switched off
        assert answer.status_code == 200, f"{path}: {answer.status_code}"
        assert answer.headers["content-type"].startswith("text/html")
        problems += _problems_in_html(path, answer.text, xss.planted.raw)
        shown += answer.text
    assert problems == [], "\n".join(problems[:40])
    # What each field showed: its markers must be there (escaped), or the test saw nothing.
    expected = {
        "anonymous": ["site name", "site description", "board title", "board description", "default name",
                      "board rules", "site rules", "filter replacement", "name", "subject", "comment", "filename",
                      "ban reason", "ban mark", "warning reason", "deletion reason"],
        "staff": ["board title", "board description", "default name", "board rules", "announcement", "site rules",
                  "filter replacement", "name", "subject", "comment", "filename", "ban reason", "ban mark",
                  "warning reason", "appeal"],
    }[viewer]  # fmt: skip
    missing = [name for name in expected if not any(m in shown for m in xss.planted.markers[name])]
    assert missing == [], f"fields never shown to {viewer}: {missing}"
    figures.record(
        "xss",
        fields=len(xss.planted.markers),
        hostile_strings=sum(len(m) for m in xss.planted.markers.values()),
        **{f"html_pages_{viewer}": len(paths)},
    )


def test_json_is_escaped_where_clients_expect_html(xss: XssSite, figures: Figures) -> None:
    problems: list[str] = []
    seen = ""
    for path in json_paths(xss.planted):
        answer = httpx.get(xss.site.url + path, timeout=60)
        assert answer.status_code == 200, f"{path}: {answer.status_code}"
        assert answer.headers["content-type"].startswith("application/json")
        assert answer.headers["x-content-type-options"] == "nosniff"
        seen += answer.text
        for where, key, value in _walk(answer.json()):
            if not isinstance(value, str):
                continue
            if key in ("com", "comment_html"):
                problems += _problems_in_html(f"{path} {where}", value, xss.planted.raw)
            elif (
                # 4chan's API carries these HTML-escaped: its clients insert them as HTML.
                not path.startswith("/api/v1")
                and key in ("name", "sub", "filename", "trip")
                and re.search(r"<|>|\"(?![^&]*;)", value)
            ):
                problems.append(f"{path} {where}: {value[:80]!r} is not HTML-escaped")
    assert problems == [], "\n".join(problems[:40])
    for name in ("name", "subject", "comment", "filename", "board title", "board description"):
        assert any(m in seen for m in xss.planted.markers[name]), f"{name} is not in the JSON at all"
    figures.record("xss", json_documents=len(json_paths(xss.planted)))


def _walk(value: Any, where: str = "$") -> Iterator[tuple[str, str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield f"{where}.{key}", key, item
            yield from _walk(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{where}[{index}]")


def test_feeds_are_well_formed_and_their_html_is_inert(xss: XssSite, figures: Figures) -> None:
    problems: list[str] = []
    for path in feed_paths(xss.planted):
        answer = httpx.get(xss.site.url + path, timeout=60)
        assert answer.status_code == 200, f"{path}: {answer.status_code}"
        assert "xml" in answer.headers["content-type"]
        for raw in xss.planted.raw:
            assert raw not in answer.text, f"{path}: {raw[:60]!r} is in the feed unescaped"
        # Our own feed (not untrusted XML); a payload that broke out would break the parse.
        root = ET.fromstring(answer.content)  # noqa: S314
        # The HTML parts: RSS item descriptions and Atom content of type html. (Titles, the
        # channel description and Atom's subtitle are plain text, escaped by the XML.)
        html_parts = [*root.iterfind("./channel/item/description"), *root.iterfind("{*}entry/{*}content")]
        assert html_parts, f"{path} has no items"
        for element in html_parts:
            problems += _problems_in_html(f"{path} <{element.tag}>", element.text or "", xss.planted.raw)
    assert problems == [], "\n".join(problems[:40])
    figures.record("xss", feeds=len(feed_paths(xss.planted)))


def test_error_pages_do_not_reflect_input(xss: XssSite) -> None:
    """Input that comes back in error messages (a bad board name, a missing post, a bad
    theme or language) comes back escaped."""
    marker = '<script>alert("XSSerr")</script>'
    paths = [
        f"/{marker}/", f"/{BOARD}/thread/99999999", f"/settings?theme={marker[:10]}",
        f"/settings?language={marker[:10]}", f"/{BOARD}/catalog?sort={marker}",
        f"/api/v1/boards/{BOARD}/catalog?cursor={marker}", f"/staff/post/{BOARD}/1/{marker}",
    ]  # fmt: skip
    for path in paths:
        for accept in ("text/html", "application/json"):
            answer = httpx.get(xss.site.url + path, headers={"accept": accept}, timeout=30)
            assert answer.status_code < 500, f"{path}: {answer.status_code}"
            assert marker not in answer.text and "<script>alert" not in answer.text, path
            if answer.headers.get("content-type", "").startswith("text/html"):
                assert inspect_html(answer.text).problems == [], (path, inspect_html(answer.text).problems)
            else:
                json.loads(answer.text)
