"""The edge purge mapping: what each domain event makes stale, and the surrogate keys each
document carries — the two must agree, or a purge by key misses what a purge by URL finds."""

from __future__ import annotations

import pytest

from imageboard.events import (
    EVENT_TYPES,
    BanCreated,
    BoardUpdated,
    Event,
    FileDeleted,
    FileProcessed,
    PostCreated,
    PostDeleted,
    PostUpdated,
    ReportCreated,
    ThreadArchived,
    ThreadPruned,
    ThreadUpdated,
)
from imageboard.web.purge import (
    PurgeTargets,
    board_targets,
    edge_key_headers,
    purge_targets,
    surrogate_keys,
)

THREAD_URLS = {
    "/g/thread/7",
    "/g/thread/7.json",
    "/g/thread/7.rss",
    "/g/thread/7.atom",
    "/api/v1/boards/g/threads/7",
    "/api/v1/boards/g/threads/7/posts",
}
INDEX_URLS = {
    "/g/",
    "/g/1",
    "/g/2",
    "/g/3",
    "/g/catalog",
    "/g/catalog?sort=bump",
    "/g/catalog?sort=created",
    "/g/catalog?sort=replies",
    "/g/catalog.json",
    "/g/threads.json",
    "/g/1.json",
    "/g/2.json",
    "/g/3.json",
    "/g/index.rss",
    "/g/index.atom",
    "/api/v1/boards/g",
    "/api/v1/boards/g/catalog",
    "/api/v1/boards/g/catalog?sort=created",
}
ARCHIVE_URLS = {"/g/archive", "/g/archive.json", "/api/v1/boards/g/archive"}
OVERBOARD_URLS = {"/all/", "/sfw/", "/all/?page=2", "/sfw/?page=2", "/api/v1/overboard"}
THREAD_KEYS = {"t:g:7", "b:g:index", "overboard"}

# One example of every event type: (event, URLs that must be purged, keys exactly, archive?)
EXAMPLES: dict[str, tuple[Event, set[str], set[str], bool]] = {
    "post.created": (
        PostCreated(board="g", thread_no=7, post_no=9),
        THREAD_URLS | INDEX_URLS | OVERBOARD_URLS | {"/"},
        THREAD_KEYS | {"home", "search"},
        False,
    ),
    "post.deleted": (
        PostDeleted(board="g", thread_no=7, post_no=9),
        THREAD_URLS | INDEX_URLS | OVERBOARD_URLS | {"/"},
        THREAD_KEYS | {"home", "search"},
        False,
    ),
    "post.updated": (
        PostUpdated(board="g", thread_no=7, post_no=9, post={"no": 9}),
        THREAD_URLS | INDEX_URLS | OVERBOARD_URLS,
        THREAD_KEYS | {"search"},
        False,
    ),
    "board.updated": (
        BoardUpdated(board="g", fields=["rules"]),
        INDEX_URLS | OVERBOARD_URLS | ARCHIVE_URLS | {"/", "/boards.json", "/api/v1/boards"},
        {"home", "boards", "b:g", "overboard"},
        True,
    ),
    "file.deleted": (
        FileDeleted(board="g", thread_no=7, post_no=9, sha256="0" * 64),
        THREAD_URLS | INDEX_URLS | OVERBOARD_URLS,
        THREAD_KEYS,
        False,
    ),
    "file.processed": (
        FileProcessed(board="g", thread_no=7, post_no=9, sha256="0" * 64),
        THREAD_URLS | INDEX_URLS | OVERBOARD_URLS,
        THREAD_KEYS,
        False,
    ),
    "thread.updated": (
        ThreadUpdated(board="g", thread_no=7, sticky=True),
        THREAD_URLS | INDEX_URLS | OVERBOARD_URLS,
        THREAD_KEYS,
        False,
    ),
    "thread.archived": (
        ThreadArchived(board="g", thread_no=7),
        THREAD_URLS | INDEX_URLS | OVERBOARD_URLS | ARCHIVE_URLS | {"/"},
        THREAD_KEYS | {"home", "b:g:archive"},
        True,
    ),
    "thread.pruned": (
        ThreadPruned(board="g", thread_no=7),
        THREAD_URLS | INDEX_URLS | OVERBOARD_URLS | ARCHIVE_URLS | {"/"},
        THREAD_KEYS | {"home", "b:g:archive"},
        True,
    ),
    "ban.created": (
        BanCreated(board="g", ban_id=1, thread_no=7, post_no=9, reason="spam"),
        THREAD_URLS | INDEX_URLS | OVERBOARD_URLS,
        THREAD_KEYS,
        False,
    ),
    "report.created": (ReportCreated(board="g", report_id=1, thread_no=7, post_no=9), set(), set(), False),
    "file.finished": (
        EVENT_TYPES["file.finished"].model_validate({"type": "file.finished", "board": "g", "post_id": 3, "tim": 1}),
        set(),
        set(),
        False,
    ),
}


