"""What staff look up: boards and their settings, posts by number, address or approval state."""

from __future__ import annotations

from collections.abc import Sequence

from imageboard.boards import repository as repo
from imageboard.boards.models import Thread
from imageboard.boards.services.base import board_or_404
from imageboard.boards.staff.common import LINK, AnySession, BoardSettings, StaffPost, settings_of, staff_post
from imageboard.core.errors import NotFound


async def board_settings(session: AnySession, uri: str) -> BoardSettings:
    board = await board_or_404(session, uri)
    return settings_of(board)


async def all_board_settings(session: AnySession) -> list[BoardSettings]:
    return [settings_of(board) for board in await repo.all_boards(session)]


async def find_post(session: AnySession, uri: str, no: int) -> StaffPost:
    board = await board_or_404(session, uri)
    post = await repo.post_by_no(session, board.id, no)
    if post is None:
        raise NotFound(f"Post No.{no} does not exist on /{uri}/.", code="post_not_found")
    thread = await session.get(Thread, post.thread_id)
    assert thread is not None
    return staff_post(post, board.uri, thread.no)


async def posts_by_ids(session: AnySession, post_ids: Sequence[int]) -> dict[int, StaffPost]:
    rows = await repo.staff_posts_by_ids(session, list(post_ids))
    return {post.id: staff_post(post, uri, thread_no) for post, uri, thread_no in rows}


async def posts_by_ip(session: AnySession, ip: str, *, limit: int | None = 100) -> list[StaffPost]:
    rows = await repo.staff_posts_by_ip(session, ip, limit=limit)
    return [staff_post(post, uri, thread_no) for post, uri, thread_no in rows]


async def thread_posts(session: AnySession, uri: str, thread_no: int) -> list[StaffPost]:
    """Every post of a thread, held ones included, in order (what deleting it removes)."""
    board = await board_or_404(session, uri)
    thread = await repo.staff_thread_by_no(session, board.id, thread_no)
    if thread is None:
        raise NotFound(f"Thread No.{thread_no} does not exist on /{uri}/.", code="thread_not_found")
    return [staff_post(post, board.uri, thread.no) for post in await repo.staff_posts_of_thread(session, thread.id)]


async def held_posts(session: AnySession, boards: Sequence[str] | None, *, limit: int = 100) -> list[StaffPost]:
    """Posts awaiting approval on the given boards (None: every board)."""
    board_ids: list[int] | None = None
    if boards is not None:
        board_ids = [b.id for b in await repo.all_boards(session) if b.uri in set(boards)]
    rows = await repo.staff_held_posts(session, board_ids, limit=limit)
    return [staff_post(post, uri, thread_no) for post, uri, thread_no in rows]


async def is_new_poster(session: AnySession, uri: str, ip: str | None) -> bool:
    """True when this address has no visible post on the board yet."""
    if ip is None:
        return True
    board = await board_or_404(session, uri)
    return not await repo.staff_has_visible_post_by_ip(session, board.id, ip)


def has_link(text: str) -> bool:
    return bool(LINK.search(text))
