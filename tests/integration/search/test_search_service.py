"""Search on SQLite (FTS5) and PostgreSQL (tsvector + GIN): what is found, how it is
highlighted, and that deleted, edited and held posts never show what they no longer are."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from imageboard.boards import BoardSpec, staff
from imageboard.core.errors import InvalidInput, NotFound
from imageboard.search import MAX_QUERY_LENGTH

from .conftest import Board, only_mark_tags

HOSTILE = [
    '"',
    '""',
    '"unterminated phrase',
    "*",
    "**",
    "a*",
    "NEAR(",
    "NEAR(a b)",
    "NEAR(a, b, 2)",
    "AND OR NOT",
    "AND",
    "OR OR",
    "NOT",
    "'",
    "''; DROP TABLE posts; --",
    "\\",
    "\\\\x00",
    "a\\b",
    "col:term",
    "subject:rust",
    "{subject comment}: rust",
    "^rust",
    "(rust",
    "rust)",
    "rust & async | !web",
    "rust <-> async",
    "rust:*",
    "'rust':* & !x",
    "-",
    "--rust",
    "-rust",
    "- - -",
    "+rust",
    "r*st",
    "\x00rust\x00",
    "\x01rust\x02\x7f",
    "\ufdd0rust\ufdd1",
    "🦀 rust",
    "ünïcödé straße",
    "日本語の検索",
    "Ω≈ç√∫",
    "\u202erust\u202c",
    "\U0001f600" * 50,
    "%",
    "%s %d",
    "{0}",
    "<script>alert(1)</script>",
    "x" * MAX_QUERY_LENGTH,
    " ".join(["w"] * 10),
]


async def test_posts_are_found_by_words_of_their_subject_and_comment_with_highlights(site_boards: Board) -> None:
    op = await site_boards.post("Who else compiles Rust on a potato?", subject="Potato computing")
    reply = await site_boards.post("My potato runs Gentoo.", thread=op)
    await site_boards.post("Nothing to see here.", thread=op)

    assert await site_boards.found("potato") == [("b", reply), ("b", op)]
    assert await site_boards.found("computing") == [("b", op)]  # the subject
    assert await site_boards.found("POTATO gentoo") == [("b", reply)]  # every word, any case
    assert await site_boards.found("potato -gentoo") == [("b", op)]
    assert await site_boards.found('"rust on a potato"') == [("b", op)]
    assert await site_boards.found('"potato rust"') == []  # a phrase keeps its order
    assert await site_boards.found("gent*") == [("b", reply)]
    assert await site_boards.found("turnip") == []

    page = await site_boards.search.search("potato")
    first, second = page.hits
    assert (first.board, first.thread_no, first.no, first.is_op) == ("b", op, reply, False)
    assert first.url == f"/b/thread/{op}#p{reply}"
    assert first.snippet_html == "My <mark>potato</mark> runs Gentoo."
    assert second.subject == "Potato computing"
    assert second.subject_html == "<mark>Potato</mark> computing"
    assert "<mark>potato</mark>" in second.snippet_html
    assert second.is_op and second.thread_no == op
    assert page.next_cursor is None and page.searchable


async def test_a_long_comment_is_shown_as_a_snippet_around_the_match(site_boards: Board) -> None:
    filler = " ".join(f"w{i}" for i in range(200))
    await site_boards.post(f"{filler} needle {filler}")
    (hit,) = (await site_boards.search.search("needle")).hits
    assert "<mark>needle</mark>" in hit.snippet_html
    assert len(hit.snippet_html) < 400  # of a comment of ~1000 characters


async def test_html_in_posts_comes_back_escaped_with_only_mark_tags(site_boards: Board) -> None:
    op = await site_boards.post(
        '<script>alert("x")</script> <img src=x onerror=alert(1)> & "quotes" \'single\' <b>bold</b>',
        subject="<i>subject</i> & <u>more</u>",
    )
    for q in ("script", "alert", "img", "onerror", "bold", "quotes", "subject", "more"):
        (hit,) = (await site_boards.search.search(q)).hits
        assert hit.no == op
        for html in (hit.subject_html, hit.snippet_html):
            assert only_mark_tags(html), (q, html)
        assert "<mark>" in hit.subject_html + hit.snippet_html, q
    (hit,) = (await site_boards.search.search("alert")).hits
    assert "&lt;script&gt;<mark>alert</mark>(&quot;x&quot;)&lt;/script&gt;" in hit.snippet_html
    assert "&lt;img src=x onerror=<mark>alert</mark>(1)&gt;" in hit.snippet_html
    assert hit.subject_html == "&lt;i&gt;subject&lt;/i&gt; &amp; &lt;u&gt;more&lt;/u&gt;"
    assert hit.subject == "<i>subject</i> & <u>more</u>"  # the plain field is the text as posted


async def test_marker_characters_in_a_post_cannot_unbalance_the_markup(site_boards: Board) -> None:
    await site_boards.post("stray \ufdd1 closer then \ufdd0 opener and the word marker")
    (hit,) = (await site_boards.search.search("marker")).hits
    assert only_mark_tags(hit.snippet_html)
    assert hit.snippet_html.count("<mark>") == hit.snippet_html.count("</mark>")


async def test_one_board_or_every_board(site_boards: Board) -> None:
    on_b = await site_boards.post("kernel panic again")
    on_tech = await site_boards.post("kernel compile flags", board="tech")
    assert await site_boards.found("kernel") == [("tech", on_tech), ("b", on_b)]
    assert await site_boards.found("kernel", board="b") == [("b", on_b)]
    assert await site_boards.found("kernel", board="tech") == [("tech", on_tech)]
    with pytest.raises(NotFound) as missing:
        await site_boards.search.search("kernel", board="nope")
    assert missing.value.code == "board_not_found"


async def test_a_new_post_is_searchable_as_soon_as_it_is_posted(site_boards: Board) -> None:
    op = await site_boards.post("first")
    for n in range(5):
        no = await site_boards.post(f"freshly baked bread number{n}", thread=op)
        assert (await site_boards.found(f"number{n}")) == [("b", no)]


async def test_pages_follow_each_other_without_repeats(site_boards: Board) -> None:
    op = await site_boards.post("paging thread")
    numbers = [await site_boards.post(f"paging reply {i}", thread=op) for i in range(25)]
    seen = []
    page = await site_boards.search.search("paging", limit=10)
    while True:
        seen += [h.no for h in page.hits]
        assert len(page.hits) <= 10
        if page.next_cursor is None:
            break
        page = await site_boards.search.search("paging", limit=10, cursor=page.next_cursor)
    assert seen == sorted([op, *numbers], reverse=True)
    for bad in ("nonsense", "czE6", "czE6LTE", "!!!", "x" * 100):
        with pytest.raises(InvalidInput) as refused:
            await site_boards.search.search("paging", cursor=bad)
        assert refused.value.code == "invalid_cursor"


async def test_posts_deleted_by_their_poster_are_gone(site_boards: Board) -> None:
    op = await site_boards.post("thread about zeppelins")
    reply = await site_boards.post("zeppelins are neat", thread=op)
    other = await site_boards.post("zeppelins elsewhere")
    before = await site_boards.search.indexed_count()

    assert not await site_boards.boards.delete_own_post("b", reply, "pw")
    assert await site_boards.found("zeppelins") == [("b", other), ("b", op)]
    assert await site_boards.search.indexed_count() == before - 1

    assert await site_boards.boards.delete_own_post("b", op, "pw")  # the thread, with its replies
    assert await site_boards.found("zeppelins") == [("b", other)]
    assert await site_boards.search.indexed_count() == before - 2


async def test_a_post_that_takes_a_deleted_posts_id_is_indexed_alone(site_boards: Board) -> None:
    """The posting transaction indexes a new post without clearing its id's index row first:
    a deleted post's row must go with it, or a post given the same id (SQLite reuses the
    highest rowid once it is free) would be found by the deleted post's words too."""
    op = await site_boards.post("thread about hovercraft")
    newest = await site_boards.post("eels in the hovercraft", thread=op)
    async with site_boards.db.writer() as session:
        (newest_id,) = (await session.execute(text("SELECT max(id) FROM posts"))).one()
    assert await site_boards.boards.delete_own_post("b", newest, "pw") is False
    again = await site_boards.post("a plain reply about lampreys", thread=op)
    async with site_boards.db.writer() as session:
        (again_id,) = (await session.execute(text("SELECT max(id) FROM posts"))).one()
    if site_boards.db.is_sqlite:
        assert again_id == newest_id  # the id was reused: what this test is about
    assert await site_boards.found("eels") == []
    assert await site_boards.found("lampreys") == [("b", again)]
    assert await site_boards.search.indexed_count() == 2


