"""Last-Modified / If-Modified-Since, ETag / If-None-Match, HEAD and CORS on every read
endpoint: the 4chan API, the feeds and /api/v1."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

import pytest

from imageboard.api.http_cache import http_date, is_not_modified, parse_http_date

from .conftest import Site

PATHS = [
    "/boards.json",
    "/b/1.json",
    "/b/catalog.json",
    "/b/threads.json",
    "/b/archive.json",
    "/b/thread/{op}.json",
    "/b/index.rss",
    "/b/index.atom",
    "/b/thread/{op}.rss",
    "/b/thread/{op}.atom",
    "/api/v1/boards",
    "/api/v1/boards/b",
    "/api/v1/boards/b/catalog",
    "/api/v1/boards/b/archive",
    "/api/v1/boards/b/threads/{op}",
    "/api/v1/boards/b/threads/{op}/posts",
    "/api/v1/overboard",
]
# Documents that do not show replies: the board was touched, but their bytes are the same.
# (The 4chan JSON is tagged by the version of its board, so its ETag follows the board's
# Last-Modified even when the bytes happen to stay the same.)
UNCHANGED_BY_A_REPLY = {"/api/v1/boards/b/archive"}


@pytest.mark.parametrize("template", PATHS)
async def test_conditional_get(sqlite_site: Site, template: str) -> None:
    site = sqlite_site
    op = await site.post(comment="watched thread")
    path = template.format(op=op)
    first = await site.client.get(path)
    assert first.status_code == 200, path
    last_modified = first.headers["last-modified"]
    etag = first.headers["etag"]
    assert parsedate_to_datetime(last_modified) == site.clock.now.replace(microsecond=0)
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
    assert first.headers["access-control-allow-origin"] == "*"

    # The document has not changed: 304 without a body, by date or by tag.
    for headers in ({"if-modified-since": last_modified}, {"if-none-match": etag}, {"if-none-match": f'W/{etag}, "x"'}):
        again = await site.client.get(path, headers=headers)
        assert again.status_code == 304, (path, headers)
        assert again.content == b""
        assert again.headers["etag"] == etag and again.headers["last-modified"] == last_modified
        assert again.headers["access-control-allow-origin"] == "*"

    # An older copy, or another tag, gets the document.
    older = http_date(site.clock.now.replace(year=2025))
    assert (await site.client.get(path, headers={"if-modified-since": older})).status_code == 200
    assert (await site.client.get(path, headers={"if-none-match": '"other"'})).status_code == 200
    # If-None-Match wins over If-Modified-Since (RFC 9110).
    both = {"if-none-match": '"other"', "if-modified-since": last_modified}
    assert (await site.client.get(path, headers=both)).status_code == 200
    assert (await site.client.get(path, headers={"if-modified-since": "garbage"})).status_code == 200

    # A new reply changes the thread, the board and the site: the old copy is stale.
    site.clock.advance(5)
    await site.post(thread=op, comment="news")
    fresh = await site.client.get(path, headers={"if-modified-since": last_modified})
    assert fresh.status_code == 200, path
    assert parsedate_to_datetime(fresh.headers["last-modified"]) > parsedate_to_datetime(last_modified)
    same_body = await site.client.get(path, headers={"if-none-match": etag})
    if template in UNCHANGED_BY_A_REPLY:
        assert same_body.status_code == 304 and fresh.headers["etag"] == etag
    else:
        assert same_body.status_code == 200 and fresh.headers["etag"] != etag

    # HEAD: the headers of a GET, no body.
    head = await site.client.head(path)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == fresh.headers["etag"]
    assert head.headers["content-length"] == str(len(fresh.content))


@pytest.mark.parametrize(
    "path", ["/boards.json", "/b/thread/1.json", "/b/index.rss", "/api/v1/boards", "/api/v1/boards/b"]
)
async def test_cors_preflight_for_reads(sqlite_site: Site, path: str) -> None:
    response = await sqlite_site.client.options(
        path,
        headers={
            "origin": "https://client.example",
            "access-control-request-method": "GET",
            "access-control-request-headers": "if-modified-since",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    methods = response.headers["access-control-allow-methods"].replace(" ", "").split(",")
    assert set(methods) == {"GET", "HEAD", "OPTIONS"}
    assert "if-modified-since" in response.headers["access-control-allow-headers"].lower()


async def test_writes_are_not_opened_to_other_origins(sqlite_site: Site) -> None:
    preflight = await sqlite_site.client.options(
        "/api/v1/boards/b/threads",
        headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    created = await sqlite_site.client.post("/api/v1/boards/b/threads", data={"comment": "hi"})
    assert created.status_code == 201
    assert "access-control-allow-origin" not in created.headers


async def test_errors_of_reads_are_readable_cross_origin(sqlite_site: Site) -> None:
    for path in ("/b/thread/12345.json", "/api/v1/boards/b/threads/12345"):
        response = await sqlite_site.client.get(path, headers={"origin": "https://client.example"})
        assert response.status_code == 404
        assert response.headers["access-control-allow-origin"] == "*"


def test_conditional_helpers() -> None:
    moment = parse_http_date("Mon, 05 Jan 2026 17:30:16 GMT")
    assert moment is not None and http_date(moment) == "Mon, 05 Jan 2026 17:30:16 GMT"
    assert parse_http_date("not a date") is None
    assert parse_http_date("") is None
    assert is_not_modified({"if-none-match": "*"}, etag='"a"', last_modified=None)
    assert not is_not_modified({"if-none-match": '"a"'}, etag=None, last_modified=moment)
    assert not is_not_modified({}, etag='"a"', last_modified=moment)
    # Sub-second precision is cut, as HTTP dates have none.
    assert is_not_modified({"if-modified-since": "Mon, 05 Jan 2026 17:30:16 GMT"}, etag=None,
                           last_modified=moment.replace(microsecond=999_999))
