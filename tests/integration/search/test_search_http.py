"""The search page (``GET /search``) and the JSON API (``GET /api/v1/search``) on SQLite and
PostgreSQL: results with highlights, escaping, errors, pages, and hostile input over HTTP."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest

from imageboard.boards import BoardSpec
from imageboard.search import MAX_QUERY_LENGTH

from .conftest import Site, only_mark_tags
from .test_search_service import HOSTILE


def _marked_fragments(page: str) -> list[str]:
    return re.findall(r'<blockquote class="comment">(.*?)</blockquote>', page, re.DOTALL)


async def test_the_page_without_a_query_is_the_search_form(site: Site) -> None:
    response = await site.client.get("/search")
    assert response.status_code == 200
    page = response.text
    assert '<form class="postform search-form" action="/search" method="get" role="search"' in page
    assert 'name="q"' in page and f'maxlength="{MAX_QUERY_LENGTH}"' in page
    assert '<option value="b">/b/ - Random</option>' in page
    assert "search-results" not in page
    assert '<a href="/search" aria-current="page">Search</a>' in page  # the header link


async def test_the_page_shows_highlighted_escaped_results_linking_to_the_posts(site: Site) -> None:
    op = await site.post("<script>alert(1)</script> the quick brown fox", subject="Foxes & <hounds>")
    reply = await site.post("a lazy fox sleeps", thread=op)
    await site.post("no match here", thread=op)
    response = await site.client.get("/search", params={"q": "fox"})
    assert response.status_code == 200
    page = response.text
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; the quick brown <mark>fox</mark>" in page
    assert f'href="/b/thread/{op}#p{reply}"' in page and f'href="/b/thread/{op}#p{op}"' in page
    assert '<span class="subject">Foxes &amp; &lt;hounds&gt;</span>' in page
    fragments = _marked_fragments(page)
    assert len(fragments) == 2
    assert all(only_mark_tags(f) for f in fragments)
    assert page.index(f"#p{reply}") < page.index(f'#p{op}"')  # newest first
    assert 'value="fox"' in page  # the form keeps the query


async def test_one_board_on_the_page(site: Site) -> None:
    await site.post("otter on b")
    await site.post("otter on tech", board="tech")
    page = (await site.client.get("/search", params={"q": "otter", "board": "tech"})).text
    assert len(_marked_fragments(page)) == 1 and "otter on tech" in page.replace("<mark>", "").replace("</mark>", "")
    assert '<option value="tech" selected>' in page
    assert "Posts on /tech/ matching otter" in page
    missing = await site.client.get("/search", params={"q": "otter", "board": "nope"})
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "Type something to search for."),
        ("   ", "Type something to search for."),
        ("x" * 10_000, f"The search is too long: at most {MAX_QUERY_LENGTH} characters."),
        (" ".join(f"w{i}" for i in range(20)), "The search has too many words; leave some out."),
    ],
)
async def test_the_page_says_what_is_wrong_with_a_query(site: Site, query: str, message: str) -> None:
    response = await site.client.get("/search", params={"q": query})
    assert response.status_code == 400
    assert message in response.text
    assert 'role="search"' in response.text  # the form is there to try again


async def test_the_page_speaks_german(site: Site) -> None:
    await site.post("ein Wal")
    headers = {"Accept-Language": "de"}
    page = (await site.client.get("/search", params={"q": "wal"}, headers=headers)).text
    assert "Posts zu wal" in page and "Alle Boards" in page and ">Suche</" in page
    empty = await site.client.get("/search", params={"q": ""}, headers=headers)
    assert "Gib etwas ein, wonach gesucht werden soll." in empty.text
    none = (await site.client.get("/search", params={"q": "nichts"}, headers=headers)).text
    assert "Kein Post passt zu dieser Suche." in none


async def test_the_page_links_to_older_results(site: Site) -> None:
    op = await site.post("badger thread")
    for i in range(24):
        await site.post(f"badger {i}", thread=op)
    first = (await site.client.get("/search", params={"q": "badger"})).text
    assert len(_marked_fragments(first)) == 20
    link = re.search(r'<a class="button" rel="next" href="([^"]+)">Older posts</a>', first)
    assert link is not None
    second = (await site.client.get(link.group(1).replace("&amp;", "&"))).text
    assert len(_marked_fragments(second)) == 5
    assert "Older posts" not in second
    assert "q=badger" in unquote(link.group(1))


async def test_hostile_queries_on_the_page_and_the_api(site: Site) -> None:
    await site.post("rust async potato straße 日本語 🦀 NEAR AND OR NOT col term")
    for query in HOSTILE:
        page = await site.client.get("/search", params={"q": query})
        assert page.status_code == 200, (query, page.text[:500])
        assert all(only_mark_tags(f) for f in _marked_fragments(page.text))
        api = await site.client.get("/api/v1/search", params={"q": query})
        assert api.status_code == 200, (query, api.text[:500])
        for item in api.json()["items"]:
            assert only_mark_tags(item["snippet_html"]) and only_mark_tags(item["subject_html"])
    # Raw bytes a browser would not send: percent-encoded NUL, lone surrogate halves, bad UTF-8.
    for raw in ("%00rust", "%ED%A0%80", "%FF%FE", "rust%22%27%5C"):
        for path in ("/search", "/api/v1/search"):
            response = await site.client.get(f"{path}?q={raw}")
            assert response.status_code == 200, (path, raw, response.text[:300])


async def test_the_api_answers_with_highlighted_hits(site: Site) -> None:
    op = await site.post("a <b>bold</b> heron waits", subject="Heron spotting")
    reply = await site.post("grey heron", thread=op)
    await site.post("heron elsewhere", board="tech")
    response = await site.client.get("/api/v1/search", params={"q": "heron", "board": "b"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["access-control-allow-origin"] == "*"
    body = response.json()
    assert body["next_cursor"] is None
    assert [(i["board"], i["no"]) for i in body["items"]] == [("b", reply), ("b", op)]
    newest, oldest = body["items"]
    assert newest == {
        "board": "b",
        "thread_no": op,
        "no": reply,
        "is_op": False,
        "created_at": newest["created_at"],
        "subject": "",
        "subject_html": "",
        "snippet_html": "grey <mark>heron</mark>",
        "url": f"/b/thread/{op}#p{reply}",
        "api_url": f"/api/v1/boards/b/threads/{op}",
    }
    assert oldest["subject"] == "Heron spotting" and oldest["subject_html"] == "<mark>Heron</mark> spotting"
    assert oldest["snippet_html"] == "a &lt;b&gt;bold&lt;/b&gt; <mark>heron</mark> waits"
    everywhere = (await site.client.get("/api/v1/search", params={"q": "heron"})).json()
    assert len(everywhere["items"]) == 3

    again = await site.client.get(
        "/api/v1/search", params={"q": "heron", "board": "b"}, headers={"If-None-Match": response.headers["etag"]}
    )
    assert again.status_code == 304


async def test_the_api_pages_with_cursors(site: Site) -> None:
    op = await site.post("marmot thread")
    numbers = [op] + [await site.post(f"marmot {i}", thread=op) for i in range(6)]
    seen: list[int] = []
    params = {"q": "marmot", "limit": "3"}
    while True:
        body = (await site.client.get("/api/v1/search", params=params)).json()
        seen += [item["no"] for item in body["items"]]
        if body["next_cursor"] is None:
            break
        params["cursor"] = body["next_cursor"]
    assert seen == sorted(numbers, reverse=True)
    big = (await site.client.get("/api/v1/search", params={"q": "marmot", "limit": "1000"})).json()
    assert len(big["items"]) == 7


@pytest.mark.parametrize(
    ("params", "status", "code", "field"),
    [
        ({}, 400, "invalid", "q"),
        ({"q": ""}, 400, "empty_query", "q"),
        ({"q": " \t "}, 400, "empty_query", "q"),
        ({"q": "x" * 10_000}, 400, "query_too_long", "q"),
        ({"q": " ".join(f"w{i}" for i in range(11))}, 400, "query_too_complex", "q"),
        ({"q": "marmot", "cursor": "not-a-cursor"}, 400, "invalid_cursor", "cursor"),
        ({"q": "marmot", "limit": "0"}, 400, "invalid", "limit"),
        ({"q": "marmot", "board": "NOT A BOARD"}, 400, "invalid", "board"),
        ({"q": "marmot", "board": "nope"}, 404, "board_not_found", "board"),
    ],
)
async def test_the_api_refuses_with_its_error_shape(
    site: Site, params: dict[str, str], status: int, code: str, field: str
) -> None:
    response = await site.client.get("/api/v1/search", params=params)
    assert response.status_code == status
    error = response.json()["error"]
    assert (error["code"], error["field"]) == (code, field)
    assert error["message"]


async def test_search_is_a_reserved_board_uri(site: Site) -> None:
    with pytest.raises(ValueError, match="reserved"):
        BoardSpec(uri="search", title="Search")
