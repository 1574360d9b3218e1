"""Tables of the boards context: boards, threads, posts and the quotes between posts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from imageboard.core.db import Base
from imageboard.core.types import UTCDateTime

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Board(Base):
    __tablename__ = "boards"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    uri: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(500), default="")
    work_safe: Mapped[bool] = mapped_column(Boolean, default=False)

    threads_per_page: Mapped[int] = mapped_column(Integer, default=15)
    pages: Mapped[int] = mapped_column(Integer, default=10)
    bump_limit: Mapped[int] = mapped_column(Integer, default=300)
    image_limit: Mapped[int] = mapped_column(Integer, default=150)
    max_comment_length: Mapped[int] = mapped_column(Integer, default=2000)
    forced_anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    default_name: Mapped[str] = mapped_column(String(50), default="Anonymous")
    poster_ids: Mapped[bool] = mapped_column(Boolean, default=False)
    text_only: Mapped[bool] = mapped_column(Boolean, default=False)
    require_subject: Mapped[bool] = mapped_column(Boolean, default=False)
    require_file: Mapped[bool] = mapped_column(Boolean, default=True)
    country_flags: Mapped[bool] = mapped_column(Boolean, default=False)
    cyclic_limit: Mapped[int] = mapped_column(Integer, default=250)
    archive_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    archive_days: Mapped[int] = mapped_column(Integer, default=7)

    # Files (migration 0006_board_settings).
    max_files: Mapped[int] = mapped_column(Integer, default=4)
    max_file_mb: Mapped[int] = mapped_column(Integer, default=8)
    allowed_media: Mapped[str] = mapped_column(String(200), default="jpg,png,gif,webp,avif,webm,mp4")
    unique_files: Mapped[bool] = mapped_column(Boolean, default=False)
    # Anti-spam overrides (NULL: the site default).
    threads_per_window: Mapped[int | None] = mapped_column(Integer, nullable=True)
    thread_window: Mapped[float | None] = mapped_column(Float, nullable=True)
    replies_per_window: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reply_window: Mapped[float | None] = mapped_column(Float, nullable=True)
    files_per_hour: Mapped[int | None] = mapped_column(Integer, nullable=True)
    duplicate_window: Mapped[float | None] = mapped_column(Float, nullable=True)
    max_links: Mapped[int | None] = mapped_column(Integer, nullable=True)
    warmup_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    captcha_mode: Mapped[str | None] = mapped_column(String(10), nullable=True)
    network_list_action: Mapped[str | None] = mapped_column(String(10), nullable=True)
    automated_checks: Mapped[bool | None] = mapped_column(Boolean, nullable=True)

    # The last post number handed out; bumped in the posting transaction, never decreased.
    last_post_no: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    # Moderation settings (migration 0005_moderation): rules and announcement as text, the
    # approval queue, the public mod log, and how long posters' IP addresses are kept.
    rules: Mapped[str] = mapped_column(Text, default="")
    announcement: Mapped[str] = mapped_column(Text, default="")
    hold_threads: Mapped[bool] = mapped_column(Boolean, default=False)
    hold_links_files: Mapped[bool] = mapped_column(Boolean, default=False)
    hold_new_posters: Mapped[bool] = mapped_column(Boolean, default=False)
    modlog_show_names: Mapped[bool] = mapped_column(Boolean, default=False)
    ip_retention_days: Mapped[int] = mapped_column(Integer, default=30)
    # Banners (stored names "{sha256}{ext}", one per line) and the custom spoiler image
    # (migration 0010_board_images); the files live in media storage under assets/{uri}/.
    banners: Mapped[str] = mapped_column(Text, default="")
    custom_spoiler: Mapped[str] = mapped_column(String(80), default="")


class Thread(Base):
    __tablename__ = "threads"
    __table_args__ = (
        UniqueConstraint("board_id", "no"),
        # Board index and catalog: live threads in bump order, stickies first.
        Index("ix_threads_board_live_bump", "board_id", "archived", "sticky", "bumped_at"),
        Index("ix_threads_archived_at", "archived", "archived_at"),
        # The overboard: live threads of every board in bump order.
        Index("ix_threads_live_bump", "archived", "bumped_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    board_id: Mapped[int] = mapped_column(ForeignKey("boards.id", ondelete="CASCADE"))
    no: Mapped[int] = mapped_column(BigInteger)
    subject: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    bumped_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reply_count: Mapped[int] = mapped_column(Integer, default=0)
    file_count: Mapped[int] = mapped_column(Integer, default=0)
    sticky: Mapped[bool] = mapped_column(Boolean, default=False)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    cyclic: Mapped[bool] = mapped_column(Boolean, default=False)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Moderation: a new thread held for staff approval is invisible until approved.
    held: Mapped[bool] = mapped_column(Boolean, default=False)


class Post(Base):
    __tablename__ = "posts"
    __table_args__ = (
        UniqueConstraint("board_id", "no"),
        # A thread's posts in order. Held, view version and address too, so that the thread
        # page's stamps (``repository.thread_post_stamps``) read the index alone (migration 0016).
        Index("ix_posts_thread_no", "thread_id", "no", "held", "view_version", "ip"),
        # Opening posts of many threads at once (index pages, catalog, overboard). The
        # predicates are what SQLAlchemy renders for a bare ``Post.is_op`` on each database: a
        # planner uses a partial index only when the query implies its WHERE (migration 0015).
        Index(
            "ix_posts_opening", "thread_id", postgresql_where=text("is_op"), sqlite_where=text("is_op = 1")
        ),
        # By time; board and held too, so that counting a day's posts per board (the home
        # page) reads the index alone (migration 0014).
        Index("ix_posts_created_at", "created_at", "board_id", "held"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    board_id: Mapped[int] = mapped_column(ForeignKey("boards.id", ondelete="CASCADE"))
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"))
    no: Mapped[int] = mapped_column(BigInteger)
    is_op: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    name: Mapped[str] = mapped_column(String(100), default="")
    tripcode: Mapped[str | None] = mapped_column(String(40), nullable=True)
    capcode: Mapped[str | None] = mapped_column(String(20), nullable=True)
    subject: Mapped[str] = mapped_column(String(100), default="")
    comment: Mapped[str] = mapped_column(Text, default="")
    comment_html: Mapped[str] = mapped_column(Text, default="")
    sage: Mapped[bool] = mapped_column(Boolean, default=False)
    poster_id: Mapped[str | None] = mapped_column(String(16), nullable=True)
    country_code: Mapped[str | None] = mapped_column(String(2), nullable=True)
    country_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Personal data: kept only for moderation, removed after the retention period.
    ip: Mapped[str | None] = mapped_column(String(45), nullable=True)
    password_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Moderation: held for staff approval (invisible to the public until approved), and the
    # public "(USER WAS BANNED FOR THIS POST)" mark, appended to comment_html when set.
    held: Mapped[bool] = mapped_column(Boolean, default=False)
    ban_message: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # Counts the changes to what the post shows — its row, its files, the posts quoting it —
    # and is kept by the database's triggers alone (migration 0013): a rendered post is
    # looked up by (id, view_version) without reading its content.
    view_version: Mapped[int] = mapped_column(Integer, server_default="0")


class PostQuote(Base):
    """``>>123`` links, kept so backlinks are one indexed query instead of a parse of every post."""

    __tablename__ = "post_quotes"
    __table_args__ = (Index("ix_post_quotes_target", "target_board_id", "target_no"),)

    source_post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    target_board_id: Mapped[int] = mapped_column(ForeignKey("boards.id", ondelete="CASCADE"), primary_key=True)
    target_no: Mapped[int] = mapped_column(BigInteger, primary_key=True)


# Moderation (migration 0005_moderation): posts by one address, and the retention job's scan
# of posts whose address is still kept.
Index("ix_posts_ip", Post.ip)
Index(
    "ix_posts_ip_kept",
    Post.created_at,
    sqlite_where=Post.ip.is_not(None),
    postgresql_where=Post.ip.is_not(None),
)
# The approval queue: held posts, oldest first. Partial (migration 0011), so the planner never
# takes it for the "held IS false" filter of public pages; the predicate is what a bare
# ``Post.held`` renders on each database.
Index("ix_posts_held", Post.created_at, sqlite_where=text("held = 1"), postgresql_where=text("held"))
