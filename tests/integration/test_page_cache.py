"""Cached pages are never stale: every kind of write changes the version they are keyed by."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from starlette.requests import Request

from imageboard.accounts import Actor, SiteRole
from imageboard.app import create_app
from imageboard.boards import BoardSpec, BoardsService
from imageboard.config import Settings
from imageboard.core.cache import MemoryPageCache, RedisPageCache
from imageboard.core.db import Database
from imageboard.moderation import ModerationService
from imageboard.moderation.schemas import BanRequest
from tests.media_samples import picture

JSON = {"accept": "application/json"}
REDIS_URL = os.environ.get("IMAGEBOARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(params=["memory", "redis", "off"])
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


# --- every kind of write reaches exactly the pages, post fragments and JSON it changes -------

ADMIN = Actor(user_id=1, username="admin", site_role=SiteRole.ADMIN)


@dataclass
class Staffed:
    client: httpx.AsyncClient
    app: FastAPI
    fresh: httpx.AsyncClient  # the same site with no page cache: renders from scratch
    fresh_app: FastAPI

    @property
    def moderation(self) -> ModerationService:
        return self.app.state.moderation  # type: ignore[no-any-return]

    async def from_scratch(self, path: str) -> bytes:
        self.fresh_app.state.pages.fragments.clear()
        response = await self.fresh.get(path)
        assert response.status_code == 200, (path, response.text)
        return response.content


@pytest.fixture(params=["memory", "redis", "off"])
async def staffed(
    request: pytest.FixtureRequest, settings: Settings, sqlite_database: Database
) -> AsyncIterator[Staffed]:
    await BoardsService(sqlite_database, secret=b"x").create_board(
        BoardSpec(uri="b", title="Random", require_file=False)
    )
    cached = settings.model_copy(update={"page_cache": request.param, "redis_url": REDIS_URL})
    app = create_app(cached, database=sqlite_database)
    fresh_app = create_app(settings.model_copy(update={"page_cache": "off"}), database=sqlite_database)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    fresh = httpx.AsyncClient(transport=httpx.ASGITransport(app=fresh_app), base_url="http://testserver")
    async with client, fresh:
        yield Staffed(client=client, app=app, fresh=fresh, fresh_app=fresh_app)


async def _upload(client: httpx.AsyncClient, thread: int, comment: str) -> int:
    image = bytes(picture(40, 30).pngsave_buffer())
    response = await client.post(
        "/b/post",
        data={"com": comment, "resto": str(thread), "pwd": "pw123"},
        files={"upfile": ("cat.png", image, "image/png")},
        headers=JSON,
    )
    assert response.status_code == 201, response.text
    return int(response.json()["no"])


async def _reply(site: Staffed, op: int, reply: int) -> None:
    await _post(site.client, com="a new reply", resto=str(op))


async def _delete(site: Staffed, op: int, reply: int) -> None:
    response = await site.client.post("/b/delete", data={"delete": str(reply), "pwd": "pw123"}, headers=JSON)
    assert response.status_code == 200, response.text


async def _delete_file(site: Staffed, op: int, reply: int) -> None:
    data = {"delete": str(reply), "pwd": "pw123", "file_only": "on"}
    response = await site.client.post("/b/delete", data=data, headers=JSON)
    assert response.status_code == 200, response.text


async def _spoiler(site: Staffed, op: int, reply: int) -> None:
    await site.moderation.actions.spoiler_file(ADMIN, "b", reply)


async def _ban_mark(site: Staffed, op: int, reply: int) -> None:
    request = BanRequest(reason="spam", public_mark=True, mark_text="BANNED FOR THIS POST")
    await site.moderation.bans.ban_post(ADMIN, "b", reply, request)


async def _sticky(site: Staffed, op: int, reply: int) -> None:
    await site.moderation.actions.set_flag(ADMIN, "b", op, "sticky", True)


async def _lock(site: Staffed, op: int, reply: int) -> None:
    await site.moderation.actions.set_flag(ADMIN, "b", op, "locked", True)


async def _edit(site: Staffed, op: int, reply: int) -> None:
    await site.moderation.actions.edit_post(ADMIN, "b", reply, "rewritten by staff")


async def _delete_quoting(site: Staffed, op: int, reply: int) -> None:
    # The post quoting the reply came right after it; its backlink on the reply goes with it.
    assert not await site.moderation.actions.delete_post(ADMIN, "b", reply + 1)  # not a whole thread


async def _edit_opening(site: Staffed, op: int, reply: int) -> None:
    await site.moderation.actions.edit_post(ADMIN, "b", op, "the opening post, rewritten")


async def _quote_opening(site: Staffed, op: int, reply: int) -> str:
    # A reply in another thread quotes the opening post: only its backlink changes on this page.
    other = (await _post(site.client, com="elsewhere"))["no"]
    quoting = (await _post(site.client, com=f">>{op} seen from afar", resto=str(other)))["no"]
    return f'+href="/b/thread/{other}#p{quoting}"'


# Each write, and text of the thread page that appears (+) or disappears (-) with it (or the
# write gives the text, when it depends on the numbers the write took).
WRITES: dict[str, tuple[Callable[[Staffed, int, int], Awaitable[str | None]], str]] = {
    "reply": (_reply, "+a new reply"),
    "delete": (_delete, "-a reply with a file"),
    "file delete": (_delete_file, "+File deleted"),
    "spoiler": (_spoiler, '+src="/b/spoiler"'),
    "ban mark": (_ban_mark, "+BANNED FOR THIS POST"),
    "sticky": (_sticky, "+badge-sticky"),
    "lock": (_lock, "+badge-closed"),
    "edit": (_edit, "+rewritten by staff"),
    "quote deleted": (_delete_quoting, "-quoting it"),
    "opening post edited": (_edit_opening, "+the opening post, rewritten"),
    "opening post quoted": (_quote_opening, "(its backlink: the write says)"),
}


@pytest.mark.parametrize("write", list(WRITES))
async def test_each_write_changes_exactly_its_pages_fragments_and_json(staffed: Staffed, write: str) -> None:
    site = staffed
    other = (await _post(site.client, com="a thread nobody touches"))["no"]
    op = (await _post(site.client, com="the thread written to"))["no"]
    reply = await _upload(site.client, op, "a reply with a file")
    await _post(site.client, com=f">>{reply} quoting it", resto=str(op))
    changed = [f"/b/thread/{op}", f"/b/thread/{op}.json", "/b/", "/b/catalog", "/b/1.json", "/b/catalog.json"]
    untouched = [f"/b/thread/{other}", f"/b/thread/{other}.json"]
    before = {}
    for path in [*changed, *untouched]:
        first = await site.client.get(path)
        assert first.status_code == 200, path
        # A current copy revalidates with a bodiless 304; a repeated read gives the same bytes.
        again = await site.client.get(path, headers={"if-none-match": first.headers["etag"]})
        assert again.status_code == 304 and again.content == b"", path
        assert (await site.client.get(path)).content == first.content, path
        before[path] = first

    change, text = WRITES[write]
    text = await change(site, op, reply) or text

    for path in changed:
        after = await site.client.get(path, headers={"if-none-match": before[path].headers["etag"]})
        assert after.status_code == 200 and after.headers["etag"] != before[path].headers["etag"], (write, path)
        # The cached document, a page joined from cached post fragments, is what a render from
        # scratch gives: no post kept its old fragment.
        assert after.content == await site.from_scratch(path), (write, path)
    page = (await site.client.get(f"/b/thread/{op}")).text
    old_page = before[f"/b/thread/{op}"].text
    appears = text.startswith("+")
    assert (text[1:] in page) is appears and (text[1:] in old_page) is not appears, write
    for path in untouched:
        kept = await site.client.get(path, headers={"if-none-match": before[path].headers["etag"]})
        assert kept.status_code == 304, (write, path)


async def test_post_fragments_are_rendered_once_per_content(staffed: Staffed) -> None:
    site = staffed
    fragments = site.app.state.pages.fragments
    op = (await _post(site.client, com="fragments"))["no"]
    for n in range(5):
        await _post(site.client, com=f"reply {n}", resto=str(op))
    await site.client.get(f"/b/thread/{op}")
    rendered = fragments.misses
    assert rendered == 6
    await _post(site.client, com=f">>{op} a backlink to the opening post", resto=str(op))
    page = await site.client.get(f"/b/thread/{op}")
    # The new reply, and the opening post (a new backlink and reply count): nothing else.
    assert fragments.misses == rendered + 2 and fragments.hits >= 5
    german = await site.client.get(f"/b/thread/{op}", headers={"accept-language": "de"})
    assert fragments.misses == rendered + 2 + 7 and german.text != page.text
    site.client.cookies.set("session", "anything")  # a (signed-out) staff cookie: a private render
    private = await site.client.get(f"/b/thread/{op}")
    assert private.text == page.text and fragments.misses == rendered + 2 + 7


async def test_a_thread_page_with_its_replies_spliced_in_is_the_page_rendered_whole(staffed: Staffed) -> None:
    """An anonymous thread page takes its replies as UTF-8 bytes (web.fragments) into the
    encoded page; it reads as the page the template renders with every post through the
    post macro, whatever scripts the posts are written in."""
    site = staffed
    op = (await _post(site.client, com="スレッド — «ouverture»"))["no"]
    for comment in ("こんにちは", "naïve café", "a party 🎉 here", "plain ascii", "Ελληνικά", "ÿ"):
        await _post(site.client, com=comment, resto=str(op))
    spliced = await site.client.get(f"/b/thread/{op}")
    assert spliced.status_code == 200 and int(spliced.headers["content-length"]) == len(spliced.content)
    pages = site.app.state.pages
    scope = {"type": "http", "method": "GET", "path": f"/b/thread/{op}", "headers": [], "query_string": b""}
    whole = await pages.render(
        Request({**scope, "app": site.app}), "pages/thread.html", thread=await pages.boards.thread("b", op),
        password="", quote="",
    )  # fmt: skip
    # The template's own loop puts line breaks between the replies; nothing else may differ.
    assert _between_tags(spliced.content.decode()) == _between_tags(bytes(whole.body).decode())
    assert "a party 🎉 here" in spliced.text and spliced.text.count('class="post reply"') == 6


def _between_tags(html: str) -> str:
    return re.sub(r">\s+<", "><", html)


async def test_without_a_page_cache_pages_keep_their_validators(settings: Settings, sqlite_database: Database) -> None:
    """``IMAGEBOARD_PAGE_CACHE=off`` renders every page afresh, but browsers still get 304s and
    an edge may still keep the page briefly (``no-store`` would defeat the edge's cache lock)."""
    await BoardsService(sqlite_database, secret=b"x").create_board(
        BoardSpec(uri="b", title="Random", require_file=False)
    )
    app = create_app(settings.model_copy(update={"page_cache": "off"}), database=sqlite_database)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as site:
        await _post(site, com="hello")
        first = await site.get("/b/")
        assert first.status_code == 200 and "hello" in first.text
        assert first.headers["cache-control"].startswith("public") and "s-maxage" in first.headers["cache-control"]
        again = await site.get("/b/", headers={"if-none-match": first.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        await _post(site, com="a new thread")
        changed = await site.get("/b/", headers={"if-none-match": first.headers["etag"]})
        assert changed.status_code == 200 and "a new thread" in changed.text
        assert changed.headers["etag"] != first.headers["etag"]
