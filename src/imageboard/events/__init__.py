"""Events: typed domain events, the outbox, the bus (in-process or NATS JetStream), workers,
webhooks and live updates.

Other contexts use only what is exported here. Adapters with heavier dependencies are
imported from their modules where they are composed: ``bus_nats.NatsBus``,
``fanout_redis.RedisLiveHub``, ``webhooks.WebhookDispatcher``, ``sse`` / ``routes`` (HTTP),
``runtime.EventsRuntime`` / ``runtime.run_role``.
"""

from imageboard.events.bus import (
    BusUnavailable,
    DropEvent,
    EventBus,
    FanoutSubscription,
    GroupOptions,
    Handler,
    Subscription,
    subject_matches,
)
from imageboard.events.bus_memory import MemoryBus
from imageboard.events.fanout_redis import LiveHub, LiveMessage, MemoryLiveHub
from imageboard.events.schemas import (
    EVENT_TYPES,
    BanCreated,
    BoardUpdated,
    Event,
    EventType,
    FileDeleted,
    FileFinished,
    FileProcessed,
    PostCreated,
    PostDeleted,
    PostUpdated,
    ReportCreated,
    ThreadArchived,
    ThreadPruned,
    ThreadUpdated,
    UndecodableEvent,
    catalog_channel,
    decode_event,
    new_event_id,
    thread_channel,
)
from imageboard.events.service import EventPublisher, OutboxRelay
from imageboard.events.settings import EventSettings, Role
from imageboard.events.webhooks import WebhookService, WebhookView, verify_signature
from imageboard.events.worker import AlreadyProcessed, Job, Worker, WorkerRegistry

__all__ = [
    "EVENT_TYPES",
    "AlreadyProcessed",
    "BanCreated",
    "BoardUpdated",
    "BusUnavailable",
    "DropEvent",
    "Event",
    "EventBus",
    "EventPublisher",
    "EventSettings",
    "EventType",
    "FanoutSubscription",
    "FileDeleted",
    "FileFinished",
    "FileProcessed",
    "GroupOptions",
    "Handler",
    "Job",
    "LiveHub",
    "LiveMessage",
    "MemoryBus",
    "MemoryLiveHub",
    "OutboxRelay",
    "PostCreated",
    "PostDeleted",
    "PostUpdated",
    "ReportCreated",
    "Role",
    "Subscription",
    "ThreadArchived",
    "ThreadPruned",
    "ThreadUpdated",
    "UndecodableEvent",
    "WebhookService",
    "WebhookView",
    "Worker",
    "WorkerRegistry",
    "catalog_channel",
    "decode_event",
    "new_event_id",
    "subject_matches",
    "thread_channel",
    "verify_signature",
]
