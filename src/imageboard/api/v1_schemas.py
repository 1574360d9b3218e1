"""The contract of our own API (``/api/v1``): Pydantic models, and their making from the
boards context's read models. OpenAPI is generated from these."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from imageboard.boards import BoardView, CatalogEntry, PostView, ThreadState, ThreadView
from imageboard.media import FileView


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(Model):
    code: str = Field(description="Stable machine-readable code, e.g. `thread_not_found`.", examples=["invalid"])
    message: str = Field(description="What went wrong and what to do about it, for a person.")
    field: str | None = Field(description="The request field at fault, if one is.")


class ErrorResponse(Model):
    """Every 4xx and 5xx answer of this API."""

    error: ErrorDetail


class Board(Model):
    uri: str = Field(examples=["b"])
    title: str
    description: str
    work_safe: bool
    threads_per_page: int
    pages: int
    bump_limit: int = Field(description="Replies after which a thread no longer bumps.")
    image_limit: int = Field(description="Replies with files a thread accepts.")
    max_comment_length: int
    forced_anonymous: bool
    default_name: str
    poster_ids: bool = Field(description="Posts carry a per-thread poster ID.")
    text_only: bool
    require_subject: bool
    require_file: bool = Field(description="A new thread needs a file.")
    country_flags: bool
    archive_enabled: bool
    archive_days: int
    last_post_no: int = Field(description="The newest post number handed out on this board.")
    created_at: datetime
    updated_at: datetime


class File(Model):
    """A file attached to a post. Media follow 4chan's layout: the original at
    ``{media}/{board}/{tim}{ext}``, the thumbnail at ``{media}/{board}/{tim}s.jpg``."""

    tim: int = Field(description="Unique number of the stored file; its name on the media host.")
    filename: str = Field(description="Original name without extension (plain text, not escaped).")
    ext: str = Field(examples=[".jpg"])
    kind: Literal["image", "video", "audio"]
    mime: str
    size: int = Field(description="Bytes.")
    width: int
    height: int
    thumb_width: int
    thumb_height: int
    md5: str = Field(description="Base64 of the MD5 digest (24 characters), as in 4chan's API.")
    sha256: str = Field(description="Hex SHA-256 of the file.")
    spoiler: bool
    duration: float | None = Field(description="Seconds, for video and audio.")
    has_audio: bool | None
    deleted: bool = Field(description="The file was removed; the post stays.")
    url: str | None = Field(description="The original; null once deleted.")
    thumb_url: str | None = Field(description="The thumbnail (spoiler image if spoilered); null once deleted.")


class Backlink(Model):
    board: str
    thread_no: int
    post_no: int


class Post(Model):
    board: str
    thread_no: int
    no: int
    is_op: bool
    created_at: datetime
    edited_at: datetime | None
    name: str
    tripcode: str | None = Field(examples=["!Ep8pui8Vw2"])
    capcode: str | None = Field(examples=["mod"])
    poster_id: str | None = Field(description="Per-thread poster ID on boards that show them.")
    country_code: str | None
    country_name: str | None
    subject: str
    comment: str = Field(description="The raw text as posted.")
    comment_html: str = Field(description="The rendered comment, the same HTML as 4chan's `com`.")
    files: list[File] = Field(description="Every attached file, in order (4chan's API shows only the first).")
    backlinks: list[Backlink] = Field(description="Posts quoting this one.")


class ThreadSummary(Model):
    board: str
    no: int
    subject: str
    created_at: datetime
    bumped_at: datetime
    updated_at: datetime = Field(description="Last change of the thread (post added or removed, state changed).")
    reply_count: int
    file_count: int = Field(
        description="Files on the replies, deleted ones not counted (4chan's `images`: the opening post's file "
        "is not counted). A thread past its board's image limit takes replies without files only."
    )
    sticky: bool
    locked: bool
    cyclic: bool
    archived: bool
    archived_at: datetime | None


class Thread(ThreadSummary):
    unique_posters: int
    posts: list[Post] = Field(description="The opening post first, then every reply in order.")


class ThreadPreview(ThreadSummary):
    op: Post
    last_replies: list[Post]
    omitted_posts: int


class CatalogThread(ThreadSummary):
    op: Post
    excerpt: str = Field(description="The opening post's text, shortened, as plain text.")


class BoardList(Model):
    items: list[Board]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class CatalogPage(Model):
    items: list[CatalogThread]
    next_cursor: str | None


class ThreadPreviewPage(Model):
    items: list[ThreadPreview]
    next_cursor: str | None


class PostPage(Model):
    items: list[Post]
    next_cursor: str | None


class PostCreated(Model):
    board: str
    thread_no: int
    no: int
    url: str = Field(description="The post on the site's HTML pages.")
    api_url: str = Field(description="The thread in this API.")
    password: str | None = Field(
        description="The deletion password that was generated because none was given; null otherwise."
    )


class DeletePost(Model):
    password: str = Field(min_length=1, max_length=128, description="The deletion password given when posting.")
    file_only: bool = False


class PostDeleted(Model):
    board: str
    no: int
    thread_deleted: bool = Field(description="The post opened its thread, so the whole thread is gone.")


# --- from read models ---------------------------------------------------------------------


def board_out(view: BoardView) -> Board:
    return Board(
        uri=view.uri, title=view.title, description=view.description, work_safe=view.work_safe,
        threads_per_page=view.threads_per_page, pages=view.pages, bump_limit=view.bump_limit,
        image_limit=view.image_limit, max_comment_length=view.max_comment_length,
        forced_anonymous=view.forced_anonymous, default_name=view.default_name, poster_ids=view.poster_ids,
        text_only=view.text_only, require_subject=view.require_subject, require_file=view.require_file,
        country_flags=view.country_flags, archive_enabled=view.archive_enabled, archive_days=view.archive_days,
        last_post_no=view.last_post_no, created_at=view.created_at, updated_at=view.updated_at,
    )


def file_out(view: FileView) -> File:
    return File(
        tim=view.tim, filename=view.filename, ext=view.ext, kind=view.kind, mime=view.mime, size=view.size,
        width=view.width, height=view.height, thumb_width=view.thumb_width, thumb_height=view.thumb_height,
        md5=view.md5_base64, sha256=view.sha256, spoiler=view.spoiler, duration=view.duration,
        has_audio=view.has_audio, deleted=view.deleted,
        url=None if view.deleted else view.url, thumb_url=None if view.deleted else view.thumb_url,
    )


def post_out(view: PostView) -> Post:
    return Post(
        board=view.board, thread_no=view.thread_no, no=view.no, is_op=view.is_op, created_at=view.created_at,
        edited_at=view.edited_at, name=view.name, tripcode=view.tripcode, capcode=view.capcode,
        poster_id=view.poster_id, country_code=view.country_code, country_name=view.country_name,
        subject=view.subject, comment=view.comment, comment_html=view.comment_html,
        files=[file_out(f) for f in view.files],
        backlinks=[Backlink(board=b.board, thread_no=b.thread_no, post_no=b.post_no) for b in view.backlinks],
    )


def _summary_fields(state: ThreadState) -> dict[str, object]:
    return {
        "board": state.board, "no": state.no, "subject": state.subject, "created_at": state.created_at,
        "bumped_at": state.bumped_at, "updated_at": state.updated_at, "reply_count": state.reply_count,
        "file_count": state.file_count, "sticky": state.sticky, "locked": state.locked, "cyclic": state.cyclic,
        "archived": state.archived, "archived_at": state.archived_at,
    }


def thread_out(view: ThreadView) -> Thread:
    return Thread.model_validate(
        {
            **_summary_fields(view.state),
            "unique_posters": view.unique_posters,
            "posts": [post_out(p) for p in view.posts],
        }
    )


def preview_out(view: ThreadView) -> ThreadPreview:
    return ThreadPreview.model_validate(
        {
            **_summary_fields(view.state),
            "op": post_out(view.op),
            "last_replies": [post_out(p) for p in view.replies],
            "omitted_posts": view.omitted_posts,
        }
    )


def catalog_out(entry: CatalogEntry) -> CatalogThread:
    return CatalogThread.model_validate(
        {**_summary_fields(entry.state), "op": post_out(entry.op), "excerpt": entry.excerpt}
    )
