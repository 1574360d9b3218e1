"""The 4chan API's documented fields, types and presence rules, as checks.

From github.com/4chan/4chan-API: pages/Threads.md, Catalog.md, Indexes.md, Threadlist.md,
Archive.md, Boards.md and the README's post object. Every key we emit must be documented,
have the documented type, and appear exactly when the documentation says it does.
"""

from __future__ import annotations

import re
from typing import Any, Literal

Context = Literal["thread", "index", "catalog"]

NOW = re.compile(r"^\d\d/\d\d/\d\d\((Mon|Tue|Wed|Thu|Fri|Sat|Sun)\)\d\d:\d\d:\d\d$")
MD5_BASE64 = re.compile(r"^[A-Za-z0-9+/]{22}==$")
CAPCODES = {"mod", "admin", "admin_highlight", "manager", "developer", "founder", "verified", "owner"}

INT_FIELDS = {
    "no", "resto", "sticky", "closed", "archived", "archived_on", "time", "tim", "fsize", "w", "h", "tn_w", "tn_h",
    "filedeleted", "spoiler", "custom_spoiler", "omitted_posts", "omitted_images", "replies", "images",
    "bumplimit", "imagelimit", "last_modified", "unique_ips", "since4pass", "m_img", "tail_size",
}
STR_FIELDS = {
    "now", "name", "trip", "id", "capcode", "country", "country_name", "sub", "com", "filename", "ext", "md5",
    "semantic_url", "tag",
}
LIST_FIELDS = {"last_replies"}
FLAGS = {"sticky", "closed", "archived", "filedeleted", "spoiler", "bumplimit", "imagelimit", "m_img"}
FILE_FIELDS = {"tim", "filename", "ext", "fsize", "md5", "w", "h", "tn_w", "tn_h"}
OP_ONLY = {
    "sticky", "closed", "archived", "archived_on", "sub", "omitted_posts", "omitted_images", "replies", "images",
    "bumplimit", "imagelimit", "semantic_url", "unique_ips", "last_modified", "last_replies", "tag", "tail_size",
}
ALWAYS = {"no", "resto", "now", "time", "name"}
NON_EMPTY_WHEN_PRESENT = {"trip", "id", "capcode", "sub", "com", "country", "country_name"}
# Keys vichan-style engines emit that 4chan does not.
VICHAN = {"locked", "cyclical", "bumplocked", "embed", "email", "extra_files", "fpath"}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_post(post: dict[str, Any], *, op: bool, context: Context, thread_no: int | None = None) -> None:
    documented = INT_FIELDS | STR_FIELDS | LIST_FIELDS
    assert set(post) <= documented, f"undocumented keys {set(post) - documented} in {post}"
    assert not set(post) & VICHAN
    for key, value in post.items():
        if key in INT_FIELDS:
            assert _is_int(value), f"{key} must be an integer, got {value!r}"
        elif key in STR_FIELDS:
            assert isinstance(value, str), f"{key} must be a string, got {value!r}"
        else:
            assert isinstance(value, list), f"{key} must be an array"
        if key in FLAGS:
            assert value == 1, f"{key} is 1 or absent, got {value!r}"
        if key in NON_EMPTY_WHEN_PRESENT:
            assert value, f"{key} is absent rather than empty"
    assert set(post) >= ALWAYS, f"missing {ALWAYS - set(post)}"
    assert post["no"] >= 1
    assert NOW.fullmatch(post["now"]), post["now"]
    assert post["time"] > 1_000_000_000
    if op:
        assert post["resto"] == 0
        assert {"replies", "images", "semantic_url"} <= set(post)
        assert post["replies"] >= 0 and post["images"] >= 0
        if context == "thread":
            assert "unique_ips" in post and post["unique_ips"] >= 0
            assert "omitted_posts" not in post and "omitted_images" not in post and "last_replies" not in post
        else:
            assert {"omitted_posts", "omitted_images", "last_modified"} <= set(post)
            assert 0 <= post["omitted_posts"] <= post["replies"]
            assert 0 <= post["omitted_images"] <= post["images"]
        assert ("last_replies" in post) == (context == "catalog")
        assert ("archived" in post) == ("archived_on" in post)
        if "archived" in post:
            assert post.get("closed") == 1, "an archived thread is closed to replies"
    else:
        assert post["resto"] >= 1
        if thread_no is not None:
            assert post["resto"] == thread_no
        assert not set(post) & OP_ONLY, f"OP-only keys on a reply: {set(post) & OP_ONLY}"
    present_file_fields = set(post) & FILE_FIELDS
    assert present_file_fields in (set(), FILE_FIELDS), f"file fields come all together: {present_file_fields}"
    if present_file_fields:
        assert MD5_BASE64.fullmatch(post["md5"]), post["md5"]
        assert post["ext"].startswith(".")
        assert "filedeleted" not in post
    else:
        assert "spoiler" not in post and "custom_spoiler" not in post
    if "capcode" in post:
        assert post["capcode"] in CAPCODES
    if "id" in post:
        assert len(post["id"]) == 8
    if "country" in post:
        assert len(post["country"]) == 2 and "country_name" in post
    if "trip" in post:
        assert post["trip"].startswith("!")


