"""Tables of the moderation context: reports, bans and appeals, warnings, word filters, file
bans, the mod log and the site-wide settings staff edit in the dashboard.

Addresses are personal data. A ban keeps the range it covers as two fixed-width hex strings
(IPv4 mapped into IPv6), so "is this address banned" is one indexed range comparison that
reads the same on SQLite and PostgreSQL; the retention job removes addresses that are no
longer needed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from imageboard.core.db import Base
from imageboard.core.types import UTCDateTime

BigId = BigInteger().with_variant(Integer(), "sqlite")


class Ban(Base):
    __tablename__ = "bans"
    __table_args__ = (Index("ix_bans_range", "ip_start", "ip_end"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    board_uri: Mapped[str | None] = mapped_column(String(32), nullable=True)  # None: every board
    network: Mapped[str | None] = mapped_column(String(64), nullable=True)  # "203.0.113.0/24"
    ip_start: Mapped[str | None] = mapped_column(String(32), nullable=True)  # 32 hex digits
    ip_end: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    post_board: Mapped[str | None] = mapped_column(String(32), nullable=True)
    post_no: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    public_mark: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # None: permanent
    created_by: Mapped[str] = mapped_column(String(32), default="")
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(32), nullable=True)


class Appeal(Base):
    __tablename__ = "appeals"
    __table_args__ = (Index("ix_appeals_status", "status", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ban_id: Mapped[int] = mapped_column(ForeignKey("bans.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(10), default="open")  # open | accepted | denied
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    response: Mapped[str] = mapped_column(Text, default="")


class PosterWarning(Base):
    """A warning is shown to the poster once, on their next post attempt."""

    __tablename__ = "warnings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ip: Mapped[str | None] = mapped_column(String(45), nullable=True, index=True)
    board_uri: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    post_board: Mapped[str | None] = mapped_column(String(32), nullable=True)
    post_no: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(32), default="")
    seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Report(Base):
    __tablename__ = "reports"
    __table_args__ = (
        UniqueConstraint("post_id", "reporter_ip"),  # one report per post per address
        Index("ix_reports_queue", "status", "board_uri", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    board_uri: Mapped[str] = mapped_column(String(32))
    post_no: Mapped[int] = mapped_column(BigInteger)
    is_global: Mapped[bool] = mapped_column(Boolean, default=False)  # a site rule: the global queue
    reason: Mapped[str] = mapped_column(String(500), default="")
    reporter_ip: Mapped[str | None] = mapped_column(String(45), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(10), default="open")  # open | dismissed | acted
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    handled_by: Mapped[str | None] = mapped_column(String(32), nullable=True)


class ModLogEntry(Base):
    __tablename__ = "mod_log"
    __table_args__ = (Index("ix_mod_log_board_time", "board_uri", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(32), default="")
    board_uri: Mapped[str | None] = mapped_column(String(32), nullable=True)
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(100), default="")
    reason: Mapped[str] = mapped_column(Text, default="")


class WordFilter(Base):
    __tablename__ = "word_filters"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    board_uri: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)  # None: site
    pattern: Mapped[str] = mapped_column(String(500))
    is_regex: Mapped[bool] = mapped_column(Boolean, default=False)
    action: Mapped[str] = mapped_column(String(10))  # replace | refuse | ban
    replacement: Mapped[str] = mapped_column(String(500), default="")
    ban_hours: Mapped[int] = mapped_column(Integer, default=0)  # 0: permanent
    reason: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(32), default="")


class FileBan(Base):
    __tablename__ = "file_bans"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    board_uri: Mapped[str | None] = mapped_column(String(32), nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    phash: Mapped[str | None] = mapped_column(String(16), nullable=True)  # 64-bit dHash, hex
    distance: Mapped[int] = mapped_column(Integer, default=0)  # largest Hamming distance that matches
    reason: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(32), default="")


class SiteSetting(Base):
    __tablename__ = "site_settings"

    key: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")
