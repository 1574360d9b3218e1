"""Staff use cases on boards data: what moderators do to threads and posts.

Every function runs inside the caller's unit of work (it takes a ``WriteSession`` or a
``ReadSession`` and never commits), so the moderation context can record the action in its
mod log in the same transaction. Permission checks are the caller's job: these functions do
what they are told.

Bump order is always rebuilt from what remains: deleting a spammer's replies puts each thread
back where the remaining non-sage replies below the bump limit leave it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from imageboard.boards import repository as repo
from imageboard.boards.markup import QuoteRef, find_quotes, render_comment
from imageboard.boards.models import Board, Post, Thread
from imageboard.boards.schemas import BoardSpec, BoardView, PostView
from imageboard.boards.service import board_view, post_view
from imageboard.core.db import ReadSession, WriteSession
from imageboard.core.errors import InvalidInput, NotFound

AnySession = ReadSession | WriteSession
ThreadFlag = Literal["sticky", "locked", "cyclic"]
Scope = Literal["thread", "board", "site"]

DEFAULT_BAN_MESSAGE = "USER WAS BANNED FOR THIS POST"
MAX_BAN_MESSAGE = 200
MODERATION_SETTINGS = (
    "rules",
    "announcement",
    "hold_threads",
    "hold_links_files",
    "hold_new_posters",
    "modlog_show_names",
    "ip_retention_days",
)
SPEC_SETTINGS = tuple(name for name in BoardSpec.model_fields if name != "uri")
_BOARD_LINK = re.compile(r">>>/([a-z0-9]{1,32})/")
# ">>123" quoting the same board (not the tail of ">>>/b/123").
_SAME_BOARD_QUOTE = re.compile(r"(?<![>/\w])>>(\d{1,16})")
_LINK = re.compile(r"(?:https?://|www\.)\S", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class StaffPost:
    """A post as staff see it: with its address, held state and internal id."""

    id: int
    board: str
    board_id: int
    thread_id: int
    thread_no: int
    no: int
    is_op: bool
    held: bool
    ip: str | None
    created_at: datetime
    ban_message: str | None
    view: PostView


@dataclass(frozen=True, slots=True)
class BoardSettings:
    board: BoardView
    rules: str
    announcement: str
    hold_threads: bool
    hold_links_files: bool
    hold_new_posters: bool
    modlog_show_names: bool
    ip_retention_days: int

    @property
    def rule_list(self) -> list[str]:
        return [line.strip() for line in self.rules.splitlines() if line.strip()]


@dataclass(frozen=True, slots=True)
class Removed:
    """What a deletion removed: post ids (for the media and moderation contexts), threads."""

    post_ids: list[int]
    threads: list[tuple[str, int]]
    posts: int


# --- reading ------------------------------------------------------------------------------


async def board_or_404(session: AnySession, uri: str) -> Board:
    board = await repo.board_by_uri(session, uri)
    if board is None:
        raise NotFound(f"There is no board /{uri}/.", code="board_not_found")
    return board


async def board_settings(session: AnySession, uri: str) -> BoardSettings:
    board = await board_or_404(session, uri)
    return _settings(board)


async def all_board_settings(session: AnySession) -> list[BoardSettings]:
    return [_settings(board) for board in await repo.all_boards(session)]


async def find_post(session: AnySession, uri: str, no: int) -> StaffPost:
    board = await board_or_404(session, uri)
    post = await repo.post_by_no(session, board.id, no)
    if post is None:
        raise NotFound(f"Post No.{no} does not exist on /{uri}/.", code="post_not_found")
    thread = await session.get(Thread, post.thread_id)
    assert thread is not None
    return _staff_post(post, board.uri, thread.no)


async def posts_by_ids(session: AnySession, post_ids: Sequence[int]) -> dict[int, StaffPost]:
    rows = await repo.staff_posts_by_ids(session, list(post_ids))
    return {post.id: _staff_post(post, uri, thread_no) for post, uri, thread_no in rows}


async def posts_by_ip(session: AnySession, ip: str, *, limit: int = 100) -> list[StaffPost]:
    rows = await repo.staff_posts_by_ip(session, ip, limit=limit)
    return [_staff_post(post, uri, thread_no) for post, uri, thread_no in rows]


async def held_posts(session: AnySession, boards: Sequence[str] | None, *, limit: int = 100) -> list[StaffPost]:
    """Posts awaiting approval on the given boards (None: every board)."""
    board_ids: list[int] | None = None
    if boards is not None:
        board_ids = [b.id for b in await repo.all_boards(session) if b.uri in set(boards)]
    rows = await repo.staff_held_posts(session, board_ids, limit=limit)
    return [_staff_post(post, uri, thread_no) for post, uri, thread_no in rows]


async def is_new_poster(session: AnySession, uri: str, ip: str | None) -> bool:
    """True when this address has no visible post on the board yet."""
    if ip is None:
        return True
    board = await board_or_404(session, uri)
    return not await repo.staff_has_visible_post_by_ip(session, board.id, ip)


def has_link(text: str) -> bool:
    return bool(_LINK.search(text))


# --- thread state -------------------------------------------------------------------------


async def set_thread_flag(
    session: WriteSession, uri: str, thread_no: int, flag: ThreadFlag, value: bool, now: datetime
) -> None:
    board = await board_or_404(session, uri)
    thread = await _thread_or_404(session, board, thread_no)
    setattr(thread, flag, value)
    thread.updated_at = now
    await repo.touch_board(session, board.id, now)
    await session.flush()


async def touch(session: WriteSession, uri: str, thread_no: int, now: datetime) -> None:
    """Mark a thread (and its board) changed, e.g. after its files were changed elsewhere."""
    board = await board_or_404(session, uri)
    thread = await repo.staff_thread_by_no(session, board.id, thread_no)
    if thread is not None:
        thread.updated_at = now
    await repo.touch_board(session, board.id, now)
    await session.flush()


async def thread_flags(session: AnySession, uri: str, thread_no: int) -> dict[str, bool]:
    board = await board_or_404(session, uri)
    thread = await _thread_or_404(session, board, thread_no)
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
    thread = await _thread_or_404(session, source, thread_no, for_update=True)
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
        await _rerender(session, target, moved.no, post)
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
    await _rerender(session, source, thread.no, stub, backlink=False)
    await repo.touch_board(session, source.id, now)
    await repo.touch_board(session, target.id, now)
    return moved.no


# --- posts --------------------------------------------------------------------------------


async def delete_post(session: WriteSession, uri: str, no: int, now: datetime) -> Removed:
    """Delete a post; the whole thread when it is the opening post."""
    board = await board_or_404(session, uri)
    post = await _post_or_404(session, board, no)
    thread = await session.get(Thread, post.thread_id)
    assert thread is not None
    if post.is_op:
        ids = [p.id for p in await repo.staff_posts_of_thread(session, thread.id)]
        await repo.delete_thread(session, thread.id)
        await repo.touch_board(session, board.id, now)
        return Removed(post_ids=ids, threads=[(board.uri, thread.no)], posts=len(ids))
    await repo.delete_posts(session, [post.id])
    await rebuild_thread(session, board, thread.id, now)
    await repo.touch_board(session, board.id, now)
    return Removed(post_ids=[post.id], threads=[], posts=1)


async def delete_by_ip(
    session: WriteSession, ip: str, scope: Scope, uri: str, thread_no: int, now: datetime
) -> Removed:
    """Delete every post from ``ip`` in the thread, on the board, or on the whole site.
    Threads it opened go with their replies; every other thread it replied to gets its
    counters and bump time rebuilt from the replies that remain."""
    board = await board_or_404(session, uri)
    board_id: int | None = None
    thread_id: int | None = None
    if scope in ("board", "thread"):
        board_id = board.id
    if scope == "thread":
        thread_id = (await _thread_or_404(session, board, thread_no)).id
    rows = await repo.staff_posts_by_ip(session, ip, board_id=board_id, thread_id=thread_id)
    removed_ids: list[int] = []
    threads: list[tuple[str, int]] = []
    touched: dict[int, Board] = {}
    opened = {post.thread_id for post, _uri, _no in rows if post.is_op}
    for thread_id_ in opened:
        thread = await session.get(Thread, thread_id_)
        assert thread is not None
        owner = await session.get(Board, thread.board_id)
        assert owner is not None
        removed_ids += [p.id for p in await repo.staff_posts_of_thread(session, thread_id_)]
        threads.append((owner.uri, thread.no))
        touched[owner.id] = owner
        await repo.delete_thread(session, thread_id_)
    replies = [post for post, _uri, _no in rows if post.thread_id not in opened]
    await repo.delete_posts(session, [p.id for p in replies])
    removed_ids += [p.id for p in replies]
    for thread_id_ in {p.thread_id for p in replies}:
        owner = await session.get(Board, next(p.board_id for p in replies if p.thread_id == thread_id_))
        assert owner is not None
        touched[owner.id] = owner
        await rebuild_thread(session, owner, thread_id_, now)
    for owner in touched.values():
        await repo.touch_board(session, owner.id, now)
    return Removed(post_ids=removed_ids, threads=threads, posts=len(removed_ids))


async def edit_post(session: WriteSession, uri: str, no: int, comment: str, now: datetime) -> None:
    board = await board_or_404(session, uri)
    post = await _post_or_404(session, board, no)
    text = _clean(comment)
    if len(text) > board.max_comment_length:
        raise InvalidInput(
            f"The comment is too long: {len(text)} characters, at most {board.max_comment_length} on /{board.uri}/.",
            field="com",
        )
    thread = await session.get(Thread, post.thread_id)
    assert thread is not None
    post.comment = text
    post.edited_at = now
    await repo.staff_delete_quotes_from(session, [post.id])
    await _rerender(session, board, thread.no, post)
    thread.updated_at = now
    await repo.touch_board(session, board.id, now)


async def set_ban_message(session: WriteSession, uri: str, no: int, message: str | None, now: datetime) -> None:
    """Show (or, with None, remove) the public "(USER WAS BANNED FOR THIS POST)" mark."""
    board = await board_or_404(session, uri)
    post = await _post_or_404(session, board, no)
    thread = await session.get(Thread, post.thread_id)
    assert thread is not None
    post.ban_message = message.strip()[:MAX_BAN_MESSAGE] if message and message.strip() else None
    await repo.staff_delete_quotes_from(session, [post.id])
    await _rerender(session, board, thread.no, post)
    thread.updated_at = now
    await repo.touch_board(session, board.id, now)


async def approve_post(session: WriteSession, uri: str, no: int, now: datetime) -> StaffPost:
    """Let a held post appear. An approved thread starts at the top of the board."""
    board = await board_or_404(session, uri)
    post = await _post_or_404(session, board, no)
    if not post.held:
        raise InvalidInput(f"Post No.{no} is not waiting for approval.", code="not_held")
    thread = await session.get(Thread, post.thread_id)
    assert thread is not None
    post.held = False
    if post.is_op:
        thread.held = False
        thread.bumped_at = now
        thread.updated_at = now
        await session.flush()
        await _archive_overflow(session, board, now)
    else:
        await rebuild_thread(session, board, thread.id, now)
    await repo.touch_board(session, board.id, now)
    return _staff_post(post, board.uri, thread.no)


async def rebuild_thread(session: WriteSession, board: Board, thread_id: int, now: datetime) -> None:
    """A thread's reply count and bump time, as its remaining visible replies make them."""
    thread = await session.get(Thread, thread_id)
    if thread is None:
        return
    count, replies = await repo.thread_reply_stats(session, thread.id)
    thread.reply_count = count
    thread.bumped_at = thread.created_at
    for created_at, sage in replies[: board.bump_limit]:
        if not sage:
            thread.bumped_at = max(thread.bumped_at, created_at)
    thread.updated_at = now
    await session.flush()


