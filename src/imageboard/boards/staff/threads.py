"""Thread state: sticky, lock and cyclic flags, marking a thread changed, and moving a thread
to another board."""

from __future__ import annotations

import re
from datetime import datetime

from imageboard.boards import repository as repo
from imageboard.boards.models import Post, Thread
from imageboard.boards.services.base import board_or_404, board_to_change_or_404
from imageboard.boards.staff.common import AnySession, ThreadFlag, rerender, thread_or_404
from imageboard.core.db import WriteSession
from imageboard.core.errors import InvalidInput

# ">>123" quoting the same board (not the tail of ">>>/b/123").
_SAME_BOARD_QUOTE = re.compile(r"(?<![>/\w])>>(\d{1,16})")


async def set_thread_flag(
    session: WriteSession, uri: str, thread_no: int, flag: ThreadFlag, value: bool, now: datetime
) -> None:
    board = await board_to_change_or_404(session, uri)
    thread = await thread_or_404(session, board, thread_no)
    setattr(thread, flag, value)
    thread.updated_at = now
    await repo.touch_board(session, board.id, now)
    await session.flush()


async def touch(session: WriteSession, uri: str, thread_no: int, now: datetime) -> None:
    """Mark a thread (and its board) changed, e.g. after its files were changed elsewhere."""
    board = await board_to_change_or_404(session, uri)
    thread = await repo.staff_thread_by_no(session, board.id, thread_no)
    if thread is not None:
        thread.updated_at = now
    await repo.touch_board(session, board.id, now)
    await session.flush()


async def thread_flags(session: AnySession, uri: str, thread_no: int) -> dict[str, bool]:
    board = await board_or_404(session, uri)
    thread = await thread_or_404(session, board, thread_no)
    return {"sticky": thread.sticky, "locked": thread.locked, "cyclic": thread.cyclic}


async def move_thread(session: WriteSession, uri: str, thread_no: int, target_uri: str, now: datetime) -> int:
    """Move a thread to another board. Its posts take new numbers from the target board's
    counter (numbers are never reused, so they cannot keep theirs); quotes between them are
    rewritten to the new numbers, and quotes of other posts on the old board become
    cross-board quotes. The old address keeps an archived, closed notice linking to the new
    thread. Returns the new thread number."""
    if target_uri == uri:
        raise InvalidInput("The thread is already on that board.", field="to")
    source = await board_or_404(session, uri)
    target = await board_or_404(session, target_uri)
    # Both boards change: taken in id order, as every write that takes several boards does.
    await repo.lock_boards(session, [source.id, target.id])
    thread = await thread_or_404(session, source, thread_no, for_update=True)
    if thread.archived:
        raise InvalidInput("Archived threads cannot be moved.", code="thread_archived")
    posts = list(await repo.staff_posts_of_thread(session, thread.id))
    numbers = {post.no: await repo.take_post_number(session, target.id) for post in posts}
    moved = await repo.add_thread(
        session,
        Thread(
            board_id=target.id,
            no=numbers[thread.no],
            subject=thread.subject,
            created_at=thread.created_at,
            bumped_at=thread.bumped_at,
            updated_at=now,
            reply_count=thread.reply_count,
            file_count=thread.file_count,
            sticky=False,
            locked=thread.locked,
            cyclic=thread.cyclic,
            archived=False,
            held=thread.held,
        ),
    )
    await repo.staff_delete_quotes_from(session, [p.id for p in posts])
    await repo.staff_retarget_quotes(session, source.id, target.id, numbers)
    for post in posts:
        post.board_id = target.id
        post.thread_id = moved.id
        post.no = numbers[post.no]
        post.comment = _renumber(post.comment, numbers, source.uri)
    await session.flush()
    for post in posts:
        await rerender(session, target, moved.no, post)
    # The notice left behind: the old thread, closed and archived, with the old OP number.
    notice = f"Thread moved to >>>/{target.uri}/{moved.no}"
    thread.locked = True
    thread.sticky = False
    thread.archived = True
    thread.archived_at = now
    thread.updated_at = now
    thread.reply_count = 0
    thread.held = False
    stub = await repo.add_post(
        session,
        Post(
            board_id=source.id,
            thread_id=thread.id,
            no=thread.no,
            is_op=True,
            created_at=now,
            name=source.default_name,
            subject=thread.subject,
            comment=notice,
            comment_html="",
            sage=False,
            held=False,
        ),
    )
    await rerender(session, source, thread.no, stub, backlink=False)
    await repo.touch_board(session, source.id, now)
    await repo.touch_board(session, target.id, now)
    return moved.no


def _renumber(text: str, numbers: dict[int, int], old_board: str) -> str:
    """Quotes of moved posts take their new numbers; quotes of posts left on the old board
    become cross-board quotes to it."""

    def swap(match: re.Match[str]) -> str:
        no = int(match.group(1))
        return f">>{numbers[no]}" if no in numbers else f">>>/{old_board}/{no}"

    return _SAME_BOARD_QUOTE.sub(swap, text)
