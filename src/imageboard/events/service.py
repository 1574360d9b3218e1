"""Commit, then publish: the transactional outbox and its relay.

A use case calls ``publisher.record(session, event)`` inside its unit of work. The event is
written to the ``outbox`` table in that same transaction, so it exists exactly when the
change it describes does. After the commit the relay publishes it to the bus straight away;
if that fails (broker down, process killed) the row stays unpublished and a later sweep — by
this process or any other — publishes it. Delivery is therefore at least once; consumers
dedupe by ``event.id`` (and JetStream drops a repeated id within its duplicate window).

Rows published right after their commit are stamped ``published_at`` in batches, one write
transaction per ``settle_delay`` instead of one per commit (on SQLite every write transaction
queues behind the single writer). A relay that dies before stamping leaves them leased: they
go out again once the lease runs out, which the dedupe above absorbs.

Concurrency: every row is published by whoever holds its *lease* (``claimed_until``). A row
recorded with an immediate relay is leased to that relay in the recording transaction itself,
so sweeps leave it alone while it is being sent; sweeps lease rows in short transactions
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the single writer on SQLite), publish them with no
transaction open, then stamp ``published_at``. A relay that dies mid-way only lets the lease
run out: another relay takes the rows over.

Order: events of one transaction are published in the order recorded. Events of different
transactions may overtake each other when one of them has to wait for a sweep.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from imageboard.core.clock import utcnow
from imageboard.core.db import Database, WriteSession
from imageboard.events import repository as repo
from imageboard.events.bus import BusUnavailable, EventBus
from imageboard.events.schemas import Event, UndecodableEvent, decode_event

log = logging.getLogger(__name__)


@dataclass
class RelayStats:
    published: int = 0
    failures: int = 0
    sweeps: int = 0
    last_error: str = ""
    last_published_at: datetime | None = None


@dataclass
class _Pending:
    """A transaction's events: written to the outbox together just before its commit."""

    rows: list[dict[str, object]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)