async def test_posts_deleted_by_staff_are_gone(site_boards: Board) -> None:
    op = await site_boards.post("staff will remove this walrus")
    reply = await site_boards.post("walrus reply", thread=op)
    keep = await site_boards.post("walrus that stays")
    by_ip = await site_boards.post("walrus from a spammer", ip="198.51.100.9")
    now = site_boards.clock()
    async with site_boards.db.writer() as session:
        await staff.delete_post(session, "b", reply, now, None)
    assert ("b", reply) not in await site_boards.found("walrus")
    async with site_boards.db.writer() as session:
        await staff.delete_by_ip(session, "198.51.100.9", "site", "b", 0, now, None)
    assert ("b", by_ip) not in await site_boards.found("walrus")
    async with site_boards.db.writer() as session:
        await staff.delete_post(session, "b", op, now, None)
    assert await site_boards.found("walrus") == [("b", keep)]
    assert await site_boards.search.indexed_count() == 1


async def test_replies_trimmed_from_a_cyclic_thread_are_gone(site_boards: Board) -> None:
    await site_boards.boards.create_board(BoardSpec(uri="cy", title="Cyclic", require_file=False, cyclic_limit=3))
    op = await site_boards.post("cyclic thread", board="cy")
    async with site_boards.db.writer() as session:
        await staff.set_thread_flag(session, "cy", op, "cyclic", True, site_boards.clock())
    numbers = [await site_boards.post(f"rolling reply r{i}", thread=op, board="cy") for i in range(6)]
    assert await site_boards.found("rolling") == [("cy", n) for n in reversed(numbers[-3:])]
    assert await site_boards.found("r0") == []


