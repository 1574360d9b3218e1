"""Tables of the events context: the outbox, the consumers' processed-event ledger, and
per-board webhooks with their delivery log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from imageboard.core.db import Base
from imageboard.core.types import UTCDateTime

BigId = BigInteger().with_variant(Integer(), "sqlite")


class OutboxMessage(Base):
    """An event written in the transaction of the change it describes; the relay hands it to
    the bus after the commit and stamps ``published_at``.

    ``claimed_until`` is a lease: the relay that holds it publishes the row; when the lease
    runs out (the process died, the broker was down) any relay may take the row over.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        # The relay's only query: unpublished rows in order. Partial, so it stays tiny.
        Index(
            "ix_outbox_unpublished",
            "id",
            postgresql_where=text("published_at IS NULL"),
            sqlite_where=text("published_at IS NULL"),
        ),
        Index("ix_outbox_published_at", "published_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(26), unique=True)
    subject: Mapped[str] = mapped_column(String(200))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ProcessedEvent(Base):
    """Which consumer group has already handled which event: inserted in the handler's own
    transaction, so a redelivered event finds its row and is skipped."""

    __tablename__ = "processed_events"
    __table_args__ = (Index("ix_processed_events_processed_at", "processed_at"),)

    group: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Webhook(Base):
    """A board's subscription: events of the listed types (all public ones when empty) are
    POSTed to ``url``, signed with ``secret``."""

    __tablename__ = "webhooks"
    __table_args__ = (Index("ix_webhooks_board_active", "board_uri", "active"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    board_uri: Mapped[str] = mapped_column(ForeignKey("boards.uri", ondelete="CASCADE", onupdate="CASCADE"))
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(200))
    events: Mapped[str] = mapped_column(Text, default="")  # space-separated event types
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookDelivery(Base):
    """One attempt to deliver one event to one webhook."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_event", "webhook_id", "event_id"),
        Index("ix_webhook_deliveries_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(26))
    event_type: Mapped[str] = mapped_column(String(40))
    attempt: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    delivered: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
