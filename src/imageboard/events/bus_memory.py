"""The in-process event bus: the embedded default, one process, nothing to run.

It keeps the same promises as the NATS adapter inside one process: a group's queue outlives
its members (like a durable consumer), each event goes to one member of a group, a failing
handler gets the event again after a backoff up to ``max_deliver`` times, a new group can
replay the retained log, and a duplicate event id is published once. Events live in memory
only: the outbox, not the bus, is what survives a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from imageboard.core.clock import utcnow
from imageboard.events.bus import (
    BusUnavailable,
    DropEvent,
    FanoutQueue,
    FanoutSubscription,
    GroupOptions,
    Handler,
    Subscription,
    matches_any,
)
from imageboard.events.schemas import Event

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Job:
    seq: int
    event: Event
    deliveries: int = 0


class _Group:
    def __init__(self, name: str, subjects: Sequence[str], options: GroupOptions) -> None:
        self.name = name
        self.subjects = tuple(subjects)
        self.options = options
        self.queue: asyncio.Queue[_Job] = asyncio.Queue()
        self.pending_retries: set[asyncio.TimerHandle] = set()

    def requeue_later(self, job: _Job, delay: float) -> None:
        loop = asyncio.get_running_loop()

        def put() -> None:
            self.pending_retries.discard(handle)
            self.queue.put_nowait(job)

        handle = loop.call_later(delay, put)
        self.pending_retries.add(handle)


class _Member:
    """One subscriber of a group: ``concurrency`` tasks taking jobs from the group's queue."""

    def __init__(self, group: _Group, handler: Handler) -> None:
        self.group = group
        self.handler = handler
        self._idle: dict[asyncio.Task[None], bool] = {}
        self._stopping = False

    @property
    def name(self) -> str:
        return self.group.name

    def start(self) -> None:
        for _ in range(max(1, self.group.options.concurrency)):
            task = asyncio.create_task(self._run(), name=f"bus-memory-{self.group.name}")
            self._idle[task] = True

    async def _run(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        while not self._stopping:
            job = await self.group.queue.get()  # cancelled here only while idle: nothing lost
            self._idle[task] = False
            try:
                await self._handle(job)
            except asyncio.CancelledError:
                self.group.queue.put_nowait(job)  # shut down mid-job: another member takes it
                raise
            finally:
                self._idle[task] = True

    async def _handle(self, job: _Job) -> None:
        job.deliveries += 1
        options = self.group.options
        try:
            await self.handler(job.event)
        except asyncio.CancelledError:
            raise
        except DropEvent:
            log.warning("group %s dropped event %s (%s)", self.name, job.event.id, job.event.type)
        except Exception:
            if job.deliveries >= options.max_deliver:
                log.exception(
                    "group %s gave up on event %s (%s) after %d deliveries",
                    self.name,
                    job.event.id,
                    job.event.type,
                    job.deliveries,
                )
            else:
                log.warning(
                    "group %s failed on event %s (delivery %d); retrying",
                    self.name,
                    job.event.id,
                    job.deliveries,
                    exc_info=True,
                )
                self.group.requeue_later(job, options.retry_delay(job.deliveries))

    async def stop(self, *, grace: float = 30.0) -> None:
        self._stopping = True
        busy = []
        for task, idle in self._idle.items():
            if idle:
                task.cancel()
            else:
                busy.append(task)
        if busy:
            _done, late = await asyncio.wait(busy, timeout=grace)
            for task in late:
                task.cancel()
        for task in self._idle:
            with contextlib.suppress(asyncio.CancelledError):
                await task


class _MemorySubscription:
    def __init__(self, bus: MemoryBus, member: _Member) -> None:
        self.group = member.name
        self._bus = bus
        self._member = member

    async def stop(self, *, grace: float = 30.0) -> None:
        self._bus.release(self._member)
        await self._member.stop(grace=grace)


class _MemoryFanout(FanoutQueue):
    def __init__(self, bus: MemoryBus, subjects: Sequence[str], maxsize: int) -> None:
        super().__init__(maxsize)
        self._bus = bus
        self.subjects = tuple(subjects)

    async def close(self) -> None:
        self._bus.release(self)
        self.end()


class MemoryBus:
    """In-process bus. ``retention`` events are kept for replay by new groups."""

    def __init__(self, *, retention: int = 10_000, fanout_queue: int = 1_000) -> None:
        self._seq = 0
        self._log: deque[tuple[int, datetime, Event]] = deque(maxlen=retention)
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._dedup = max(retention, 1_000)
        self._groups: dict[str, _Group] = {}
        self._members: set[_Member] = set()
        self._fanouts: set[_MemoryFanout] = set()
        self._fanout_queue = fanout_queue
        self._closed = False
        self.published = 0

    @property
    def connected(self) -> bool:
        return not self._closed

    async def start(self) -> None:
        self._closed = False

    def release(self, subscription: _Member | _MemoryFanout) -> None:
        """A subscription that stopped: ``close`` no longer needs to stop it."""
        if isinstance(subscription, _MemoryFanout):
            self._fanouts.discard(subscription)
        else:
            self._members.discard(subscription)

    async def close(self) -> None:
        self._closed = True
        for member in list(self._members):
            await member.stop(grace=5.0)
        self._members.clear()
        for fanout in list(self._fanouts):
            await fanout.close()
        for group in self._groups.values():
            for handle in group.pending_retries:
                handle.cancel()

    async def publish(self, event: Event) -> None:
        if self._closed:
            raise BusUnavailable("the in-process bus is closed")
        if event.id in self._seen:
            return  # the same event relayed twice: stored once, as JetStream does by Nats-Msg-Id
        self._seen[event.id] = None
        if len(self._seen) > self._dedup:
            self._seen.popitem(last=False)
        self._seq += 1
        self._log.append((self._seq, utcnow(), event))
        self.published += 1
        subject = event.subject
        for group in self._groups.values():
            if matches_any(group.subjects, subject):
                group.queue.put_nowait(_Job(self._seq, event))
        for fanout in list(self._fanouts):
            if matches_any(fanout.subjects, subject):
                fanout.push(event)

    async def subscribe(
        self,
        group: str,
        handler: Handler,
        *,
        subjects: Sequence[str] = (">",),
        options: GroupOptions | None = None,
    ) -> Subscription:
        if self._closed:
            raise BusUnavailable("the in-process bus is closed")
        options = options or GroupOptions()
        existing = self._groups.get(group)
        if existing is None:
            existing = self._groups[group] = _Group(group, subjects, options)
            self._replay(existing, options)
        elif existing.subjects != tuple(subjects):
            raise ValueError(f"group {group!r} already listens to {existing.subjects}, not {tuple(subjects)}")
        member = _Member(existing, handler)
        self._members.add(member)
        member.start()
        return _MemorySubscription(self, member)

    def _replay(self, group: _Group, options: GroupOptions) -> None:
        start = options.start
        if start == "new":
            return
        for seq, stored_at, event in self._log:
            if isinstance(start, int) and not isinstance(start, bool) and seq < start:
                continue
            if isinstance(start, datetime) and stored_at < start:
                continue
            if matches_any(group.subjects, event.subject):
                group.queue.put_nowait(_Job(seq, event))

    async def fanout_subscribe(self, subjects: Sequence[str] = (">",)) -> FanoutSubscription:
        fanout = _MemoryFanout(self, subjects, self._fanout_queue)
        self._fanouts.add(fanout)
        return fanout

    def pending(self, group: str) -> int:
        """Events waiting in a group's queue (tests and metrics)."""
        found = self._groups.get(group)
        return found.queue.qsize() if found else 0