async def test_pruned_and_expired_threads_are_gone_but_archived_ones_stay(site_boards: Board) -> None:
    # One thread fits; the second pushes the first off the board: pruned (no archive) ...
    await site_boards.boards.create_board(
        BoardSpec(uri="tiny", title="Tiny", require_file=False, threads_per_page=1, pages=1, archive_enabled=False)
    )
    first = await site_boards.post("pruned ocelot", board="tiny")
    second = await site_boards.post("surviving ocelot", board="tiny")
    assert await site_boards.found("ocelot") == [("tiny", second)]
    assert first != second

    # ... or archived (still searchable), then removed when its archive period ends.
    await site_boards.boards.create_board(
        BoardSpec(uri="arch", title="Archive", require_file=False, threads_per_page=1, pages=1, archive_days=1)
    )
    old = await site_boards.post("archived lynx", board="arch")
    new = await site_boards.post("live lynx", board="arch")
    assert await site_boards.found("lynx") == [("arch", new), ("arch", old)]
    site_boards.clock.advance(days=2)
    assert await site_boards.boards.prune_archives() == 1
    assert await site_boards.found("lynx") == [("arch", new)]


async def test_an_edited_post_is_found_by_its_new_text_only(site_boards: Board) -> None:
    op = await site_boards.post("original secret phrase")
    async with site_boards.db.writer() as session:
        await staff.edit_post(session, "b", op, "redacted by staff", site_boards.clock())
    assert await site_boards.found("secret") == []
    (hit,) = (await site_boards.search.search("redacted")).hits
    assert hit.snippet_html == "<mark>redacted</mark> by staff"


async def test_held_posts_are_hidden_until_approved(site_boards: Board) -> None:
    op = await site_boards.post("visible heron")
    held_reply = await site_boards.post("held heron", thread=op, hold_for_review=True)
    held_thread = await site_boards.post("held thread heron", hold_for_review=True)
    assert await site_boards.found("heron") == [("b", op)]
    async with site_boards.db.writer() as session:
        await staff.approve_post(session, "b", held_reply, site_boards.clock(), None)
        await staff.approve_post(session, "b", held_thread, site_boards.clock(), None)
    assert await site_boards.found("heron") == [("b", held_thread), ("b", held_reply), ("b", op)]


