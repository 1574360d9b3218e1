"""The 4chan-compatible API over HTTP, on SQLite and PostgreSQL: every documented field, type
and presence rule, for threads with tripcodes, capcodes, poster IDs, country flags, sticky,
closed and archived states; and the URL layout 4chan clients expect."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from imageboard.boards import BoardSpec
from imageboard.boards.models import Board, Post, Thread

from .conftest import Site
from .fourchan_contract import (
    check_board,
    check_catalog_document,
    check_index_document,
    check_post,
    check_thread_document,
    check_threadlist_document,
)


def _board_id(uri: str) -> Any:
    return select(Board.id).where(Board.uri == uri).scalar_subquery()


async def _set_thread(site: Site, board: str, no: int, **values: object) -> None:
    async with site.db.writer() as session:
        query = update(Thread).where(Thread.board_id == _board_id(board), Thread.no == no)
        await session.execute(query.values(**values))


async def _set_post(site: Site, no: int, board: str = "b", **values: object) -> None:
    async with site.db.writer() as session:
        query = update(Post).where(Post.board_id == _board_id(board), Post.no == no)
        await session.execute(query.values(**values))


async def test_boards_json_carries_limits_cooldowns_and_flags(site: Site) -> None:
    response = await site.client.get("/boards.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert set(document) == {"boards"}
    by_uri = {b["board"]: b for b in document["boards"]}
    assert set(by_uri) == {"b", "tech", "int"}
    for board in by_uri.values():
        check_board(board)
    tech = by_uri["tech"]
    assert tech["title"] == "Technology & <Stuff>"  # titles are plain text
    assert tech["ws_board"] == 1 and by_uri["b"]["ws_board"] == 0
    assert tech["meta_description"] == "/tech/ - Technology &amp; &lt;Stuff&gt;"  # HTML-escaped, as 4chan's
    assert (tech["per_page"], tech["pages"], tech["bump_limit"], tech["image_limit"]) == (15, 10, 300, 150)
    assert tech["max_comment_chars"] == 2000
    assert tech["is_archived"] == 1
    assert by_uri["int"]["user_ids"] == 1 and by_uri["int"]["country_flags"] == 1
    assert "user_ids" not in tech and "country_flags" not in tech and "forced_anon" not in tech


async def test_thread_json_every_field_and_presence_rule(site: Site) -> None:
    op = await site.post(subject="Tom's <thread> & co", comment="Hello 'world'\n>implying", name="moot#faggot")
    reply = await site.post(thread=op, comment=f">>{op}\nindeed", name="Someone")
    sage = await site.post(thread=op, comment="quiet", options="sage")
    await _set_post(site, reply, capcode="mod")

    response = await site.client.get(f"/b/thread/{op}.json")
    assert response.status_code == 200
    document = response.json()
    check_thread_document(document)
    first, second, third = document["posts"]

    assert first["no"] == op and first["resto"] == 0
    assert first["name"] == "moot" and first["trip"] == "!Ep8pui8Vw2"
    assert first["sub"] == "Tom&#039;s &lt;thread&gt; &amp; co"  # escaped like PHP htmlspecialchars
    assert first["com"] == "Hello &#039;world&#039;<br><span class=\"quote\">&gt;implying</span>"
    assert first["semantic_url"] == "toms-thread-co"
    assert first["replies"] == 2 and first["images"] == 0 and first["unique_ips"] == 1
    assert first["time"] == int(datetime(2026, 1, 5, 17, 30, 16, tzinfo=UTC).timestamp())
    assert first["now"] == "01/05/26(Mon)12:30:16"  # US Eastern, like 4chan
    for absent in ("sticky", "closed", "archived", "archived_on", "bumplimit", "imagelimit", "id", "capcode",
                   "country", "tim", "filename", "filedeleted", "spoiler", "locked"):
        assert absent not in first, absent

    assert second["resto"] == op and second["capcode"] == "mod" and second["name"] == "Someone"
    assert second["com"] == f'<a href="#p{op}" class="quotelink">&gt;&gt;{op}</a><br>indeed'
    assert "sub" not in second and "trip" not in second
    assert third["no"] == sage and "email" not in third  # sage is not exposed, as on 4chan


async def test_poster_ids_and_unknown_country(site: Site) -> None:
    op = await site.post("int", comment="ids here")
    await site.post("int", thread=op, comment="same poster")
    await site.post("int", thread=op, comment="another poster", ip="198.51.100.20")
    posts = (await site.client.get(f"/int/thread/{op}.json")).json()["posts"]
    check_thread_document({"posts": posts})
    ids = [p["id"] for p in posts]
    assert all(len(i) == 8 for i in ids)
    assert ids[0] == ids[1] != ids[2]
    assert posts[0]["unique_ips"] == 2
    # Country flags on, address unknown to the database: 4chan's "XX".
    assert all(p["country"] == "XX" and p["country_name"] == "Unknown" for p in posts)
    elsewhere = await site.post(comment="no flags on /b/")
    assert all("country" not in p for p in (await site.client.get(f"/b/thread/{elsewhere}.json")).json()["posts"])


async def test_sticky_closed_and_limit_flags(site: Site) -> None:
    await site.boards.create_board(
        BoardSpec(uri="small", title="Small", require_file=False, bump_limit=2, image_limit=0)
    )
    op = await site.post("small", comment="pinned")
    for n in range(2):
        await site.post("small", thread=op, comment=f"r{n}")
    await _set_thread(site, "small", op, sticky=True, locked=True)
    document = (await site.client.get(f"/small/thread/{op}.json")).json()
    check_thread_document(document)
    first = document["posts"][0]
    assert first["sticky"] == 1 and first["closed"] == 1
    assert first["bumplimit"] == 1  # 2 replies reached the bump limit of 2
    assert first["imagelimit"] == 1  # an image limit of 0 is always reached
    assert "archived" not in first and "locked" not in first
    index = (await site.client.get("/small/1.json")).json()
    check_index_document(index)
    assert index["threads"][0]["posts"][0]["sticky"] == 1


async def test_archived_thread_by_overflow(site: Site) -> None:
    await site.boards.create_board(BoardSpec(uri="tiny", title="Tiny", require_file=False, threads_per_page=1, pages=1))
    old = await site.post("tiny", comment="soon archived")
    archived_at = site.clock.now
    new = await site.post("tiny", comment="pushes the other off the board")
    assert (await site.client.get("/tiny/archive.json")).json() == [old]
    document = (await site.client.get(f"/tiny/thread/{old}.json")).json()
    check_thread_document(document)
    first = document["posts"][0]
    assert first["archived"] == 1 and first["closed"] == 1
    assert first["archived_on"] == int(archived_at.timestamp()) + 1
    threads = (await site.client.get("/tiny/threads.json")).json()
    assert threads == [{"page": 1, "threads": [{"no": new, "last_modified": threads[0]["threads"][0]["last_modified"],
                                                 "replies": 0}]}]


async def test_index_pages_start_at_one_with_previews(site: Site) -> None:
    op = await site.post(comment="busy thread")
    for n in range(7):
        await site.post(thread=op, comment=f"reply {n}")
    quiet = await site.post(comment="quiet thread")
    response = await site.client.get("/b/1.json")
    assert response.status_code == 200
    document = response.json()
    check_index_document(document)
    first, second = document["threads"]
    assert first["posts"][0]["no"] == quiet  # bump order
    busy = second["posts"]
    assert busy[0]["no"] == op and busy[0]["replies"] == 7 and busy[0]["omitted_posts"] == 2
    assert len(busy) == 6 and busy[0]["omitted_images"] == 0
    for missing in ("/b/0.json", "/b/2.json", "/b/res/1.json", f"/b/res/{op}.json", "/nope/1.json"):
        assert (await site.client.get(missing)).status_code == 404, missing


async def test_catalog_and_threadlist(site: Site) -> None:
    await site.boards.create_board(BoardSpec(uri="pg", title="Paged", require_file=False, threads_per_page=2, pages=3))
    numbers = [await site.post("pg", comment=f"thread {n}") for n in range(5)]
    for n in range(4):
        await site.post("pg", thread=numbers[0], comment=f"bump {n}")
    catalog = (await site.client.get("/pg/catalog.json")).json()
    check_catalog_document(catalog)
    assert [p["page"] for p in catalog] == [1, 2, 3]
    order = [t["no"] for page in catalog for t in page["threads"]]
    assert order == [numbers[0], numbers[4], numbers[3], numbers[2], numbers[1]]
    bumped = catalog[0]["threads"][0]
    assert len(bumped["last_replies"]) == 4 and bumped["omitted_posts"] == 0 and bumped["replies"] == 4
    assert catalog[2]["threads"][0]["last_replies"] == []

    threads = (await site.client.get("/pg/threads.json")).json()
    check_threadlist_document(threads)
    assert [[t["no"] for t in page["threads"]] for page in threads] == [order[0:2], order[2:4], order[4:5]]
    assert threads[0]["threads"][0]["replies"] == 4
    assert threads[0]["threads"][0]["last_modified"] == catalog[0]["threads"][0]["last_modified"]

    empty = (await site.client.get("/tech/catalog.json")).json()
    assert empty == [{"page": 1, "threads": []}]
    assert (await site.client.get("/tech/threads.json")).json() == [{"page": 1, "threads": []}]


async def test_eastern_time_follows_daylight_saving(site: Site) -> None:
    site.clock.now = datetime(2026, 7, 4, 15, 59, 59, tzinfo=UTC)
    op = await site.post(comment="summer")
    post = (await site.client.get(f"/b/thread/{op}.json")).json()["posts"][0]
    assert post["now"] == "07/04/26(Sat)12:00:00"  # EDT is UTC-4


async def test_routes_do_not_take_over_html_pages(site: Site) -> None:
    op = await site.post(comment="html still works")
    for path in ("/b/", "/b/1", f"/b/thread/{op}", "/b/catalog", "/b/archive"):
        response = await site.client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html"), path


async def test_hostile_numbers_and_names_are_404_not_500(site: Site) -> None:
    for path in (
        "/b/thread/99999999999999999999999999.json",
        "/b/thread/9007199254740992.json",
        "/b/99999999999999999999.json",
        "/B/catalog.json",
        "/%00/catalog.json",
        "/b%00/threads.json",
        "/" + "a" * 40 + "/archive.json",
    ):
        response = await site.client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"].endswith("not_found")
        assert response.headers["access-control-allow-origin"] == "*"


def test_reply_keys_are_checked_by_the_contract() -> None:
    """The contract itself refuses what vichan-style engines emit."""
    vichan_op = {"no": 1, "resto": 0, "now": "01/05/26(Mon)12:30:16", "time": 1767634216, "name": "A",
                 "locked": 0, "replies": 0, "images": 0, "semantic_url": "a", "unique_ips": 1}
    try:
        check_post(vichan_op, op=True, context="thread")
    except AssertionError:
        pass
    else:  # pragma: no cover
        raise AssertionError("the contract accepted 'locked'")
    string_tim = {"no": 2, "resto": 1, "now": "01/05/26(Mon)12:30:16", "time": 1767634216, "name": "A",
                  "tim": "1767634216000", "filename": "a", "ext": ".png", "fsize": 1, "md5": "A" * 22 + "==",
                  "w": 1, "h": 1, "tn_w": 1, "tn_h": 1}
    try:
        check_post(string_tim, op=False, context="thread")
    except AssertionError:
        pass
    else:  # pragma: no cover
        raise AssertionError("the contract accepted a string tim")
