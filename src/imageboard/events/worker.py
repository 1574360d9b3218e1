"""The worker runtime: consumer groups with their handlers, periodic jobs, clean shutdown.

Contexts register what they do with events::

    registry.register("thumbnails", ["post.created.*"], make_thumbnails)

    async def make_thumbnails(event: Event, job: Job) -> None:
        ...                                   # idempotent work (content-addressed files)
        async with job.once() as session:     # AlreadyProcessed if this group did it before
            ...                               # database effects, recorded exactly once
            job.publisher.record(session, FileProcessed(...))

A group is one consumer group on the bus: however many worker processes run, each event is
handled by one of them; a handler that raises (or whose process dies) sees the event again
later. ``job.once()`` inserts ``(group, event id)`` into ``processed_events`` in the
handler's own transaction, so the database effects of a redelivered event happen once.
Handlers whose effects are outside the database make them idempotent themselves (and say so).

Periodic jobs run in every worker process, unless registered ``exclusive``: then each
period's run is claimed in ``processed_events`` (group ``periodic:<name>``, the period's
number as the id), so however many workers run, one of them runs it per period.

``Worker.stop()`` (SIGTERM) stops taking events, lets running handlers finish, and leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from imageboard.core.clock import utcnow
from imageboard.core.db import Database, WriteSession
from imageboard.events import repository as repo
from imageboard.events.bus import EventBus, GroupOptions, Subscription
from imageboard.events.schemas import Event
from imageboard.events.service import EventPublisher

log = logging.getLogger(__name__)

# The groups the site's contexts use (others may be added).
GROUPS = ("thumbnails", "search", "cache", "archive", "webhooks", "live")


class AlreadyProcessed(Exception):
    """Raised by ``Job.once()`` when this group has handled the event before."""


@dataclass
class Job:
    """What a handler gets besides the event."""

    event: Event
    group: str
    db: Database | None
    publisher: EventPublisher | None
    clock: Callable[[], datetime] = utcnow

    @asynccontextmanager
    async def once(self) -> AsyncIterator[WriteSession]:
        """A write transaction that runs only the first time this group handles the event."""
        if self.db is None:
            raise RuntimeError("this worker has no database")
        async with self.db.writer() as session:
            if not await repo.mark_processed(session, self.group, self.event.id, self.clock()):
                raise AlreadyProcessed(f"{self.group} already handled {self.event.id}")
            yield session

    async def done_before(self) -> bool:
        """Whether this group has handled the event (to skip expensive work early)."""
        if self.db is None:
            return False
        async with self.db.reader() as session:
            return await repo.was_processed(session, self.group, self.event.id)


JobHandler = Callable[[Event, Job], Awaitable[None]]
PeriodicJob = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class Registration:
    group: str
    subjects: tuple[str, ...]
    handler: JobHandler
    options: GroupOptions


@dataclass(frozen=True)
class Periodic:
    name: str
    every: float
    job: PeriodicJob
    exclusive: bool = False

    def slot(self, now: datetime) -> str:
        """This period's id (26 characters, like an event id)."""
        return f"{int(now.timestamp() // self.every):026d}"


@dataclass
class WorkerRegistry:
    registrations: dict[str, Registration] = field(default_factory=dict)
    periodic: dict[str, Periodic] = field(default_factory=dict)

    def register(
        self,
        group: str,
        subjects: Sequence[str],
        handler: JobHandler,
        *,
        options: GroupOptions | None = None,
    ) -> None:
        """One handler per group; subjects relative to the bus prefix (``post.created.*``)."""
        if group in self.registrations:
            raise ValueError(f"group {group!r} already has a handler")
        if isinstance(subjects, str):
            subjects = (subjects,)
        self.registrations[group] = Registration(group, tuple(subjects), handler, options or GroupOptions())

    def every(self, name: str, seconds: float, job: PeriodicJob, *, exclusive: bool = False) -> None:
        """A periodic job, run by every worker process (so it must be idempotent), or with
        ``exclusive`` by one of them per period (which needs the worker's database)."""
        if seconds <= 0:
            raise ValueError("a periodic job needs a positive period")
        self.periodic[name] = Periodic(name, seconds, job, exclusive)


@dataclass
class GroupStats:
    handled: int = 0
    skipped: int = 0
    failed: int = 0
    running: int = 0


class Worker:
    def __init__(
        self,
        bus: EventBus,
        registry: WorkerRegistry,
        *,
        db: Database | None = None,
        publisher: EventPublisher | None = None,
        groups: Collection[str] | None = None,
        clock: Callable[[], datetime] = utcnow,
        processed_retention: timedelta = timedelta(days=8),
    ) -> None:
        self.bus = bus
        self.registry = registry
        self.db = db
        self.publisher = publisher
        self.groups = set(groups) if groups is not None else None
        self.clock = clock
        self.processed_retention = processed_retention
        self.stats: dict[str, GroupStats] = {}
        self._subscriptions: list[Subscription] = []
        self._periodic: list[asyncio.Task[None]] = []
        self.running = False

    def _wrap(self, registration: Registration) -> Callable[[Event], Awaitable[None]]:
        stats = self.stats.setdefault(registration.group, GroupStats())

        async def run(event: Event) -> None:
            job = Job(event, registration.group, self.db, self.publisher, self.clock)
            stats.running += 1
            try:
                await registration.handler(event, job)
                stats.handled += 1
            except AlreadyProcessed:
                stats.skipped += 1
            except Exception:
                stats.failed += 1
                raise
            finally:
                stats.running -= 1

        return run

    async def start(self) -> None:
        for registration in self.registry.registrations.values():
            if self.groups is not None and registration.group not in self.groups:
                continue
            subscription = await self.bus.subscribe(
                registration.group,
                self._wrap(registration),
                subjects=registration.subjects,
                options=registration.options,
            )
            self._subscriptions.append(subscription)
        periodic = list(self.registry.periodic.values())
        if self.db is not None:
            periodic.append(Periodic("purge-processed-events", 3600.0, self._purge_processed))
        for item in periodic:
            self._periodic.append(asyncio.create_task(self._every(item), name=f"periodic-{item.name}"))
        self.running = True
        log.info("worker running groups: %s", ", ".join(s.group for s in self._subscriptions) or "none")

    async def _every(self, item: Periodic) -> None:
        await asyncio.sleep(random.uniform(0, min(item.every, 30.0)))  # processes do not run in step
        while True:
            try:
                if await self._claim_period(item):
                    await item.job()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("periodic job %s failed", item.name)
            await asyncio.sleep(item.every * random.uniform(0.9, 1.1))

    async def _claim_period(self, item: Periodic) -> bool:
        """True when this process is to run the job now. A claimed period whose run then
        fails is not retried: the next period is."""
        if not item.exclusive or self.db is None:
            return True
        now = self.clock()
        async with self.db.writer() as session:
            return await repo.mark_processed(session, f"periodic:{item.name}"[:64], item.slot(now), now)

    async def _purge_processed(self) -> None:
        assert self.db is not None
        async with self.db.writer() as session:
            await repo.purge_processed(session, self.clock() - self.processed_retention)

    async def stop(self, *, grace: float = 30.0) -> None:
        """Stop taking events; wait up to ``grace`` seconds for running handlers."""
        self.running = False
        for task in self._periodic:
            task.cancel()
        for task in self._periodic:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._periodic.clear()
        await asyncio.gather(*(sub.stop(grace=grace) for sub in self._subscriptions), return_exceptions=True)
        self._subscriptions.clear()
