"""Shared pieces of the staff use cases: the read models they hand out, and helpers."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from imageboard.boards import repository as repo
from imageboard.boards.models import Board, Post, Thread
from imageboard.boards.schemas import BoardSpec, BoardView, PostView
from imageboard.boards.service import board_view, post_view
from imageboard.boards.services.quoting import render_quoting
from imageboard.core.db import ReadSession, WriteSession
from imageboard.core.errors import NotFound

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
    "banners",
    "custom_spoiler",
)
SPEC_SETTINGS = tuple(name for name in BoardSpec.model_fields if name != "uri")
LINK = re.compile(r"(?:https?://|www\.)\S", re.IGNORECASE)


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


def ban_mark_html(message: str) -> str:
    return f'<br><br><strong class="ban-message">({html.escape(message)})</strong>'


async def thread_or_404(session: AnySession, board: Board, no: int, *, for_update: bool = False) -> Thread:
    thread = await repo.staff_thread_by_no(session, board.id, no, for_update=for_update)
    if thread is None:
        raise NotFound(f"Thread No.{no} does not exist on /{board.uri}/.", code="thread_not_found")
    return thread


async def post_or_404(session: AnySession, board: Board, no: int) -> Post:
    post = await repo.post_by_no(session, board.id, no)
    if post is None:
        raise NotFound(f"Post No.{no} does not exist on /{board.uri}/.", code="post_not_found")
    return post


async def rerender(session: WriteSession, board: Board, thread_no: int, post: Post, *, backlink: bool = True) -> None:
    """Render the post's stored text again (after an edit or a move), rebuild its quotes
    (unless ``backlink`` is False: the notice a move leaves does not backlink), and keep the
    ban mark."""
    rendered = await render_quoting(session, post.comment, board=board.uri, thread_no=thread_no)
    post.comment_html = rendered.html + (ban_mark_html(post.ban_message) if post.ban_message else "")
    await session.flush()
    if rendered.quotes and backlink:
        await repo.add_quotes(session, post.id, rendered.quotes)


async def archive_overflow(session: WriteSession, board: Board, now: datetime) -> None:
    for thread in await repo.threads_past_capacity(session, board.id, board.threads_per_page * board.pages):
        if board.archive_enabled and board.archive_days > 0:
            thread.archived = True
            thread.archived_at = now
            thread.updated_at = now
        else:
            await repo.delete_thread(session, thread.id)
    await session.flush()


def clean_text(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def staff_post(post: Post, uri: str, thread_no: int) -> StaffPost:
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


def settings_of(board: Board) -> BoardSettings:
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
