"""What events carry of a post is what ``dataclasses.asdict`` would give, keys in order."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from imageboard.boards import public_post
from imageboard.boards.schemas import Backlink, PostView
from imageboard.media.schemas import FileView


def a_post() -> PostView:
    moment = datetime(2026, 12, 6, 5, 0, tzinfo=UTC)
    file = FileView(
        tim=1765000000123, filename="cat", ext=".jpg", kind="image", mime="image/jpeg", size=1234,
        width=800, height=600, thumb_width=125, thumb_height=94, md5_base64="AAAA", sha256="ab" * 32,
        spoiler=False, duration=None, has_audio=None, url="/media/b/1765000000123.jpg",
        thumb_url="/media/b/1765000000123s.jpg",
    )  # fmt: skip
    return PostView(
        board="b", thread_no=1, no=7, is_op=False, created_at=moment, name="Anonymous", tripcode=None,
        capcode=None, subject="", comment="hello", comment_html="hello", poster_id="abcd1234",
        country_code=None, country_name=None, sage=False, edited_at=moment,
        backlinks=[Backlink(board="b", thread_no=1, post_no=9), Backlink(board="g", thread_no=4, post_no=10)],
        files=[file],
    )  # fmt: skip


def test_public_post_is_asdict() -> None:
    view = a_post()
    shown = public_post(view)
    assert shown == dataclasses.asdict(view)
    assert list(shown) == list(dataclasses.asdict(view))
    assert list(shown["files"][0]) == list(dataclasses.asdict(view.files[0]))


def test_public_post_shares_nothing_mutable_with_the_view() -> None:
    view = a_post()
    shown = public_post(view)
    shown["backlinks"].append({"board": "x"})
    shown["files"][0]["deleted"] = True
    assert len(view.backlinks) == 2 and view.files[0].deleted is False
