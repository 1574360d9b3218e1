"""The post fragment cache: a post is rendered again exactly when something it shows changed."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import pytest
from markupsafe import Markup

from imageboard.boards import Backlink, OpeningStamp, PostStamp, PostView, ThreadState
from imageboard.core.errors import NotFound
from imageboard.core.i18n import set_language
from imageboard.web.fragments import ENTRY_OVERHEAD, PostFragments

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _post(no: int = 2, **changes: Any) -> PostView:
    post = PostView(
        board="b", thread_no=1, no=no, is_op=no == 1, created_at=NOW, name="Anonymous", tripcode=None,
        capcode=None, subject="", comment="hi", comment_html="hi", poster_id=None, country_code=None,
        country_name=None, sage=False, edited_at=None,
    )  # fmt: skip
    return dataclasses.replace(post, **changes)


def _state(**changes: Any) -> ThreadState:
    state = ThreadState(
        board="b", no=1, subject="", created_at=NOW, bumped_at=NOW, updated_at=NOW, reply_count=1,
        file_count=0, sticky=False, locked=False, cyclic=False, archived=False, archived_at=None,
    )  # fmt: skip
    return dataclasses.replace(state, **changes)


class Renderer:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, post: PostView, board: str, state: ThreadState | None, link: bool) -> Markup:
        self.calls += 1
        shown = f"{post.no} {post.comment_html} {len(post.backlinks)} {state and state.sticky}"
        return Markup("<article>%s</article>") % shown


def test_a_post_is_rendered_again_only_when_what_it_shows_changes() -> None:
    set_language("en")
    staff: ContextVar[object | None] = ContextVar("staff", default=None)
    fragments = PostFragments(staff)
    render = Renderer()
    first = fragments(render, _post(), "b")
    assert fragments(render, _post(), "b") == first and render.calls == 1
    for changed in (
        _post(comment_html="hi<br>(USER WAS BANNED FOR THIS POST)"),
        _post(edited_at=NOW),
        _post(backlinks=[Backlink(board="b", thread_no=1, post_no=3)]),
    ):
        fragments(render, changed, "b")
    assert render.calls == 4
    fragments(render, _post(), "tech")  # shown on another board: backlinks are labelled differently
    fragments(render, _post(), "b", link_thread=True)
    assert render.calls == 6
    # A reply ignores the thread's state; an opening post shows it.
    fragments(render, _post(), "b", _state(sticky=True))
    assert render.calls == 6
    fragments(render, _post(1), "b", _state())
    fragments(render, _post(1), "b", _state(sticky=True))
    assert render.calls == 8
    set_language("de")
    fragments(render, _post(), "b")
    assert render.calls == 9
    set_language("en")


def test_staff_views_are_never_stored_and_the_cache_is_bounded() -> None:
    set_language("en")
    staff: ContextVar[object | None] = ContextVar("staff", default=None)
    fragments = PostFragments(staff, max_bytes=16 * 2000)
    render = Renderer()
    token = staff.set(object())
    fragments(render, _post(), "b")
    fragments(render, _post(), "b")
    assert render.calls == 2 and fragments.hits == 0
    staff.reset(token)
    for no in range(2, 200):
        fragments(render, _post(no), "b")
    assert fragments._size <= fragments.max_bytes
    fragments(render, _post(2), "b")  # long evicted: rendered again
    assert render.calls == 2 + 198 + 1


async def test_replies_by_stamp_load_only_what_was_not_rendered_in_that_state() -> None:
    set_language("en")
    fragments = PostFragments(ContextVar("staff", default=None))
    render = Renderer()
    loads: list[list[int]] = []
    content = {10: _post(2), 11: _post(3), 12: _post(4)}
    versions = {10: 0, 11: 0, 12: 0}

    async def load(ids: Sequence[int]) -> list[tuple[int, int, PostView]]:
        loads.append(list(ids))
        await asyncio.sleep(0)  # a real load yields to other requests
        return [(i, versions[i], content[i]) for i in ids if i in content]

    def stamps() -> list[PostStamp]:
        return [PostStamp(i, content[i].no, versions[i]) for i in (10, 11, 12) if i in content]

    first = await fragments.replies(render, "b", stamps(), load)
    assert loads == [[10, 11, 12]] and first.count(b"<article>") == 3
    assert await fragments.replies(render, "b", stamps(), load) == first and len(loads) == 1
    content[11] = _post(3, comment_html="edited")
    versions[11] = 1
    edited = await fragments.replies(render, "b", stamps(), load)
    assert loads[-1] == [11] and b"edited" in edited and render.calls == 4
    # Gone between the stamps and the load (deleted meanwhile): left out, not an error.
    old = stamps()
    del content[12]
    assert (await fragments.replies(render, "b", [*old[:2], PostStamp(12, 4, 1)], load)).count(b"<article>") == 2
    # Two pages that miss the same reply at once both store it: the size stays exact.
    versions[10] = 1
    await asyncio.gather(*(fragments.replies(render, "b", stamps(), load) for _ in range(2)))
    assert fragments._size == sum(size for _, size in fragments._entries.values())


async def test_replies_found_by_stamp_count_as_hits_and_stay_kept_longest() -> None:
    set_language("en")
    render = Renderer()
    entry = len("<article>10 hi 0 None</article>") + ENTRY_OVERHEAD
    # Room for sixteen (a fragment over a sixteenth of the budget is never kept).
    fragments = PostFragments(ContextVar("staff", default=None), max_bytes=16 * entry)
    content = {i: _post(i - 90) for i in range(100, 117)}  # numbers 10-26: all the same size

    async def load(ids: Sequence[int]) -> list[tuple[int, int, PostView]]:
        return [(i, 0, content[i]) for i in ids]

    def stamps(*ids: int) -> list[PostStamp]:
        return [PostStamp(i, content[i].no, 0) for i in ids]

    await fragments.replies(render, "b", stamps(*range(100, 116)), load)
    assert (fragments.hits, fragments.misses) == (0, 16)
    await fragments.replies(render, "b", stamps(100, 102), load)  # 101 is now the least recently used
    assert (fragments.hits, fragments.misses) == (2, 16)
    await fragments.replies(render, "b", stamps(116), load)  # a seventeenth: one must go
    kept = {key[2] for key in fragments._entries}
    assert kept == set(range(100, 117)) - {101}, sorted(kept)
    page = await fragments.replies(render, "b", stamps(*range(100, 117)), load)
    assert (fragments.hits, fragments.misses) == (18, 18) and render.calls == 18
    assert [int(part.split()[0]) for part in page.decode().split("<article>")[1:]] == list(range(10, 27))


async def test_the_opening_post_by_stamp_is_loaded_when_its_version_or_the_threads_state_moves() -> None:
    set_language("en")
    fragments = PostFragments(ContextVar("staff", default=None))
    render = Renderer()
    loads: list[list[int]] = []
    content = {10: _post(1)}
    version = [0]

    async def load(ids: Sequence[int]) -> list[tuple[int, int, PostView]]:
        loads.append(list(ids))
        return [(i, version[0], content[i]) for i in ids if i in content]

    def opening() -> OpeningStamp:
        return OpeningStamp(PostStamp(10, 1, version[0]), subject="", comment="hi")

    first = await fragments.opening(render, "b", opening(), _state(), load)
    assert await fragments.opening(render, "b", opening(), _state(), load) == first and loads == [[10]]
    # Its content changed (a backlink, an edit) while the thread's state did not.
    content[10] = _post(1, comment_html="edited")
    version[0] = 1
    assert "edited" in await fragments.opening(render, "b", opening(), _state(), load) and len(loads) == 2
    # The thread's state changed (stuck): the badges are rendered again.
    stuck = await fragments.opening(render, "b", opening(), _state(sticky=True), load)
    assert "True" in stuck and len(loads) == 3 and render.calls == 3
    # The thread went away between the stamp and the load: the page is not found.
    del content[10]
    version[0] = 2
    with pytest.raises(NotFound):
        await fragments.opening(render, "b", opening(), _state(), load)


def test_a_catalog_card_is_rendered_again_only_when_its_thread_shows_something_new() -> None:
    from types import SimpleNamespace

    from imageboard.boards import CatalogEntry
    from imageboard.media.schemas import FileView

    set_language("en")
    staff: ContextVar[object | None] = ContextVar("staff", default=None)
    fragments = PostFragments(staff)
    calls: list[int] = []

    def render(entry: CatalogEntry, board: Any) -> Markup:
        calls.append(entry.state.no)
        return Markup("<li>%s %s</li>") % (board.uri, entry.state.reply_count)

    board, other = SimpleNamespace(uri="b"), SimpleNamespace(uri="g")
    picture = FileView(
        tim=1, filename="cat", ext=".jpg", kind="image", mime="image/jpeg", size=10, width=8, height=6,
        thumb_width=8, thumb_height=6, md5_base64="", sha256="", spoiler=False, duration=None, has_audio=None,
        url="/media/b/1.jpg", thumb_url="/media/b/1s.jpg",
    )  # fmt: skip
    entry = CatalogEntry(state=_state(), op=_post(1, files=[picture]), excerpt="hi")
    first = fragments.card(render, entry, board)  # type: ignore[arg-type]
    assert fragments.card(render, entry, board) == first and calls == [1]  # type: ignore[arg-type]
    # What the card shows changed: the count, a badge, the first file, the excerpt; or the
    # board it is shown on, or the language.
    for changed in (
        dataclasses.replace(entry, state=_state(reply_count=2)),
        dataclasses.replace(entry, state=_state(locked=True)),
        dataclasses.replace(entry, op=_post(1, files=[dataclasses.replace(picture, spoiler=True)])),
        dataclasses.replace(entry, op=_post(1)),
        dataclasses.replace(entry, excerpt="hello"),
    ):
        fragments.card(render, changed, board)  # type: ignore[arg-type]
    fragments.card(render, entry, other)  # type: ignore[arg-type]
    assert len(calls) == 7
    set_language("de")
    fragments.card(render, entry, board)  # type: ignore[arg-type]
    set_language("en")
    # What it does not show: the opening post's other fields.
    fragments.card(render, dataclasses.replace(entry, op=_post(1, files=[picture], edited_at=NOW)), board)  # type: ignore[arg-type]
    assert len(calls) == 8
    token = staff.set(object())
    try:
        fragments.card(render, entry, board)  # type: ignore[arg-type]
        fragments.card(render, entry, board)  # type: ignore[arg-type]
    finally:
        staff.reset(token)
    assert len(calls) == 10
