"""Rendered posts, kept per process so a page joins stored HTML instead of re-running the post
macro for every post (a 300-reply thread is 300 macro calls: most of an uncached render).

The key of a fragment is everything the macro reads — every field of the post (its comment
HTML, backlinks and files included), the board it is shown on, the thread's state for an
opening post, whether it links to its thread — and the language. A post that changes in any
way (an edit, a ban mark, a new backlink, a deleted, spoilered or processed file) therefore
has a new key, and its old fragment is simply never asked for again: invalidation is exact
by construction, without version bookkeeping or messages between processes.

A catalog's cards are kept the same way (``card``): a card shows the thread's state, its
opening post's first file and its excerpt, and those are its key, so a reply re-renders
the one card of its thread and the catalog joins the others as they were.

A thread page asks for its replies by stamp instead (``replies``): the key is the post's id
and number and its ``view_version``, a counter the database's triggers move on every change
to what the post shows (migration 0013 lists them), so the page needs neither the replies'
content nor their backlinks and files to find them — only the posts it has not rendered in
that state are read. The number is in the key because SQLite may give a deleted post's id
to a new post; numbers are never reused. Replies are kept as UTF-8 and joined as bytes:
Python stores a string holding any character beyond Latin-1 at 2 or 4 bytes a character, so
a page whose posts mix scripts cost about 0.4 ms to join into one string and encode again,
where joining bytes is a copy (the page takes them through ``PageRenderer.render(spliced=)``).

Process-local on purpose, for any page cache setting: the key holds the post's content, so
it can only be checked where that content already is (a shared store would need it sent
with every lookup), and one fragment is a few hundred bytes, cheaper to render once per
process than to fetch one by one over the network. Staff pages carry a moderation menu per
post and are rendered afresh (they are never cached either).
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from contextvars import ContextVar
from operator import attrgetter
from typing import Any, TypeVar, cast

from markupsafe import Markup

from imageboard.boards import BoardView, CatalogEntry, OpeningStamp, PostStamp, PostView, ThreadState
from imageboard.core.errors import NotFound
from imageboard.core.i18n import current_language

# Bytes of HTML (and of the post text held by the keys) kept per process.
FRAGMENT_BYTES = 16 * 1024 * 1024
# What an entry costs beyond its strings: the key tuple, the datetimes, the dict slot.
ENTRY_OVERHEAD = 600

Html = TypeVar("Html", Markup, bytes)

# Every scalar field of a post; the two lists are turned into tuples below. A new list field
# would make the key unhashable and fail loudly rather than serve a stale fragment.
_LISTS = ("backlinks", "files")
_scalars = attrgetter(*(f.name for f in dataclasses.fields(PostView) if f.name not in _LISTS))

# The post macro: it returns Markup (the templates autoescape), kept as it is.
RenderPost = Callable[[PostView, str, ThreadState | None, bool], Markup]
# The catalog card macro.
RenderCard = Callable[[CatalogEntry, BoardView], Markup]
# BoardsService.thread_posts for one thread: (post id, view_version, view) of the posts asked for.
LoadPosts = Callable[[Sequence[int]], Awaitable[list[tuple[int, int, PostView]]]]


class PostFragments:
    """An LRU of rendered posts and catalog cards, bounded in bytes."""

    def __init__(self, staff: ContextVar[Any], *, max_bytes: int = FRAGMENT_BYTES) -> None:
        self.staff = staff
        self.max_bytes = max_bytes
        # Markup for what templates show, UTF-8 bytes for the replies a thread page splices in.
        self._entries: OrderedDict[Hashable, tuple[Markup | bytes, int]] = OrderedDict()
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
        html = self._get(key, Markup)
        if html is None:
            html = render(post, board, thread_state, link_thread)
            self._put(key, html, len(html) + len(post.comment_html) + len(post.comment) + ENTRY_OVERHEAD)
        return html

    def card(self, render: RenderCard, entry: CatalogEntry, board: BoardView) -> Markup:
        """A catalog card as rendered before for the same thread state, first file and excerpt
        (all a card shows besides the board's address); staff catalogs render it afresh."""
        if self.staff.get() is not None:
            return render(entry, board)
        files = entry.op.files
        key = ("card", current_language(), board.uri, entry.state, files[0] if files else None, entry.excerpt)
        html = self._get(key, Markup)
        if html is None:
            html = render(entry, board)
            self._put(key, html, len(html) + len(entry.excerpt) + ENTRY_OVERHEAD)
        return html

    async def opening(
        self, render: RenderPost, board: str, op: OpeningStamp, state: ThreadState, load: LoadPosts
    ) -> Markup:
        """A thread page's opening post as rendered before in the state its stamp names, with
        the thread in ``state`` (its badges); else loaded (``load``) and rendered now.
        Anonymous pages only, as ``replies``."""
        language = current_language()
        stamp = op.stamp
        html = self._get((language, board, stamp.id, stamp.no, stamp.view_version, state), Markup)
        if html is not None:
            return html
        loaded = await load([stamp.id])
        if not loaded:  # deleted since the stamp was read
            raise NotFound(f"Thread No.{state.no} does not exist on /{board}/.", code="thread_not_found")
        post_id, view_version, post = loaded[0]
        html = render(post, board, state, False)
        self._put((language, board, post_id, post.no, view_version, state), html, len(html) + ENTRY_OVERHEAD)
        return html

    async def replies(self, render: RenderPost, board: str, stamps: Sequence[PostStamp], load: LoadPosts) -> bytes:
        """A thread page's replies, joined as UTF-8: each one as rendered before in the state
        its stamp names, the others loaded (``load``: the missing post ids) and rendered now.
        A reply gone since the stamps were read is left out. Anonymous pages only (the caller
        checks: staff pages render every post afresh)."""
        language = current_language()
        keys = [(language, board, *stamp) for stamp in stamps]
        parts = self._get_replies(keys)
        if None not in parts:
            return b"".join(cast(list[bytes], parts))
        missing = [stamp.id for stamp, html in zip(stamps, parts, strict=True) if html is None]
        rendered = {}
        for post_id, view_version, post in await load(missing):
            html = render(post, board, None, False).encode()
            # Kept under the version read with the content, which may be newer than the
            # stamp's: the content and its key always agree.
            self._put((language, board, post_id, post.no, view_version), html, len(html) + ENTRY_OVERHEAD)
            rendered[post_id] = html
        parts = [rendered.get(s.id) if html is None else html for s, html in zip(stamps, parts, strict=True)]
        return b"".join(html for html in parts if html is not None)

    def _get_replies(self, keys: list[tuple[str, str, int, int, int]]) -> list[bytes | None]:
        """``_get`` of many replies' keys at once: a page asks for hundreds, and a method call
        and a type check for each were a fortieth of the page. Only ``replies`` puts keys of
        this shape, and always with bytes."""
        entries = self._entries
        found = list(map(entries.get, keys))
        hits = 0
        for key, entry in zip(keys, found, strict=True):
            if entry is not None:
                entries.move_to_end(key)
                hits += 1
        self.hits += hits
        self.misses += len(keys) - hits
        return cast(list[bytes | None], [None if entry is None else entry[0] for entry in found])

    def _get(self, key: Hashable, kind: type[Html]) -> Html | None:
        entry = self._entries.get(key)
        # Each kind of key holds one kind of HTML; the check only keeps the types honest.
        if entry is None or not isinstance(entry[0], kind):
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry[0]

    def _put(self, key: Hashable, html: Markup | bytes, size: int) -> None:
        if size > self.max_bytes // 16:
            return
        # Two pages rendering the same missing reply at once both put it (``replies`` awaits
        # its load in between): the second replaces the first, and its size with it.
        replaced = self._entries.pop(key, None)
        if replaced is not None:
            self._size -= replaced[1]
        self._entries[key] = (html, size)
        self._size += size
        while self._size > self.max_bytes:
            _, (_, dropped) = self._entries.popitem(last=False)
            self._size -= dropped

    def bind(self, render: RenderPost) -> Callable[..., Markup]:
        """``post(p, board, thread_state=None, link_thread=False)`` for the templates."""

        def post(
            post: PostView, board: str, thread_state: ThreadState | None = None, link_thread: bool = False
        ) -> Markup:
            return self(render, post, board, thread_state, link_thread)

        return post

    def bind_card(self, render: RenderCard) -> Callable[[CatalogEntry, BoardView], Markup]:
        """``catalog_card(entry, board)`` for the templates."""

        def catalog_card(entry: CatalogEntry, board: BoardView) -> Markup:
            return self.card(render, entry, board)

        return catalog_card

    def clear(self) -> None:
        self._entries.clear()
        self._size = 0