async def test_a_moved_thread_is_found_at_its_new_address(site_boards: Board) -> None:
    op = await site_boards.post("migrating pelican")
    reply = await site_boards.post("pelican reply", thread=op)
    async with site_boards.db.writer() as session:
        new_op = await staff.move_thread(session, "b", op, "tech", site_boards.clock())
    found = await site_boards.found("pelican")
    assert ("b", op) not in found and ("b", reply) not in found
    assert ("tech", new_op) in found and len(found) == 2
    hit = next(h for h in (await site_boards.search.search("pelican")).hits if not h.is_op)
    assert hit.board == "tech" and hit.thread_no == new_op


@pytest.mark.parametrize("query", HOSTILE)
async def test_hostile_queries_never_fail(site_boards: Board, query: str) -> None:
    await site_boards.post("rust async potato straße 日本語 🦀 NEAR AND OR NOT col term")
    page = await site_boards.search.search(query)
    for hit in page.hits:
        assert only_mark_tags(hit.snippet_html) and only_mark_tags(hit.subject_html)


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("", "empty_query"),
        ("   \t\n ", "empty_query"),
        ("\x00\x00", "empty_query"),
        ("\x01\x02\x7f", "empty_query"),
        ("x" * (MAX_QUERY_LENGTH + 1), "query_too_long"),
        ("rust " * 10_000, "query_too_long"),
        (" ".join(f"w{i}" for i in range(11)), "query_too_complex"),
    ],
)
async def test_unusable_queries_are_refused_with_a_reason(site_boards: Board, query: str, code: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        await site_boards.search.search(query)
    assert refused.value.code == code and refused.value.field == "q"


async def test_queries_without_a_word_to_look_for_find_nothing(site_boards: Board) -> None:
    await site_boards.post("some words")
    for query in ('"', "*", "-words", "- -", "!!!"):
        page = await site_boards.search.search(query)
        assert page.hits == [] and not page.searchable, query


async def test_reindex_rebuilds_the_index_from_the_posts(site_boards: Board) -> None:
    op = await site_boards.post("rebuild me, okapi")
    replies = [await site_boards.post(f"okapi {i}", thread=op) for i in range(7)]
    async with site_boards.db.writer() as session:
        from imageboard.search import repository

        await repository.forget_posts(session, [await repository.post_id(session, "b", n) or 0 for n in replies])
    assert await site_boards.found("okapi") == [("b", op)]
    assert await site_boards.search.reindex(batch=3) == 8
    assert len(await site_boards.found("okapi")) == 8
    assert await site_boards.search.indexed_count() == 8


async def test_catch_up_indexes_recent_posts_the_index_lacks(site_boards: Board) -> None:
    site_boards.boards.indexer = None  # as with worker indexing: posting does no index work
    op = await site_boards.post("unindexed capybara")
    assert await site_boards.found("capybara") == []
    assert await site_boards.search.catch_up() == 1
    assert await site_boards.found("capybara") == [("b", op)]
    assert await site_boards.search.catch_up() == 0
    site_boards.clock.advance(hours=2)
    await site_boards.post("another capybara")
    assert await site_boards.search.catch_up(window=timedelta(minutes=5)) == 1


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=st.text(max_size=80))
async def test_any_text_is_a_result_or_a_reason(site_boards: Board, query: str) -> None:
    """Whatever is typed, the database never sees anything but quoted text and parameters."""
    if not await site_boards.search.indexed_count():
        await site_boards.post('rust async potato straße 日本語 🦀 NEAR AND OR NOT col term "quoted" it\'s')
    refused: str | None = None
    try:
        page = await site_boards.search.search(query)
    except InvalidInput as error:
        refused = error.code
    else:
        for hit in page.hits:
            assert only_mark_tags(hit.snippet_html) and only_mark_tags(hit.subject_html)
    assert refused in (None, "empty_query", "query_too_long", "query_too_complex")
