"""What the boards context takes in (validated commands) and hands out (read models).

Read models are plain slotted dataclasses: a thread page builds hundreds of them per
request, and they carry no behaviour beyond a few derived properties.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from imageboard.media.schemas import FileView

BOARD_URI = re.compile(r"^[a-z0-9]{1,32}$")
# Reserved for site pages that share the URL space with boards.
RESERVED_URIS = frozenset(
    {"all", "sfw", "api", "static", "media", "help", "settings", "dev", "healthz", "readyz", "metrics", "boards"}
)

CatalogSort = Literal["bump", "created", "replies"]


class BoardSpec(BaseModel):
    """A new board, or the whole of a board's editable settings."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    uri: str
    title: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=500)
    work_safe: bool = False
    threads_per_page: int = Field(default=15, ge=1, le=100)
    pages: int = Field(default=10, ge=1, le=100)
    bump_limit: int = Field(default=300, ge=1, le=100_000)
    image_limit: int = Field(default=150, ge=0, le=100_000)
    max_comment_length: int = Field(default=2000, ge=1, le=20_000)
    forced_anonymous: bool = False
    default_name: str = Field(default="Anonymous", min_length=1, max_length=50)
    poster_ids: bool = False
    text_only: bool = False
    require_subject: bool = False
    require_file: bool = True
    country_flags: bool = False
    cyclic_limit: int = Field(default=250, ge=1, le=100_000)
    archive_enabled: bool = True
    archive_days: int = Field(default=7, ge=0, le=3650)

    @field_validator("uri")
    @classmethod
    def _valid_uri(cls, value: str) -> str:
        if not BOARD_URI.fullmatch(value):
            raise ValueError("a board URI is 1 to 32 lowercase letters or digits, like 'b' or 'tech'")
        if value in RESERVED_URIS:
            raise ValueError(f"'{value}' is reserved for a site page; choose another board URI")
        return value


@dataclass(frozen=True, slots=True)
class NewPost:
    """A post as submitted. ``thread_no`` is 0 for a new thread (4chan's ``resto``)."""

    board: str
    thread_no: int
    name: str = ""
    options: str = ""
    subject: str = ""
    comment: str = ""
    password: str = ""
    ip: str | None = None
    has_files: bool = False


@dataclass(frozen=True, slots=True)
class PostCreated:
    board: str
    thread_no: int
    post_no: int
    noko: bool


@dataclass(frozen=True, slots=True)
class BoardView:
    uri: str
    title: str
    description: str
    work_safe: bool
    threads_per_page: int
    pages: int
    bump_limit: int
    image_limit: int
    max_comment_length: int
    forced_anonymous: bool
    default_name: str
    poster_ids: bool
    text_only: bool
    require_subject: bool
    require_file: bool
    country_flags: bool
    cyclic_limit: int
    archive_enabled: bool
    archive_days: int
    last_post_no: int
    created_at: datetime
    updated_at: datetime

    @property
    def capacity(self) -> int:
        return self.threads_per_page * self.pages


@dataclass(frozen=True, slots=True)
class BoardSummary:
    board: BoardView
    posts_last_day: int
    last_post_at: datetime | None


@dataclass(slots=True)
class Backlink:
    board: str
    thread_no: int
    post_no: int


@dataclass(slots=True)
class PostView:
    board: str
    thread_no: int
    no: int
    is_op: bool
    created_at: datetime
    name: str
    tripcode: str | None
    capcode: str | None
    subject: str
    comment: str
    comment_html: str
    poster_id: str | None
    country_code: str | None
    country_name: str | None
    sage: bool
    edited_at: datetime | None
    backlinks: list[Backlink] = field(default_factory=list)
    files: list[FileView] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ThreadState:
    board: str
    no: int
    subject: str
    created_at: datetime
    bumped_at: datetime
    updated_at: datetime
    reply_count: int
    file_count: int
    sticky: bool
    locked: bool
    cyclic: bool
    archived: bool
    archived_at: datetime | None


@dataclass(slots=True)
class ThreadView:
    """A thread with the posts to show: all of them on a thread page, the opening post and
    the last few replies on an index page (the rest counted as omitted)."""

    board: BoardView
    state: ThreadState
    op: PostView
    replies: list[PostView]
    omitted_posts: int = 0
    omitted_files: int = 0
    unique_posters: int = 0

    @property
    def posts(self) -> list[PostView]:
        return [self.op, *self.replies]


@dataclass(frozen=True, slots=True)
class BoardPage:
    board: BoardView
    threads: list[ThreadView]
    page: int
    page_count: int


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    state: ThreadState
    op: PostView
    excerpt: str


@dataclass(frozen=True, slots=True)
class OverboardPage:
    work_safe_only: bool
    threads: list[ThreadView]
    page: int
    has_next: bool
