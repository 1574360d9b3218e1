"""Tables of the media context: stored blobs (one per distinct content) and the attachments
that put them on posts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from imageboard.core.db import Base
from imageboard.core.types import UTCDateTime

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class MediaBlob(Base):
    """One distinct file content, stored once under ``src/{sha256[:2]}/{sha256}{ext}``."""

    __tablename__ = "media_blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    md5_base64: Mapped[str] = mapped_column(String(24))
    size: Mapped[int] = mapped_column(BigInteger)
    mime: Mapped[str] = mapped_column(String(100))
    ext: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(10))
    width: Mapped[int] = mapped_column(Integer, default=0)
    height: Mapped[int] = mapped_column(Integer, default=0)
    duration: Mapped[float | None] = mapped_column(Float, nullable=True)
    has_audio: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    phash: Mapped[str | None] = mapped_column(String(16), nullable=True)  # dHash, hex (migration 0010)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Attachment(Base):
    """A blob on a post. ``tim`` is the file's public number (4chan's ``tim``); the blob row
    stays while any attachment — even a deleted one — points at it."""

    __tablename__ = "attachments"
    __table_args__ = (
        Index("ix_attachments_post_position", "post_id", "position"),
        Index("ix_attachments_board_blob", "board_id", "blob_sha256"),
        Index("ix_attachments_blob", "blob_sha256", "deleted"),
        Index(
            "ix_attachments_processing",
            "id",
            postgresql_where=text("status = 'processing'"),
            sqlite_where=text("status = 'processing'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    board_id: Mapped[int] = mapped_column(ForeignKey("boards.id", ondelete="CASCADE"))
    board_uri: Mapped[str] = mapped_column(String(32))  # denormalised, for URLs
    position: Mapped[int] = mapped_column(Integer, default=0)
    tim: Mapped[int] = mapped_column(BigInteger, unique=True)
    blob_sha256: Mapped[str] = mapped_column(ForeignKey("media_blobs.sha256"))
    filename: Mapped[str] = mapped_column(String(255), default="")
    spoiler: Mapped[bool] = mapped_column(Boolean, default=False)
    thumb_width: Mapped[int] = mapped_column(Integer, default=0)
    thumb_height: Mapped[int] = mapped_column(Integer, default=0)
    thumb_box: Mapped[int] = mapped_column(Integer, default=0)  # 0: no thumbnail stored
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # ready, processing (a worker still makes its thumbnail and clean copy) or failed.
    status: Mapped[str] = mapped_column(String(10), default="ready", server_default="ready")
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # a worker's lease
    process_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