# --- board settings and retention -----------------------------------------------------------


async def update_board_settings(session: WriteSession, uri: str, values: dict[str, Any], now: datetime) -> None:
    """Change a board's settings; ``values`` holds validated BoardSpec fields (without the
    URI) and the moderation settings."""
    unknown = set(values) - set(SPEC_SETTINGS) - set(MODERATION_SETTINGS)
    if unknown:
        raise InvalidInput(f"Unknown board setting: {', '.join(sorted(unknown))}.")
    board = await board_or_404(session, uri)
    await repo.staff_update_board(session, board.id, {**values, "updated_at": now})


async def purge_post_ips(session: WriteSession, now: datetime, *, days: int | None = None) -> int:
    """Forget posters' addresses older than each board's retention (or ``days`` everywhere)."""
    purged = 0
    for board in await repo.all_boards(session):
        keep = board.ip_retention_days if days is None else days
        purged += await repo.staff_purge_post_ips(session, board.id, now - timedelta(days=max(0, keep)))
    return purged


# --- helpers ------------------------------------------------------------------------------


def ban_mark_html(message: str) -> str:
    return f'<br><br><strong class="ban-message">({html.escape(message)})</strong>'


async def _thread_or_404(session: AnySession, board: Board, no: int, *, for_update: bool = False) -> Thread:
    thread = await repo.staff_thread_by_no(session, board.id, no, for_update=for_update)
    if thread is None:
        raise NotFound(f"Thread No.{no} does not exist on /{board.uri}/.", code="thread_not_found")
    return thread


