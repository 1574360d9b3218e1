"""Event handlers and scheduled jobs of the events context: webhook delivery.

``register`` is a worker task registrar (``runtime.DEFAULT_TASKS``): the ``webhooks`` group
hands every public event to its board's webhooks (``webhooks.WebhookDispatcher``: signed,
retried with backoff, logged, not sent twice to a webhook that acknowledged it), and one
worker per period prunes the delivery log.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from imageboard.events.schemas import Event
from imageboard.events.webhooks import WEBHOOK_GROUP, WebhookDispatcher
from imageboard.events.worker import Job, WorkerRegistry

if TYPE_CHECKING:
    from imageboard.events.runtime import EventsRuntime

DELIVERY_LOG_DAYS = 30
PURGE_EVERY = 3600.0


def register(registry: WorkerRegistry, runtime: EventsRuntime) -> None:
    """The ``webhooks`` group and the pruning of the delivery log."""
    if runtime.db is None or WEBHOOK_GROUP in registry.registrations:
        return
    events = runtime.events
    dispatcher = runtime.dispatcher = WebhookDispatcher(
        runtime.db,
        max_attempts=events.webhook_max_attempts,
        base_delay=events.webhook_base_delay,
        timeout=events.webhook_timeout,
        allow_private=events.webhook_allow_private,
    )

    async def deliver(event: Event, _job: Job) -> None:
        await dispatcher(event)

    async def purge() -> int:
        return await dispatcher.purge_log(dispatcher.clock() - timedelta(days=DELIVERY_LOG_DAYS))

    # Retries wait inside the handler (the backoff is per webhook); while it waits the bus
    # is told the job is alive, so only a dead process makes the group redeliver.
    registry.register(WEBHOOK_GROUP, (">",), deliver, options=runtime.group_options(concurrency=8))
    registry.every("webhook-log-purge", PURGE_EVERY, purge, exclusive=True)