class OutboxRelay:
    """Publishes outbox rows to the bus: right after each commit, and in periodic sweeps."""

    def __init__(
        self,
        db: Database,
        bus: EventBus,
        *,
        lease: float = 30.0,
        batch: int = 200,
        sweep_interval: float = 5.0,
        retry_interval: float = 1.0,
        retention: timedelta = timedelta(days=1),
        purge_interval: float = 600.0,
        settle_delay: float = 1.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.bus = bus
        self.lease = timedelta(seconds=lease)
        self.batch = batch
        self.sweep_interval = sweep_interval
        self.retry_interval = retry_interval
        self.retention = retention
        self.purge_interval = purge_interval
        self.settle_delay = settle_delay
        self.clock = clock
        self.stats = RelayStats()
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._last_purge = 0.0
        self._unstamped: list[int] = []
        self._stamper: asyncio.Task[None] | None = None

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._run(), name="outbox-relay")
            self._wake.set()  # publish what earlier processes left behind

    async def stop(self, *, grace: float = 10.0) -> None:
        await self.drain(grace=grace)
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None

    async def drain(self, *, grace: float = 10.0) -> None:
        """Wait (up to ``grace`` seconds) for the immediate publications in flight, then
        stamp what they published."""
        self._cancel_stamper()
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=grace)
        self._cancel_stamper()
        await self._stamp_now()

    def kick(self) -> None:
        """Ask for a sweep now (rows left by a failed immediate publication)."""
        self._wake.set()

    # --- immediate path ------------------------------------------------------------------

    def lease_until(self) -> datetime:
        return self.clock() + self.lease

    def submit(self, rows: list[tuple[int, Event]]) -> None:
        """Publish rows (by id) this relay leased when they were recorded; called after the commit."""
        task = asyncio.create_task(self._publish_now(rows))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _publish_now(self, rows: list[tuple[int, Event]]) -> None:
        published, unsent = await self._publish(rows)
        if unsent:  # rare: the lease goes back at once, so the next sweep retries them
            await self._settle([], unsent)
            self.kick()
        if published:
            self._unstamped.extend(published)
            if len(self._unstamped) >= self.batch:
                await self._stamp_now()
            elif self._stamper is None:
                self._stamper = asyncio.create_task(self._stamp_later(), name="outbox-stamp")
                self._inflight.add(self._stamper)
                self._stamper.add_done_callback(self._inflight.discard)

    async def _stamp_later(self) -> None:
        await asyncio.sleep(self.settle_delay)  # cancelled here only: whoever cancels stamps
        self._stamper = None
        await self._stamp_now()

    def _cancel_stamper(self) -> None:
        if self._stamper is not None:
            self._stamper.cancel()
            self._stamper = None

    async def _stamp_now(self) -> None:
        ids, self._unstamped = self._unstamped, []
        await self._settle(ids, [])

    # --- sweeping ------------------------------------------------------------------------

    async def sweep(self) -> int:
        """Publish every unpublished row nobody holds. Returns how many were published.
        Raises ``BusUnavailable`` when the broker refused (the rows stay for the next sweep)."""
        total = 0
        self.stats.sweeps += 1
        while True:
            now = self.clock()
            async with self.db.writer() as session:
                claimed = await repo.claim_outbox(session, now=now, lease_until=now + self.lease, limit=self.batch)
                batch = [(row.id, row.event_id, row.payload) for row in claimed]
            if not batch:
                return total
            events: list[tuple[int, Event]] = []
            poisoned: list[int] = []
            for row_id, event_id, payload in batch:
                try:
                    events.append((row_id, decode_event(payload)))
                except UndecodableEvent as exc:
                    log.error("outbox row %s (event %s) cannot be decoded, skipping it: %s", row_id, event_id, exc)
                    poisoned.append(row_id)
            published, unsent = await self._publish(events)
            await self._settle(published + poisoned, unsent)
            total += len(published)
            if unsent:
                raise BusUnavailable(self.stats.last_error or "the bus refused an event")
            if len(batch) < self.batch:
                return total

    async def _publish(self, rows: list[tuple[int, Event]]) -> tuple[list[int], list[int]]:
        """Publish in order; stop at the first failure (the rest would fail the same way)."""
        published: list[int] = []
        for index, (row_id, event) in enumerate(rows):
            try:
                await self.bus.publish(event)
            except Exception as exc:
                self.stats.failures += 1
                self.stats.last_error = str(exc) or type(exc).__name__
                if not isinstance(exc, BusUnavailable):
                    log.exception("publishing event %s failed", event.id)
                return published, [row for row, _ in rows[index:]]
            published.append(row_id)
        if published:
            self.stats.published += len(published)
            self.stats.last_published_at = self.clock()
        return published, []

    async def _settle(self, published: list[int], unsent: list[int]) -> None:
        if not published and not unsent:
            return
        try:
            async with self.db.writer() as session:
                await repo.mark_published(session, published, self.clock())
                await repo.release_outbox(session, unsent)
        except Exception:
            # The database is away: the leases run out and the rows go out again (consumers
            # and the broker drop the duplicates by event id).
            log.exception("could not record the outcome of %d outbox rows", len(published) + len(unsent))

    async def _run(self) -> None:
        delay = self.sweep_interval
        down = False
        loop = asyncio.get_running_loop()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            self._wake.clear()
            try:
                published = await self.sweep()
                if down:
                    log.warning("outbox relay: the bus is back; %d waiting events published", published)
                    down = False
                delay = self.sweep_interval
                if loop.time() - self._last_purge > self.purge_interval:
                    self._last_purge = loop.time()
                    await self.purge()
            except asyncio.CancelledError:
                raise
            except BusUnavailable as exc:
                if not down:  # once per outage, not once per retry
                    log.warning("outbox relay: bus unavailable (%s); retrying every %.1f s", exc, self.retry_interval)
                    down = True
                delay = self.retry_interval
            except Exception:
                log.exception("outbox relay sweep failed")
                delay = self.retry_interval

    async def purge(self) -> int:
        async with self.db.writer() as session:
            return await repo.purge_published(session, self.clock() - self.retention)

    async def backlog(self) -> int:
        async with self.db.reader() as session:
            return await repo.outbox_backlog(session)


class EventPublisher:
    """Records events in the caller's transaction; the relay publishes them after the commit.

    Without a relay, rows are left for whichever relay sweeps next (another process)."""

    def __init__(self, relay: OutboxRelay | None = None, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.relay = relay
        self.clock = clock
        self._key = f"events.outbox.{id(self)}"

    def record(self, session: WriteSession, event: Event) -> None:
        """Record ``event`` in the caller's transaction. The transaction's events are written
        to the outbox together, just before its commit (one statement), so record outside a
        savepoint that may roll back: its events would still be written."""
        row: dict[str, object] = {
            "event_id": event.id,
            "subject": event.subject,
            "payload": event.to_json(),
            "created_at": self.clock(),
            "claimed_until": self.relay.lease_until() if self.relay is not None else None,
            "attempts": 1 if self.relay is not None else 0,
        }
        pending = session.info.get(self._key)
        if pending is None:
            pending = session.info[self._key] = _Pending()

            async def before_commit() -> None:
                pending.ids = await repo.add_outbox(session, pending.rows)

            session.before_commit(before_commit)
            relay = self.relay
            if relay is not None:

                async def after_commit() -> None:
                    relay.submit(list(zip(pending.ids, pending.events, strict=True)))

                session.after_commit(after_commit)
        pending.rows.append(row)
        pending.events.append(event)