async def _post_or_404(session: AnySession, board: Board, no: int) -> Post:
    post = await repo.post_by_no(session, board.id, no)
    if post is None:
        raise NotFound(f"Post No.{no} does not exist on /{board.uri}/.", code="post_not_found")
    return post


async def _rerender(session: WriteSession, board: Board, thread_no: int, post: Post, *, backlink: bool = True) -> None:
    """Render the post's stored text again (after an edit or a move), rebuild its quotes
    (unless ``backlink`` is False: the notice a move leaves does not backlink), and keep the
    ban mark."""
    quotes = find_quotes(post.comment, board=board.uri)
    targets = await repo.thread_numbers_of(session, ((q.board, q.post_no) for q in quotes))
    known = await repo.board_uris(session, set(_BOARD_LINK.findall(post.comment)) | {q.board for q in quotes})
    post.comment_html = render_comment(
        post.comment,
        board=board.uri,
        thread_no=thread_no,
        targets={QuoteRef(b, n): t for (b, n), t in targets.items()},
        known_boards=known,
    ) + (ban_mark_html(post.ban_message) if post.ban_message else "")
    await session.flush()
    quoted = [q for q in quotes if (q.board, q.post_no) in targets]
    if quoted and backlink:
        ids = {b.uri: b.id for b in await repo.all_boards(session) if b.uri in {q.board for q in quoted}}
        await repo.add_quotes(session, post.id, ((ids[q.board], q.post_no) for q in quoted))


