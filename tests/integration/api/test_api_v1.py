"""Our own API at /api/v1 over HTTP, on SQLite and PostgreSQL: reads, cursor pagination,
posting and deleting, and one error shape for every failure."""

from __future__ import annotations

from typing import Any

import httpx

from imageboard.app import create_app
from imageboard.boards import BoardSpec
from imageboard.config import Settings
from imageboard.core.db import Database

from .conftest import Site


def assert_error(response: httpx.Response, status: int, code: str | None = None, field: str | None = "") -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}
    assert body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code, body
    if field != "":
        assert body["error"]["field"] == field, body


async def walk(client: httpx.AsyncClient, path: str, **params: Any) -> list[list[Any]]:
    pages: list[list[Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await client.get(path, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 50


async def test_boards(site: Site) -> None:
    body = (await site.client.get("/api/v1/boards")).json()
    assert [b["uri"] for b in body["items"]] == ["b", "int", "tech"] and body["next_cursor"] is None
    pages = await walk(site.client, "/api/v1/boards", limit=2)
    assert [[b["uri"] for b in page] for page in pages] == [["b", "int"], ["tech"]]
    tech = (await site.client.get("/api/v1/boards/tech")).json()
    assert tech["title"] == "Technology & <Stuff>" and tech["work_safe"] is True
    assert tech["created_at"] == "2026-01-05T17:30:15Z"
    assert_error(await site.client.get("/api/v1/boards/nope"), 404, "board_not_found", None)
    assert_error(await site.client.get("/api/v1/boards/NOPE"), 400, "invalid", "board")


async def test_thread_posts_and_files_list(site: Site) -> None:
    op = await site.post(subject="Subject", comment="Hello\n>green", name="moot#faggot")
    replies = [await site.post(thread=op, comment=f">>{op} reply {n}") for n in range(5)]
    thread = (await site.client.get(f"/api/v1/boards/b/threads/{op}")).json()
    assert thread["no"] == op and thread["reply_count"] == 5 and thread["unique_posters"] == 1
    assert [p["no"] for p in thread["posts"]] == [op, *replies]
    first = thread["posts"][0]
    assert first["is_op"] and first["tripcode"] == "!Ep8pui8Vw2" and first["comment"] == "Hello\n>green"
    assert first["comment_html"] == 'Hello<br><span class="quote">&gt;green</span>'
    assert first["files"] == [] and len(first["backlinks"]) == 5
    assert first["backlinks"][0] == {"board": "b", "thread_no": op, "post_no": replies[0]}

    pages = await walk(site.client, f"/api/v1/boards/b/threads/{op}/posts", limit=2)
    assert [[p["no"] for p in page] for page in pages] == [[op, replies[0]], replies[1:3], replies[3:5]]
    # Polling with the last cursor: a new reply shows up after it.
    last = await site.client.get(f"/api/v1/boards/b/threads/{op}/posts", params={"limit": 4})
    newer = await site.post(thread=op, comment="late")
    following = await site.client.get(
        f"/api/v1/boards/b/threads/{op}/posts", params={"limit": 4, "cursor": last.json()["next_cursor"]}
    )
    assert [p["no"] for p in following.json()["items"]] == [*replies[3:], newer]
    assert_error(await site.client.get("/api/v1/boards/b/threads/999999"), 404, "thread_not_found", None)
    assert_error(await site.client.get("/api/v1/boards/b/threads/0"), 400, "invalid", "no")
    assert_error(await site.client.get(f"/api/v1/boards/b/threads/{2**60}"), 400, "invalid", "no")


async def test_catalog_cursor_is_stable_while_threads_arrive(site: Site) -> None:
    threads = [await site.post(comment=f"thread {n}") for n in range(7)]
    first = (await site.client.get("/api/v1/boards/b/catalog", params={"limit": 3})).json()
    assert [t["no"] for t in first["items"]] == threads[::-1][:3]
    assert first["items"][0]["op"]["comment"] == "thread 6" and first["items"][0]["excerpt"] == "thread 6"
    await site.post(comment="newcomer")  # lands on top; the next page must not repeat or skip
    second = (await site.client.get("/api/v1/boards/b/catalog", params={"limit": 3, "cursor": first["next_cursor"]}))
    assert [t["no"] for t in second.json()["items"]] == threads[::-1][3:6]

    by_created = await walk(site.client, "/api/v1/boards/b/catalog", sort="created", limit=100)
    assert len(by_created) == 1 and len(by_created[0]) == 8
    await site.post(thread=threads[0], comment="bump")
    replies_sorted = (await site.client.get("/api/v1/boards/b/catalog", params={"sort": "replies"})).json()
    assert replies_sorted["items"][0]["no"] == threads[0]
    assert_error(await site.client.get("/api/v1/boards/b/catalog", params={"sort": "random"}), 400, "invalid", "sort")
    # Cursors are tied to their list.
    assert_error(
        await site.client.get("/api/v1/boards/b/catalog", params={"sort": "created", "cursor": first["next_cursor"]}),
        400, "invalid_cursor", "cursor",
    )
    for bad in ("%%%", "bm90IGpzb24", "eyJsIjoiYm9hcmRzIiwiayI6WzFdfQ", "x" * 600):
        assert_error(await site.client.get("/api/v1/boards/b/catalog", params={"cursor": bad}), 400, None, "cursor")
    # limit is capped, not refused, above 100; below 1 is refused.
    capped = await site.client.get("/api/v1/boards/b/catalog", params={"limit": 10_000})
    assert capped.status_code == 200
    assert_error(await site.client.get("/api/v1/boards/b/catalog", params={"limit": 0}), 400, "invalid", "limit")


async def test_archive_and_overboard(site: Site) -> None:
    await site.boards.create_board(BoardSpec(uri="tiny", title="Tiny", require_file=False, threads_per_page=1, pages=1))
    archived = [await site.post("tiny", comment=f"t{n}") for n in range(4)][:-1]
    pages = await walk(site.client, "/api/v1/boards/tiny/archive", limit=2)
    assert [t["no"] for page in pages for t in page] == archived[::-1]
    assert all(t["archived"] and t["archived_at"] for page in pages for t in page)

    await site.post("tech", comment="safe")
    everything = await walk(site.client, "/api/v1/overboard", limit=1)
    assert [[t["board"] for t in page] for page in everything] == [["tech"], ["tiny"]]  # bump order
    safe = (await site.client.get("/api/v1/overboard", params={"work_safe_only": True})).json()
    assert [t["board"] for t in safe["items"]] == ["tech"] and safe["items"][0]["op"]["comment"] == "safe"
    wrong_list = (await site.client.get("/api/v1/overboard", params={"limit": 1})).json()["next_cursor"]
    assert_error(
        await site.client.get("/api/v1/overboard", params={"work_safe_only": True, "cursor": wrong_list}),
        400, "invalid_cursor", "cursor",
    )


async def test_post_thread_reply_and_delete(site: Site) -> None:
    created = await site.client.post(
        "/api/v1/boards/b/threads", data={"subject": "API thread", "comment": "from the API", "password": "pw1"}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    op = body["no"]
    assert body == {
        "board": "b", "thread_no": op, "no": op, "url": f"/b/thread/{op}#p{op}",
        "api_url": f"/api/v1/boards/b/threads/{op}", "password": None,
    }
    assert created.headers["location"] == f"/api/v1/boards/b/threads/{op}"

    reply = await site.client.post(f"/api/v1/boards/b/threads/{op}/posts", data={"comment": "reply", "options": "sage"})
    assert reply.status_code == 201
    generated = reply.json()["password"]
    assert generated and len(generated) >= 12  # none given: one made and handed back
    reply_no = reply.json()["no"]

    thread = (await site.client.get(f"/api/v1/boards/b/threads/{op}")).json()
    assert [p["no"] for p in thread["posts"]] == [op, reply_no]
    assert thread["bumped_at"] == thread["created_at"]  # sage did not bump

    wrong = await site.client.request("DELETE", f"/api/v1/boards/b/posts/{reply_no}", json={"password": "nope"})
    assert_error(wrong, 403, "wrong_password", "password")
    deleted = await site.client.request("DELETE", f"/api/v1/boards/b/posts/{reply_no}", json={"password": generated})
    assert deleted.status_code == 200 and deleted.json() == {"board": "b", "no": reply_no, "thread_deleted": False}
    whole = await site.client.request("DELETE", f"/api/v1/boards/b/posts/{op}", json={"password": "pw1"})
    assert whole.json()["thread_deleted"] is True
    assert_error(await site.client.get(f"/api/v1/boards/b/threads/{op}"), 404, "thread_not_found")
    assert_error(
        await site.client.request("DELETE", f"/api/v1/boards/b/posts/{op}", json={"password": "pw1"}),
        404, "post_not_found",
    )
    no_password = await site.client.request("DELETE", f"/api/v1/boards/b/posts/{op}", json={})
    assert_error(no_password, 400, "invalid", "password")
    assert_error(
        await site.client.request("DELETE", f"/api/v1/boards/b/posts/{op}", content=b"{not json",
                                  headers={"content-type": "application/json"}),
        400, "invalid",
    )


async def test_posting_errors_name_this_apis_fields(site: Site) -> None:
    assert_error(await site.client.post("/api/v1/boards/b/threads", data={"comment": "   "}), 400, "invalid", "comment")
    assert_error(
        await site.client.post("/api/v1/boards/b/threads", data={"comment": "x", "subject": "s" * 101}),
        400, "invalid", "subject",
    )
    nul = await site.client.post("/api/v1/boards/b/threads", data={"comment": "a\x00b"})
    assert_error(nul, 400, "invalid", "comment")
    assert_error(await site.client.post("/api/v1/boards/b/threads/424242/posts", data={"comment": "x"}), 404,
                 "thread_not_found", "no")
    assert_error(await site.client.post("/api/v1/boards/nope/threads", data={"comment": "x"}), 404, "board_not_found")
    with_file = await site.client.post(
        "/api/v1/boards/b/threads", data={"comment": "x"}, files={"files": ("a.png", b"\x89PNG", "image/png")}
    )
    assert_error(with_file, 415, "unsupported_media", "files")  # a truncated PNG is not an image
    await site.boards.create_board(BoardSpec(uri="need", title="Subjects", require_file=False, require_subject=True))
    no_subject = await site.client.post("/api/v1/boards/need/threads", data={"comment": "x"})
    assert_error(no_subject, 400, "invalid", "subject")


async def test_unknown_routes_and_methods_use_the_error_shape(site: Site) -> None:
    assert_error(await site.client.get("/api/v1/nothing/here"), 404, "not_found", None)
    response = await site.client.put("/api/v1/boards")
    assert_error(response, 405, "method_not_allowed", None)
    assert "GET" in response.headers["allow"]
    assert_error(await site.client.get("/api/v1/boards", params={"limit": "many"}), 400, "invalid", "limit")


async def test_cross_site_writes_are_refused(site: Site) -> None:
    response = await site.client.post(
        "/api/v1/boards/b/threads", data={"comment": "csrf"}, headers={"origin": "https://evil.example"}
    )
    assert_error(response, 403, "cross_site")


async def test_api_posts_pass_the_same_antispam_checks_as_the_form(
    settings: Settings, sqlite_database: Database
) -> None:
    """Posting through the API goes through the posting service: the anti-spam limits apply."""
    strict = settings.model_copy(
        update={"antispam": "on", "antispam_threads_per_window": 1, "antispam_warmup_seconds": 0}
    )
    app = create_app(strict, database=sqlite_database)
    await app.state.boards.create_board(BoardSpec(uri="b", title="Random", require_file=False))
    transport = httpx.ASGITransport(app=app, client=("192.0.2.9", 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        accepted = await client.post("/api/v1/boards/b/threads", data={"comment": "first thread"})
        assert accepted.status_code == 201, accepted.text
        refused = await client.post("/api/v1/boards/b/threads", data={"comment": "second thread"})
        assert_error(refused, 429, None, None)
        assert int(refused.headers["retry-after"]) > 0
    catalog = (await app.state.boards.catalog("b"))[1]
    assert [e.op.comment for e in catalog] == ["first thread"]
