"""Read models built from rows and entities: pure functions, no I/O."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import Row

from imageboard.antispam import BOARD_OVERRIDABLE  # carried on BoardView for the antispam context
from imageboard.boards.models import Board, Post
from imageboard.boards.schemas import BoardView, PostView


def board_view(board: Board | Row[Any]) -> BoardView:
    """The read model of a board entity, or of its row (the read paths select columns)."""
    return BoardView(
        uri=board.uri,
        title=board.title,
        description=board.description,
        work_safe=board.work_safe,
        threads_per_page=board.threads_per_page,
        pages=board.pages,
        bump_limit=board.bump_limit,
        image_limit=board.image_limit,
        max_comment_length=board.max_comment_length,
        forced_anonymous=board.forced_anonymous,
        default_name=board.default_name,
        poster_ids=board.poster_ids,
        text_only=board.text_only,
        require_subject=board.require_subject,
        require_file=board.require_file,
        country_flags=board.country_flags,
        cyclic_limit=board.cyclic_limit,
        archive_enabled=board.archive_enabled,
        archive_days=board.archive_days,
        max_files=board.max_files,
        max_file_mb=board.max_file_mb,
        allowed_media=board.allowed_media,
        unique_files=board.unique_files,
        last_post_no=board.last_post_no,
        **{name: getattr(board, name) for name in BOARD_OVERRIDABLE},
        created_at=board.created_at,
        updated_at=board.updated_at,
        announcement=board.announcement,
        banners=tuple(board.banners.split()),
        custom_spoiler=board.custom_spoiler,
    )


def public_post(view: PostView) -> dict[str, Any]:
    """A post as events carry it (``post.created``, ``post.updated``): what the public API
    shows of it, never the poster's address. What ``dataclasses.asdict`` gives, without its
    deep copy of every value (all of them immutable here): every post passes through this."""
    post = {name: getattr(view, name) for name in _POST_SCALARS}
    post["backlinks"] = [_fields_of(backlink) for backlink in view.backlinks]
    post["files"] = [_fields_of(file) for file in view.files]
    return post


_POST_SCALARS = tuple(f.name for f in dataclasses.fields(PostView) if f.name not in ("backlinks", "files"))


def _fields_of(flat: Any) -> dict[str, Any]:
    """A dataclass of plain values as a dict."""
    return {f.name: getattr(flat, f.name) for f in dataclasses.fields(flat)}


def post_view(post: Post, uri: str, thread_no: int) -> PostView:
    return PostView(
        board=uri,
        thread_no=thread_no,
        no=post.no,
        is_op=post.is_op,
        created_at=post.created_at,
        name=post.name,
        tripcode=post.tripcode,
        capcode=post.capcode,
        subject=post.subject,
        comment=post.comment,
        comment_html=post.comment_html,
        poster_id=post.poster_id,
        country_code=post.country_code,
        country_name=post.country_name,
        sage=post.sage,
        edited_at=post.edited_at,
    )
