"""Cached pages are never stale: every kind of write changes the version they are keyed by."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from imageboard.app import create_app
from imageboard.boards import BoardSpec, BoardsService
from imageboard.config import Settings
from imageboard.core.cache import MemoryPageCache, RedisPageCache
from imageboard.core.db import Database

JSON = {"accept": "application/json"}
REDIS_URL = os.environ.get("IMAGEBOARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(params=["memory", "redis"])
async def site(
    request: pytest.FixtureRequest, settings: Settings, sqlite_database: Database
) -> AsyncIterator[httpx.AsyncClient]:
    await BoardsService(sqlite_database, secret=b"x").create_board(
        BoardSpec(uri="b", title="Random", require_file=False)
    )
    configured = settings.model_copy(update={"page_cache": request.param, "redis_url": REDIS_URL})
    app = create_app(configured, database=sqlite_database)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def _post(client: httpx.AsyncClient, **fields: str) -> dict[str, int]:
    response = await client.post("/b/post", data=fields, headers=JSON)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_thread_page_revalidates_and_changes_after_reply(site: httpx.AsyncClient) -> None:
    op = (await _post(site, com="first"))["no"]
    first = await site.get(f"/b/thread/{op}")
    etag = first.headers["etag"]
    assert first.headers["cache-control"].startswith("public")
    assert "last-modified" in first.headers
    again = await site.get(f"/b/thread/{op}", headers={"if-none-match": etag})
    assert again.status_code == 304 and again.content == b""
    cached = await site.get(f"/b/thread/{op}")
    assert cached.text == first.text and cached.headers["etag"] == etag

    reply = (await _post(site, com="a reply", resto=str(op), pwd="pw123"))["no"]
    fresh = await site.get(f"/b/thread/{op}", headers={"if-none-match": etag})
    assert fresh.status_code == 200 and f'id="p{reply}"' in fresh.text
    board = await site.get("/b/")
    assert "a reply" in board.text

    deleted = await site.post("/b/delete", data={"delete": str(reply), "pwd": "pw123"}, headers=JSON)
    assert deleted.status_code == 200
    after = await site.get(f"/b/thread/{op}", headers={"if-none-match": fresh.headers["etag"]})
    assert after.status_code == 200 and f'id="p{reply}"' not in after.text
    assert "a reply" not in (await site.get("/b/")).text
    assert "a reply" not in (await site.get("/b/catalog")).text


async def test_cross_thread_backlink_reaches_the_quoted_thread(site: httpx.AsyncClient) -> None:
    first = (await _post(site, com="quoted"))["no"]
    before = await site.get(f"/b/thread/{first}")
    second = (await _post(site, com="another"))["no"]
    quoting = (await _post(site, com=f">>{first}", resto=str(second)))["no"]
    after = await site.get(f"/b/thread/{first}", headers={"if-none-match": before.headers["etag"]})
    assert after.status_code == 200 and f"#p{quoting}" in after.text


async def test_language_and_theme_are_separate_variants(site: httpx.AsyncClient) -> None:
    await _post(site, com="hello")
    english = await site.get("/b/", headers={"accept-language": "en"})
    german = await site.get("/b/", headers={"accept-language": "de"})
    assert english.headers["etag"] != german.headers["etag"]
    assert 'lang="de"' in german.text and 'lang="en"' in english.text


async def test_staff_pages_are_private(site: httpx.AsyncClient) -> None:
    await _post(site, com="hello")
    site.cookies.set("session", "anything")
    response = await site.get("/b/")
    assert response.headers["cache-control"] == "private, no-store" and "etag" not in response.headers


async def test_memory_cache_serves_repeated_reads() -> None:
    cache = MemoryPageCache(max_bytes=1000)
    from imageboard.core.cache import CachedDocument

    await cache.put("a", CachedDocument(b"x" * 100, "text/html"), 60)
    assert (await cache.get("a")) is not None and cache.hits == 1
    for i in range(20):
        await cache.put(f"k{i}", CachedDocument(b"y" * 100, "text/html"), 60)
    assert await cache.get("a") is None, "the least recently used entry is evicted past the byte budget"


async def test_redis_cache_round_trip_and_outage() -> None:
    from imageboard.core.cache import CachedDocument

    cache = RedisPageCache(REDIS_URL, prefix=f"test:{uuid.uuid4().hex}:")
    await cache.put("k", CachedDocument(b"<p>hi</p>", "text/html"), 30)
    got = await cache.get("k")
    assert got is not None and got.body == b"<p>hi</p>" and got.media_type == "text/html"
    await cache.close()
    unreachable = RedisPageCache("redis://127.0.0.1:1/0")
    assert await unreachable.get("k") is None  # an outage costs a render, never an error
    await unreachable.put("k", CachedDocument(b"x", "text/html"), 30)
