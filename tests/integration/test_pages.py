"""The site over HTTP (in-process, SQLite): pages, the post and delete forms, errors."""

from __future__ import annotations

import re

import httpx
import pytest

JSON = {"accept": "application/json"}


async def post(client: httpx.AsyncClient, board: str = "b", **fields: str) -> httpx.Response:
    return await client.post(f"/{board}/post", data=fields, files={"upfile": ("", b"")})


async def new_thread(client: httpx.AsyncClient, comment: str = "first post", **fields: str) -> int:
    response = await post(client, com=comment, **fields)
    assert response.status_code == 303, response.text
    return int(re.search(r"/thread/(\d+)#p\d+$", response.headers["location"]).group(1))  # type: ignore[union-attr]


async def test_home_lists_boards(app_client: httpx.AsyncClient) -> None:
    response = await app_client.get("/")
    assert response.status_code == 200
    assert 'href="/b/"' in response.text and 'href="/tech/"' in response.text
    assert response.headers["content-type"].startswith("text/html")


async def test_thread_lifecycle_through_forms(app_client: httpx.AsyncClient) -> None:
    op = await new_thread(app_client, "Hello\n>green", sub="Greetings", name="kot#faggot")
    board = await app_client.get("/b/")
    assert "Greetings" in board.text and f'id="p{op}"' in board.text
    reply = await post(app_client, com=f">>{op}\nagreed", resto=str(op), pwd="secret1")
    assert reply.status_code == 303
    reply_no = int(reply.headers["location"].rsplit("#p", 1)[1])
    page = await app_client.get(f"/b/thread/{op}")
    assert page.status_code == 200
    assert '<span class="quote">&gt;green</span>' in page.text
    assert f'<a href="#p{op}" class="quotelink">&gt;&gt;{op}</a>' in page.text
    assert "!Ep8pui8Vw2" in page.text
    assert f'href="/b/thread/{op}#p{reply_no}"' in page.text  # backlink on the OP
    slugged = await app_client.get(f"/b/thread/{op}/greetings")
    assert slugged.status_code == 200
    catalog = await app_client.get("/b/catalog?sort=replies")
    assert catalog.status_code == 200 and "Greetings" in catalog.text

    wrong = await app_client.post("/b/delete", data={"delete": str(reply_no), "pwd": "nope"}, headers=JSON)
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "wrong_password"
    deleted = await app_client.post("/b/delete", data={"delete": str(reply_no), "pwd": "secret1"})
    assert deleted.status_code == 303
    page = await app_client.get(f"/b/thread/{op}")
    assert f'id="p{reply_no}"' not in page.text


async def test_password_remembered_in_cookie(app_client: httpx.AsyncClient) -> None:
    op = await new_thread(app_client)
    assert app_client.cookies.get("pwd")
    reply = await post(app_client, com="mine", resto=str(op))
    reply_no = int(reply.headers["location"].rsplit("#p", 1)[1])
    deleted = await app_client.post("/b/delete", data={"delete": str(reply_no)}, headers=JSON)
    assert deleted.status_code == 200, deleted.text


async def test_json_answer_for_clients(app_client: httpx.AsyncClient) -> None:
    response = await app_client.post("/b/post", data={"com": "via api"}, headers=JSON)
    assert response.status_code == 201
    body = response.json()
    assert body["board"] == "b" and body["no"] == body["thread"] and body["url"].endswith(f"#p{body['no']}")


@pytest.mark.parametrize(
    ("board", "fields", "status", "field", "words"),
    [
        ("b", {"com": "   "}, 400, "com", "empty"),
        ("b", {"com": "x" * 2001}, 400, "com", "too long"),
        ("nope", {"com": "x"}, 404, None, "no board"),
        ("b", {"com": "x", "resto": "999999"}, 404, "resto", "does not exist"),
        ("b", {"com": "x", "resto": "abc"}, 400, "resto", "thread number"),
        ("b", {"com": "x", "sub": "s" * 101}, 400, "sub", "subject is too long"),
    ],
)
async def test_invalid_posts_get_clear_errors(
    app_client: httpx.AsyncClient, board: str, fields: dict[str, str], status: int, field: str | None, words: str
) -> None:
    as_json = await app_client.post(f"/{board}/post", data=fields, headers=JSON)
    assert as_json.status_code == status
    error = as_json.json()["error"]
    assert error["field"] == field and words in error["message"].lower()
    as_html = await app_client.post(f"/{board}/post", data=fields)
    assert as_html.status_code == status
    assert as_html.headers["content-type"].startswith("text/html")
    assert words in as_html.text.lower()


async def test_file_uploads_refused_until_media_is_enabled_on_text_board(app_client: httpx.AsyncClient) -> None:
    response = await app_client.post(
        "/b/post", data={"com": "x"}, files={"upfile": ("a.jpg", b"\xff\xd8\xff")}, headers=JSON
    )
    assert response.status_code in {400, 415}
    assert response.json()["error"]["field"] == "upfile"


async def test_markup_and_fields_are_escaped(app_client: httpx.AsyncClient) -> None:
    hostile = '<script>alert(1)</script><img src=x onerror=alert(2)>"\''
    op = await new_thread(app_client, hostile, sub=hostile, name=hostile[:90])
    for path in (f"/b/thread/{op}", "/b/", "/b/catalog", "/all/"):
        text = (await app_client.get(path)).text
        assert "<script>alert" not in text and "<img src=x" not in text, path
        assert "&lt;script&gt;" in text, path


