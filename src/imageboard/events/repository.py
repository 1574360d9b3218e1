"""Every query of the events context."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Table, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from imageboard.core.db import ReadSession, WriteSession
from imageboard.core.sqlite_direct import direct
from imageboard.events.models import OutboxMessage, ProcessedEvent, Webhook, WebhookDelivery

# --- outbox ------------------------------------------------------------------------------


_OUTBOX = cast(Table, OutboxMessage.__table__)
# Each row's id comes back with its event id: asking the database to return them in the
# order given would make SQLite insert the rows one statement each.
_INSERT_OUTBOX = direct(insert(_OUTBOX).returning(_OUTBOX.c.event_id, _OUTBOX.c.id))


async def add_outbox(session: WriteSession, rows: Sequence[Mapping[str, object]]) -> list[int]:
    """Outbox rows from their column values, in one statement; their ids, in the order of
    ``rows``. A table statement: it runs inside every posting transaction, where the ORM's
    flush of the same rows costs several times as much."""
    if not rows:
        return []
    result = await session.execute(_INSERT_OUTBOX, [dict(row) for row in rows])
    ids = {event_id: int(row_id) for event_id, row_id in result.all()}
    return [ids[str(row["event_id"])] for row in rows]


async def claim_outbox(
    session: WriteSession, *, now: datetime, lease_until: datetime, limit: int
) -> list[OutboxMessage]:
    """Take the lease on up to ``limit`` unpublished rows nobody holds, oldest first.

    On PostgreSQL rows another relay is claiming right now are skipped (``FOR UPDATE SKIP
    LOCKED``); on SQLite the write transaction is the only one (``BEGIN IMMEDIATE``)."""
    query = (
        select(OutboxMessage)
        .where(
            OutboxMessage.published_at.is_(None),
            or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
        )
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list((await session.scalars(query)).all())
    for row in rows:
        row.claimed_until = lease_until
        row.attempts += 1
    await session.flush()
    return rows


async def mark_published(session: WriteSession, ids: Sequence[int], now: datetime) -> None:
    if ids:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.published_at.is_(None))
            .values(published_at=now, claimed_until=None)
        )


async def release_outbox(session: WriteSession, ids: Sequence[int]) -> None:
    """Give up the lease on rows that could not be published, so the next sweep takes them."""
    if ids:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.published_at.is_(None))
            .values(claimed_until=None)
        )


async def purge_published(session: WriteSession, before: datetime) -> int:
    result = await session.execute(delete(OutboxMessage).where(OutboxMessage.published_at < before))
    return int(getattr(result, "rowcount", 0) or 0)


async def outbox_backlog(session: ReadSession | WriteSession) -> int:
    query = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.published_at.is_(None))
    return int(await session.scalar(query) or 0)


async def outbox_rows(session: ReadSession | WriteSession) -> list[OutboxMessage]:
    return list((await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


# --- processed events --------------------------------------------------------------------


async def mark_processed(session: WriteSession, group: str, event_id: str, now: datetime) -> bool:
    """Record that ``group`` handled ``event_id``; False when it already had."""
    values = {"group": group, "event_id": event_id, "processed_at": now}
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(ProcessedEvent).values(**values).on_conflict_do_nothing()
    result = await session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0) == 1


async def was_processed(session: ReadSession | WriteSession, group: str, event_id: str) -> bool:
    return await session.get(ProcessedEvent, (group, event_id)) is not None


async def purge_processed(session: WriteSession, before: datetime) -> int:
    result = await session.execute(delete(ProcessedEvent).where(ProcessedEvent.processed_at < before))
    return int(getattr(result, "rowcount", 0) or 0)


# --- webhooks ----------------------------------------------------------------------------


async def add_webhook(session: WriteSession, webhook: Webhook) -> Webhook:
    session.add(webhook)
    await session.flush()
    return webhook


async def webhook_by_id(session: ReadSession | WriteSession, webhook_id: int) -> Webhook | None:
    return await session.get(Webhook, webhook_id)


async def webhooks_of_board(session: ReadSession | WriteSession, board: str, *, active_only: bool) -> list[Webhook]:
    query = select(Webhook).where(Webhook.board_uri == board).order_by(Webhook.id)
    if active_only:
        query = query.where(Webhook.active.is_(True))
    return list((await session.scalars(query)).all())


async def set_webhook_active(session: WriteSession, webhook_id: int, active: bool) -> None:
    await session.execute(update(Webhook).where(Webhook.id == webhook_id).values(active=active))


async def delete_webhook(session: WriteSession, webhook_id: int) -> None:
    await session.execute(delete(Webhook).where(Webhook.id == webhook_id))


async def was_delivered(session: ReadSession | WriteSession, webhook_id: int, event_id: str) -> bool:
    query = select(WebhookDelivery.id).where(
        WebhookDelivery.webhook_id == webhook_id,
        WebhookDelivery.event_id == event_id,
        WebhookDelivery.delivered.is_(True),
    )
    return (await session.scalar(query.limit(1))) is not None


def add_delivery(session: WriteSession, delivery: WebhookDelivery) -> None:
    session.add(delivery)


async def deliveries_of(session: ReadSession | WriteSession, webhook_id: int, limit: int) -> list[WebhookDelivery]:
    query = (
        select(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


async def purge_deliveries(session: WriteSession, before: datetime) -> int:
    result = await session.execute(delete(WebhookDelivery).where(WebhookDelivery.created_at < before))
    return int(getattr(result, "rowcount", 0) or 0)