def check_thread_document(document: dict[str, Any]) -> None:
    assert set(document) == {"posts"}
    posts = document["posts"]
    assert posts, "a thread has at least its opening post"
    check_post(posts[0], op=True, context="thread")
    for reply in posts[1:]:
        check_post(reply, op=False, context="thread", thread_no=posts[0]["no"])
    numbers = [p["no"] for p in posts]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    assert posts[0]["replies"] == len(posts) - 1


def check_index_document(document: dict[str, Any]) -> None:
    assert set(document) == {"threads"}
    for thread in document["threads"]:
        assert set(thread) == {"posts"}
        op, *replies = thread["posts"]
        check_post(op, op=True, context="index")
        for reply in replies:
            check_post(reply, op=False, context="index", thread_no=op["no"])
        assert op["omitted_posts"] == op["replies"] - len(replies)


def check_catalog_document(document: list[dict[str, Any]]) -> None:
    assert isinstance(document, list)
    for number, page in enumerate(document, start=1):
        assert set(page) == {"page", "threads"} and page["page"] == number
        for op in page["threads"]:
            check_post(op, op=True, context="catalog")
            for reply in op["last_replies"]:
                check_post(reply, op=False, context="catalog", thread_no=op["no"])
            assert op["omitted_posts"] == op["replies"] - len(op["last_replies"])


def check_threadlist_document(document: list[dict[str, Any]]) -> None:
    assert isinstance(document, list) and document
    for number, page in enumerate(document, start=1):
        assert set(page) == {"page", "threads"} and page["page"] == number
        for thread in page["threads"]:
            assert set(thread) == {"no", "last_modified", "replies"}
            assert all(_is_int(v) for v in thread.values())


BOARD_ALWAYS = {
    "board": str, "title": str, "ws_board": int, "per_page": int, "pages": int, "max_filesize": int,
    "max_webm_filesize": int, "max_comment_chars": int, "max_webm_duration": int, "bump_limit": int,
    "image_limit": int, "cooldowns": dict, "meta_description": str,
}
BOARD_OPTIONAL_FLAGS = {
    "spoilers", "is_archived", "country_flags", "user_ids", "oekaki", "sjis_tags", "code_tags", "math_tags",
    "text_only", "forced_anon", "webm_audio", "require_subject", "troll_flags",
}
BOARD_OPTIONAL_INTS = {"custom_spoilers", "min_image_width", "min_image_height"}


def check_board(board: dict[str, Any]) -> None:
    allowed = set(BOARD_ALWAYS) | BOARD_OPTIONAL_FLAGS | BOARD_OPTIONAL_INTS | {"board_flags"}
    assert set(board) <= allowed, set(board) - allowed
    for key, kind in BOARD_ALWAYS.items():
        assert key in board, key
        value = board[key]
        assert isinstance(value, kind) and not isinstance(value, bool), (key, value)
    assert board["ws_board"] in (0, 1)
    assert set(board["cooldowns"]) == {"threads", "replies", "images"}
    assert all(_is_int(v) for v in board["cooldowns"].values())
    for key in BOARD_OPTIONAL_FLAGS & set(board):
        assert board[key] == 1, f"{key}: shown only when enabled"
