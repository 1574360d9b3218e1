"""The event bus port: one small interface, an in-process and a NATS JetStream adapter.

Two ways to listen:

* ``subscribe(group, handler, subjects=...)`` — work distribution. A *group* is a consumer
  group (a durable consumer on JetStream): every event matching the group's subjects is
  handled by exactly one member of the group at a time, and is redelivered (after a backoff)
  when the handler raises or its process dies, up to ``max_deliver`` times. Different groups
  each get every event. Delivery is at least once: handlers dedupe by ``event.id``.
* ``fanout_subscribe(subjects)`` — live updates. Every subscriber gets every event published
  while it listens; nothing is kept for it when it is away.

Subjects are relative to the bus's prefix and use NATS wildcards: ``post.created.*`` (one
token), ``thread.>`` (the rest). An event's subject is ``<type>.<board>``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

from imageboard.events.schemas import Event

Handler = Callable[[Event], Awaitable[None]]
StartAt = Literal["all", "new"] | int | datetime  # a group's first position: stream sequence or time


class BusUnavailable(RuntimeError):
    """The broker cannot be reached right now; the caller keeps the event and retries."""


class DropEvent(Exception):
    """Raised by a handler for an event it can never handle: no redelivery."""


@dataclass(frozen=True)
class GroupOptions:
    """How a consumer group runs.

    ``concurrency``: handlers running at once in this member; ``ack_wait``: seconds a delivery
    may go without an acknowledgement (or a progress signal) before it is given to another
    member; ``max_deliver``: deliveries before the event is dropped (and logged);
    ``backoff``: seconds before redelivery after the n-th failure (the last value repeats);
    ``start``: where a *new* group starts — every retained event, only new ones, a stream
    sequence number or a time (replay).
    """

    concurrency: int = 4
    ack_wait: float = 30.0
    max_deliver: int = 5
    backoff: Sequence[float] = field(default=(1.0, 5.0, 30.0))
    start: StartAt = "all"

    def retry_delay(self, failures: int) -> float:
        if not self.backoff:
            return 0.0
        base = self.backoff[min(max(failures, 1), len(self.backoff)) - 1]
        return base * random.uniform(0.8, 1.2)  # jitter, so a failing batch does not return as one


@runtime_checkable
class Subscription(Protocol):
    group: str

    async def stop(self, *, grace: float = 30.0) -> None:
        """Stop taking events; wait up to ``grace`` seconds for running handlers to finish."""


@runtime_checkable
class FanoutSubscription(Protocol):
    def __aiter__(self) -> AsyncIterator[Event]: ...

    async def close(self) -> None: ...


class FanoutQueue:
    """What the buses' fan-out subscriptions share: a bounded buffer that drops (and counts)
    the events a stalled listener cannot take rather than stalling the bus, read until the
    subscription ends."""

    def __init__(self, maxsize: int) -> None:
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize=maxsize)
        self.dropped = 0

    def push(self, event: Event) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1

    async def __aiter__(self) -> AsyncIterator[Event]:
        while (event := await self.queue.get()) is not None:
            yield event

    def end(self) -> None:
        """Let the reader finish (an oldest event gives way to the end if the buffer is full)."""
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(None)


@runtime_checkable
class EventBus(Protocol):
    async def start(self) -> None:
        """Connect (or begin trying to). Never fails because the broker is down."""

    async def close(self) -> None: ...

    async def publish(self, event: Event) -> None:
        """Hand the event to the broker; returns once it is stored. Raises ``BusUnavailable``."""

    async def subscribe(
        self,
        group: str,
        handler: Handler,
        *,
        subjects: Sequence[str] = (">",),
        options: GroupOptions | None = None,
    ) -> Subscription: ...

    async def fanout_subscribe(self, subjects: Sequence[str] = (">",)) -> FanoutSubscription: ...

    @property
    def connected(self) -> bool: ...


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` is one token, a final ``>`` is one or more tokens."""
    wanted = pattern.split(".")
    tokens = subject.split(".")
    for index, part in enumerate(wanted):
        if part == ">":
            return index == len(wanted) - 1 and len(tokens) > index
        if index >= len(tokens) or (part != "*" and part != tokens[index]):
            return False
    return len(tokens) == len(wanted)


def matches_any(patterns: Sequence[str], subject: str) -> bool:
    return any(subject_matches(pattern, subject) for pattern in patterns)