async def _archive_overflow(session: WriteSession, board: Board, now: datetime) -> None:
    for thread in await repo.threads_past_capacity(session, board.id, board.threads_per_page * board.pages):
        if board.archive_enabled and board.archive_days > 0:
            thread.archived = True
            thread.archived_at = now
            thread.updated_at = now
        else:
            await repo.delete_thread(session, thread.id)
    await session.flush()


def _renumber(text: str, numbers: dict[int, int], old_board: str) -> str:
    """Quotes of moved posts take their new numbers; quotes of posts left on the old board
    become cross-board quotes to it."""

    def swap(match: re.Match[str]) -> str:
        no = int(match.group(1))
        return f">>{numbers[no]}" if no in numbers else f">>>/{old_board}/{no}"

    return _SAME_BOARD_QUOTE.sub(swap, text)


def _clean(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def _staff_post(post: Post, uri: str, thread_no: int) -> StaffPost:
    return StaffPost(
        id=post.id,
        board=uri,
        board_id=post.board_id,
        thread_id=post.thread_id,
        thread_no=thread_no,
        no=post.no,
        is_op=post.is_op,
        held=post.held,
        ip=post.ip,
        created_at=post.created_at,
        ban_message=post.ban_message,
        view=post_view(post, uri, thread_no),
    )


def _settings(board: Board) -> BoardSettings:
    return BoardSettings(
        board=board_view(board),
        rules=board.rules,
        announcement=board.announcement,
        hold_threads=board.hold_threads,
        hold_links_files=board.hold_links_files,
        hold_new_posters=board.hold_new_posters,
        modlog_show_names=board.modlog_show_names,
        ip_retention_days=board.ip_retention_days,
    )
