"""A comment's markup with what it quotes looked up: the one way posting and staff edits
render a comment and learn its backlinks."""

from __future__ import annotations

import re
from dataclasses import dataclass

from imageboard.boards import repository as repo
from imageboard.boards.markup import QuoteRef, find_quotes, render_comment
from imageboard.boards.repository.columns import AnySession

BOARD_LINK = re.compile(r">>>/([a-z0-9]{1,32})/")


@dataclass(frozen=True, slots=True)
class Rendered:
    html: str
    # (board id, post number) of every quoted post that exists: the post's backlinks.
    quotes: list[tuple[int, int]]
    # (board URI, thread number) of the threads those posts are in.
    threads: set[tuple[str, int]]


async def render_quoting(session: AnySession, comment: str, *, board: str, thread_no: int) -> Rendered:
    """``comment`` rendered for a post in ``thread_no`` of ``board`` (0: a thread not made
    yet), with two look-ups whatever it quotes: the quoted posts' threads, and the boards
    named by quotes and ``>>>/board/`` links."""
    quotes = find_quotes(comment, board=board)
    targets = await repo.thread_numbers_of(session, ((q.board, q.post_no) for q in quotes))
    ids = await repo.board_ids(session, set(BOARD_LINK.findall(comment)) | {q.board for q in quotes})
    html = render_comment(
        comment,
        board=board,
        thread_no=thread_no,
        targets={QuoteRef(b, n): t for (b, n), t in targets.items()},
        known_boards=ids,
    )
    quoted = [(ids[q.board], q.post_no) for q in quotes if (q.board, q.post_no) in targets]
    return Rendered(html, quoted, {(b, t) for (b, _n), t in targets.items()})