def test_every_event_type_has_an_example() -> None:
    # A new event type must be decided on here: which pages does it change?
    assert set(EXAMPLES) == set(EVENT_TYPES)


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_each_event_purges_what_it_changed(kind: str) -> None:
    event, urls, keys, archive = EXAMPLES[kind]
    targets = purge_targets(event, pages=3)
    assert urls <= set(targets.urls), urls - set(targets.urls)
    assert set(targets.keys) == keys
    assert bool(targets) == bool(urls)
    assert len(targets.urls) == len(set(targets.urls))  # each once
    assert any("archive" in url for url in targets.urls) is archive
    assert "/g/4" not in targets.urls  # three pages asked for
    assert not any(url.startswith("/h/") or "/thread/8" in url for url in targets.urls)


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_every_url_purged_carries_one_of_the_keys_purged(kind: str) -> None:
    """So a Varnish ban by key and a purge by URL remove the same documents."""
    event = EXAMPLES[kind][0]
    targets = purge_targets(event, pages=3)
    for url in targets.urls:
        assert set(surrogate_keys(url.partition("?")[0])) & set(targets.keys), url


def test_deleting_an_opening_post_purges_the_archive_too() -> None:
    reply = purge_targets(PostDeleted(board="g", thread_no=7, post_no=9))
    op = purge_targets(PostDeleted(board="g", thread_no=7, post_no=7, is_op=True))
    assert "/g/archive" not in reply.urls
    assert "/g/archive" in op.urls and "b:g:archive" in op.keys


def test_a_ban_without_a_post_and_a_site_wide_ban_change_no_public_page() -> None:
    assert not purge_targets(BanCreated(board="g", ban_id=1))
    assert not purge_targets(BanCreated(board=None, ban_id=1, reason="spam"))


def test_the_board_page_count_decides_the_index_pages() -> None:
    targets = purge_targets(PostCreated(board="g", thread_no=7, post_no=9), pages=12)
    assert "/g/12" in targets.urls and "/g/12.json" in targets.urls and "/g/13" not in targets.urls


def test_board_settings_reach_every_page_of_the_board_by_key() -> None:
    targets = board_targets("g", pages=2)
    assert "b:g" in targets.keys and "boards" in targets.keys
    assert {"/", "/boards.json", "/api/v1/boards", "/g/", "/g/2", "/g/catalog", "/g/archive"} <= set(targets.urls)
    for url in targets.urls:
        assert set(surrogate_keys(url.partition("?")[0])) & set(targets.keys), url


@pytest.mark.parametrize(
    ("path", "keys"),
    [
        ("/", {"home"}),
        ("/all/", {"overboard"}),
        ("/sfw/", {"overboard"}),
        ("/boards.json", {"boards"}),
        ("/api/v1/boards", {"boards"}),
        ("/api/v1/overboard", {"overboard"}),
        ("/search", {"search"}),
        ("/api/v1/search", {"search"}),
        ("/g/", {"b:g", "b:g:index"}),
        ("/g/4", {"b:g", "b:g:index"}),
        ("/g/catalog", {"b:g", "b:g:index"}),
        ("/g/catalog.json", {"b:g", "b:g:index"}),
        ("/g/threads.json", {"b:g", "b:g:index"}),
        ("/g/2.json", {"b:g", "b:g:index"}),
        ("/g/index.rss", {"b:g", "b:g:index"}),
        ("/api/v1/boards/g", {"b:g", "b:g:index"}),
        ("/api/v1/boards/g/catalog", {"b:g", "b:g:index"}),
        ("/g/archive", {"b:g", "b:g:archive"}),
        ("/g/archive.json", {"b:g", "b:g:archive"}),
        ("/api/v1/boards/g/archive", {"b:g", "b:g:archive"}),
        ("/g/thread/7", {"b:g", "t:g:7"}),
        ("/g/thread/7/any-slug-at-all", {"b:g", "t:g:7"}),
        ("/g/thread/7.json", {"b:g", "t:g:7"}),
        ("/g/thread/7.atom", {"b:g", "t:g:7"}),
        ("/api/v1/boards/g/threads/7", {"b:g", "t:g:7"}),
        ("/api/v1/boards/g/threads/7/posts", {"b:g", "t:g:7"}),
        ("/help", set()),
        ("/static/css/site.css", set()),
        ("/g/thread/7/8/9", set()),
    ],
)
def test_each_document_carries_its_keys(path: str, keys: set[str]) -> None:
    found = surrogate_keys(path)
    assert found[0] == "site"
    assert set(found[1:]) == keys


def test_key_headers_are_one_list_in_two_spellings() -> None:
    headers = edge_key_headers("/g/thread/7/slug")
    assert headers == {"Surrogate-Key": "site b:g t:g:7", "Cache-Tag": "site,b:g,t:g:7"}


def test_keys_are_safe_in_a_header_and_a_ban_expression() -> None:
    hostile = "/g/thread/7/<script>\r\nSet-Cookie: x"
    for value in edge_key_headers(hostile).values():
        assert all(ch.isalnum() or ch in " ,:" for ch in value), value
    assert PurgeTargets() == PurgeTargets((), ())