async def test_security_headers(app_client: httpx.AsyncClient) -> None:
    response = await app_client.get("/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert "strict-transport-security" not in response.headers


async def test_oversized_body_is_refused(app_client: httpx.AsyncClient, settings: object) -> None:
    big = b"x" * (33 * 1024 * 1024)
    response = await app_client.post("/b/post", content=big, headers={"content-type": "application/octet-stream"})
    assert response.status_code == 413
    assert "too large" in response.json()["error"]["message"]


async def test_pages_not_found(app_client: httpx.AsyncClient) -> None:
    for path in ("/nope/", "/b/thread/424242", "/b/99", "/no/such/page/at/all"):
        response = await app_client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html")


async def test_board_path_without_slash_redirects(app_client: httpx.AsyncClient) -> None:
    response = await app_client.get("/b")
    assert response.status_code == 301 and response.headers["location"] == "/b/"


async def test_language_from_accept_language_and_cookie(app_client: httpx.AsyncClient) -> None:
    german = await app_client.get("/b/", headers={"accept-language": "de-DE,de;q=0.9,en;q=0.5"})
    assert 'lang="de"' in german.text
    english = await app_client.get("/b/", headers={"accept-language": "fr, en;q=0.5"})
    assert 'lang="en"' in english.text
    saved = await app_client.get("/settings?language=de&theme=dark")
    assert saved.status_code == 303
    assert 'lang="de"' in (await app_client.get("/b/")).text
    bad = await app_client.get("/settings?theme=purple", headers=JSON)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "theme"


async def test_the_scripts_strings_are_in_the_pages_language(app_client: httpx.AsyncClient) -> None:
    """The scripts' strings are rendered once per language and kept (web.templating's
    KeptMacros): each page still gets them in its own language, whatever came before."""
    for _ in range(2):
        for language, option in (("de", "Threads automatisch aktualisieren"), ("en", "Update threads automatically")):
            page = (await app_client.get("/b/", headers={"accept-language": language})).text
            strings = page[page.index('<div id="ib-strings"') :]
            assert f'data-opt-auto-update="{option}"' in strings[: strings.index("</div>")], language
            assert page.count('id="ib-strings"') == 1 and page.rstrip().endswith("</div>\n</body>\n</html>")


async def test_help_and_gallery(app_client: httpx.AsyncClient) -> None:
    help_page = await app_client.get("/help")
    assert help_page.status_code == 200 and 'id="markup"' in help_page.text and "[spoiler]" in help_page.text
    gallery = await app_client.get("/dev/gallery")
    assert gallery.status_code == 200 and "post_form" in gallery.text


async def test_overboards(app_client: httpx.AsyncClient) -> None:
    await new_thread(app_client, "on b")
    response = await app_client.post("/tech/post", data={"com": "on tech"}, headers=JSON)
    assert response.status_code == 201
    everything = (await app_client.get("/all/")).text
    assert "on b" in everything and "on tech" in everything
    work_safe = (await app_client.get("/sfw/")).text
    assert "on tech" in work_safe and "on b" not in work_safe


async def test_page_parameters_are_checked_with_a_clear_error(app_client: httpx.AsyncClient) -> None:
    """The reader's pages check their own query parameters (web.routes.page_route)."""
    op = await new_thread(app_client)
    quoted = await app_client.get(f"/b/thread/{op}?quote={op}")
    assert quoted.status_code == 200 and f"&gt;&gt;{op}" in quoted.text  # the reply form, filled in
    for bad in ("0", "-1", "abc", "1" * 20, "", "²", "①"):
        refused = await app_client.get(f"/b/thread/{op}", params={"quote": bad}, headers=JSON)
        assert refused.status_code == 400, bad
        assert refused.json()["error"]["field"] == "quote" and "post number" in refused.json()["error"]["message"]
    sorted_badly = await app_client.get("/b/catalog?sort=<script>", headers=JSON)
    assert sorted_badly.status_code == 400 and sorted_badly.json()["error"]["field"] == "sort"
    assert "<script>" not in sorted_badly.text
    assert (await app_client.get("/b/catalog?sort=created")).status_code == 200
    assert (await app_client.get("/b/1")).status_code == 200
    assert (await app_client.get("/b/2")).status_code == 404  # one thread: one page
    assert (await app_client.get("/b/0")).status_code == 404
    assert (await app_client.get(f"/b/thread/{op + 1000}")).status_code == 404
    head = await app_client.head(f"/b/thread/{op}")
    assert head.status_code == 200 and head.content == b""
    assert (await app_client.post(f"/b/thread/{op}")).status_code == 405


async def test_numbers_in_forms_are_ascii_digits(app_client: httpx.AsyncClient) -> None:
    """'²' passes str.isdigit but not int(): a 4xx naming the field, never a 500."""
    op = await new_thread(app_client)
    for digit in ("²", "①"):
        reply = await app_client.post("/b/post", data={"com": "x", "resto": digit}, headers=JSON)
        assert reply.status_code == 400 and reply.json()["error"]["field"] == "resto", reply.text
        deleted = await app_client.post("/b/delete", data={"delete": digit, "pwd": "pw123"}, headers=JSON)
        assert deleted.status_code == 404 and deleted.json()["error"]["field"] == "delete", deleted.text
    assert (await app_client.get(f"/b/thread/{op}")).status_code == 200
