"""What the boards context takes in (validated commands) and hands out (read models).

Read models are plain slotted dataclasses: a thread page builds hundreds of them per
request, and they carry no behaviour beyond a few derived properties.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator

from imageboard.media.schemas import FileView

if TYPE_CHECKING:
    from imageboard.media import IngestedFile

BOARD_URI = re.compile(r"^[a-z0-9]{1,32}$")
# Reserved for site pages that share the URL space with boards.
RESERVED_URIS = frozenset(
    {"all", "sfw", "api", "static", "media", "help", "settings", "dev", "healthz", "readyz", "metrics", "boards"}
    # Moderation and accounts pages.
    | {"staff", "banned", "login", "logout", "account"}
    # The search page.
    | {"search"}
)

CatalogSort = Literal["bump", "created", "replies"]
MEDIA_KINDS = frozenset({"jpg", "png", "gif", "webp", "avif", "webm", "mp4", "mp3", "ogg"})
DEFAULT_MEDIA = "jpg,png,gif,webp,avif,webm,mp4"


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
    max_files: int = Field(default=4, ge=0, le=16)
    max_file_mb: int = Field(default=8, ge=1, le=1024)
    allowed_media: str = Field(default=DEFAULT_MEDIA, max_length=200)
    unique_files: bool = False
    # Anti-spam overrides; None keeps the site default (IMAGEBOARD_ANTISPAM_*).
    threads_per_window: int | None = Field(default=None, ge=0)
    thread_window: float | None = Field(default=None, gt=0)
    replies_per_window: int | None = Field(default=None, ge=0)
    reply_window: float | None = Field(default=None, gt=0)
    files_per_hour: int | None = Field(default=None, ge=0)
    duplicate_window: float | None = Field(default=None, ge=0)
    max_links: int | None = Field(default=None, ge=-1)
    warmup_seconds: float | None = Field(default=None, ge=0)
    captcha_mode: Literal["off", "threads", "all"] | None = None
    network_list_action: Literal["refuse", "captcha", "hold"] | None = None
    automated_checks: bool | None = None

    @field_validator("allowed_media")
    @classmethod
    def _known_media(cls, value: str) -> str:
        kinds = [k.strip().lower().lstrip(".") for k in value.split(",") if k.strip()]
        unknown = sorted(set(kinds) - MEDIA_KINDS)
        if unknown:
            raise ValueError(f"unknown file kinds {', '.join(unknown)}; choose from {', '.join(sorted(MEDIA_KINDS))}")
        return ",".join(dict.fromkeys(kinds))

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
    capcode: str | None = None  # staff posting "as staff" (moderation.routes.capcode_for decides)
    files: tuple[IngestedFile, ...] = ()  # checked and stored by the media context before posting
    hold_for_review: bool = False  # anti-spam asks staff to approve it first (e.g. a listed network)


@dataclass(frozen=True, slots=True)
class PostCreated:
    board: str
    thread_no: int
    post_no: int
    noko: bool
    held: bool = False  # moderation: waiting for staff approval, not shown yet


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
    max_files: int
    max_file_mb: int
    allowed_media: str
    unique_files: bool
    last_post_no: int
    created_at: datetime
    updated_at: datetime

    threads_per_window: int | None = None
    thread_window: float | None = None
    replies_per_window: int | None = None
    reply_window: float | None = None
    files_per_hour: int | None = None
    duplicate_window: float | None = None
    max_links: int | None = None
    warmup_seconds: float | None = None
    captcha_mode: str | None = None
    network_list_action: str | None = None
    automated_checks: bool | None = None
    # Shown to posters (moderation): the announcement, banner names, the custom spoiler image.
    announcement: str = ""
    banners: tuple[str, ...] = ()
    custom_spoiler: str = ""

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

    @property
    def live_file_count(self) -> int:
        """Its files that were not deleted: what a thread's ``file_count`` counts of a reply."""
        return sum(1 for file in self.files if not file.deleted)


@dataclass(frozen=True, slots=True)
class ThreadState:
    board: str
    no: int
    subject: str
    created_at: datetime
    bumped_at: datetime
    updated_at: datetime
    reply_count: int
    file_count: int  # the live files of its visible replies (4chan's "images"; the OP's not counted)
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


class PostStamp(NamedTuple):
    """Which state of a post a page shows, without its content: ``view_version`` moves on
    every change to what the post shows (the database keeps it). A named tuple: a thread
    page makes hundreds, and a frozen dataclass costs several times more to build."""

    id: int
    no: int
    view_version: int


@dataclass(frozen=True, slots=True)
class OpeningStamp:
    """The opening post of a thread page as a stamp, with the text the page's title is made
    of: its backlinks and files are read only when the post must be rendered."""

    stamp: PostStamp
    subject: str
    comment: str


@dataclass(frozen=True, slots=True)
class ThreadOutline:
    """A thread page with its posts as stamps only: a page that already rendered a post in
    that state uses the HTML it has, and asks ``thread_posts`` for the others."""

    board: BoardView
    state: ThreadState
    op: OpeningStamp
    replies: list[PostStamp]
    unique_posters: int = 0


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
