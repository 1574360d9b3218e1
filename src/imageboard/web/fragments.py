"""Rendered posts, kept per process so a page joins stored HTML instead of re-running the post
macro for every post (a 300-reply thread is 300 macro calls: most of an uncached render).

The key of a fragment is everything the macro reads — every field of the post (its comment
HTML, backlinks and files included), the board it is shown on, the thread's state for an
opening post, whether it links to its thread — and the language. A post that changes in any
way (an edit, a ban mark, a new backlink, a deleted, spoilered or processed file) therefore
has a new key, and its old fragment is simply never asked for again: invalidation is exact
by construction, without version bookkeeping or messages between processes.

Process-local on purpose, for any page cache setting: the key holds the post's content, so
it can only be checked where that content already is (a shared store would need it sent
with every lookup), and one fragment is a few hundred bytes, cheaper to render once per
process than to fetch one by one over the network. Staff pages carry a moderation menu per
post and are rendered afresh (they are never cached either).
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable, Hashable
from contextvars import ContextVar
from operator import attrgetter
from typing import Any

from markupsafe import Markup

from imageboard.boards import PostView, ThreadState
from imageboard.core.i18n import current_language

# Bytes of HTML (and of the post text held by the keys) kept per process.
FRAGMENT_BYTES = 16 * 1024 * 1024
# What an entry costs beyond its strings: the key tuple, the datetimes, the dict slot.
ENTRY_OVERHEAD = 600

# Every scalar field of a post; the two lists are turned into tuples below. A new list field
# would make the key unhashable and fail loudly rather than serve a stale fragment.
_LISTS = ("backlinks", "files")
_scalars = attrgetter(*(f.name for f in dataclasses.fields(PostView) if f.name not in _LISTS))

# The post macro: it returns Markup (the templates autoescape), kept as it is.
RenderPost = Callable[[PostView, str, ThreadState | None, bool], Markup]


class PostFragments:
    """An LRU of rendered posts, bounded in bytes."""

    def __init__(self, staff: ContextVar[Any], *, max_bytes: int = FRAGMENT_BYTES) -> None:
        self.staff = staff
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, tuple[Markup, int]] = OrderedDict()
        self._size = 0
        self.hits = 0
        self.misses = 0

    def __call__(
        self,
        render: RenderPost,
        post: PostView,
        board: str,
        thread_state: ThreadState | None = None,
        link_thread: bool = False,
    ) -> Markup:
        if self.staff.get() is not None:
            return render(post, board, thread_state, link_thread)
        key = (
            current_language(),
            board,
            link_thread,
            # Only an opening post shows the thread's state (badges, the [Reply] label).
            thread_state if post.is_op else None,
            _scalars(post),
            tuple((b.board, b.thread_no, b.post_no) for b in post.backlinks),
            tuple(post.files),
        )
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[0]
        self.misses += 1
        html = render(post, board, thread_state, link_thread)
        size = len(html) + len(post.comment_html) + len(post.comment) + ENTRY_OVERHEAD
        if size <= self.max_bytes // 16:
            self._entries[key] = (html, size)
            self._size += size
            while self._size > self.max_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._size -= dropped
        return html

    def bind(self, render: RenderPost) -> Callable[..., Markup]:
        """``post(p, board, thread_state=None, link_thread=False)`` for the templates."""

        def post(
            post: PostView, board: str, thread_state: ThreadState | None = None, link_thread: bool = False
        ) -> Markup:
            return self(render, post, board, thread_state, link_thread)

        return post

    def clear(self) -> None:
        self._entries.clear()
        self._size = 0
