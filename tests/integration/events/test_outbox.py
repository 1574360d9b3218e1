"""Commit, then publish: the outbox on SQLite and PostgreSQL, with real buses."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from imageboard.core.db import Database
from imageboard.events import (
    BusUnavailable,
    Event,
    EventPublisher,
    GroupOptions,
    MemoryBus,
    OutboxRelay,
    PostCreated,
    ThreadUpdated,
)
from imageboard.events import repository as repo

from .conftest import NatsFactory, PrivateNats, eventually


class CountingBus(MemoryBus):
    """The in-process bus, counting what it is handed (duplicates included) and able to
    play dead."""

    def __init__(self, *, delay: float = 0.0) -> None:
        super().__init__()
        self.handed: collections.Counter[str] = collections.Counter()
        self.down = False
        self.delay = delay

    async def publish(self, event: Event) -> None:
        if self.down:
            raise BusUnavailable("broker down (simulated)")
        if self.delay:
            await asyncio.sleep(self.delay)
        self.handed[event.id] += 1
        await super().publish(event)


def post(no: int) -> PostCreated:
    return PostCreated(board="b", thread_no=1, post_no=no, post={"no": no})


async def rows(db: Database) -> list[tuple[str, bool]]:
    async with db.reader() as session:
        return [(row.event_id, row.published_at is not None) for row in await repo.outbox_rows(session)]


async def test_an_event_of_a_rolled_back_transaction_is_never_published(database: Database) -> None:
    bus = CountingBus()
    relay = OutboxRelay(database, bus, sweep_interval=0.05)
    publisher = EventPublisher(relay)
    await relay.start()

    async def failing_post() -> None:
        async with database.writer() as session:

            async def fail() -> None:
                assert len(await repo.outbox_rows(session)) == 1  # written, not committed
                raise RuntimeError("the post failed")

            publisher.record(session, post(1))
            # Fails after the outbox row is written (just before the commit), in the transaction.
            session.before_commit(fail)

    with pytest.raises(RuntimeError, match="the post failed"):
        await failing_post()
    await relay.drain()
    await relay.sweep()
    await asyncio.sleep(0.1)
    await relay.stop()
    assert bus.handed == {}
    assert await rows(database) == []


async def test_a_committed_event_is_published_once_right_after_the_commit(database: Database) -> None:
    bus = CountingBus()
    relay = OutboxRelay(database, bus, sweep_interval=0.05)
    publisher = EventPublisher(relay)
    got: list[Event] = []

    async def handle(event: Event) -> None:
        got.append(event)

    await bus.subscribe("live", handle)
    await relay.start()
    first, second = post(1), ThreadUpdated(board="b", thread_no=1, reply_count=1)
    async with database.writer() as session:
        publisher.record(session, first)
        publisher.record(session, second)
        assert bus.handed == {}  # nothing leaves before the commit
    await eventually(lambda: len(got) == 2, within=2)
    assert [e.id for e in got] == [first.id, second.id]  # in the order recorded
    await eventually(lambda: _all_published(database), within=2)
    await relay.sweep()
    await asyncio.sleep(0.1)
    await relay.stop()
    assert bus.handed == {first.id: 1, second.id: 1}


async def _all_published(db: Database) -> bool:
    found = await rows(db)
    return bool(found) and all(published for _, published in found)


async def test_two_relays_racing_publish_each_event_exactly_once(database: Database) -> None:
    # Two relays on their own engines, as two web processes would be.
    other = Database(database.url, pool_size=5, max_overflow=5)
    bus = CountingBus(delay=0.001)
    publisher = EventPublisher()  # no immediate relay: every row waits for a sweep
    events = [post(no) for no in range(1, 61)]
    for start in range(0, 60, 6):
        async with database.writer() as session:
            for event in events[start : start + 6]:
                publisher.record(session, event)
    relays = [OutboxRelay(database, bus, batch=7), OutboxRelay(other, bus, batch=7)]
    try:
        counts = await asyncio.gather(*(relay.sweep() for relay in relays), *(relay.sweep() for relay in relays))
    finally:
        await other.dispose()
    assert sum(counts) == 60
    assert sorted(bus.handed) == sorted(e.id for e in events)
    assert set(bus.handed.values()) == {1}
    assert all(published for _, published in await rows(database))
    if not database.is_sqlite:
        assert counts[0] > 0 and counts[1] > 0  # SKIP LOCKED let both relays work at once


async def test_a_crashed_relay_leaves_its_rows_to_another_after_the_lease(database: Database) -> None:
    class Dying(CountingBus):
        async def publish(self, event: Event) -> None:
            raise asyncio.CancelledError  # the process went away mid-publication

    later = datetime.now(UTC) + timedelta(minutes=5)
    dying = OutboxRelay(database, Dying(), lease=30)
    publisher = EventPublisher(dying)
    event = post(1)
    async with database.writer() as session:
        publisher.record(session, event)
    await dying.drain()
    survivor_bus = CountingBus()
    survivor = OutboxRelay(database, survivor_bus, lease=30)
    assert await survivor.sweep() == 0  # still leased to the dead relay
    late = OutboxRelay(database, survivor_bus, lease=30, clock=lambda: later)
    assert await late.sweep() == 1  # the lease ran out
    assert survivor_bus.handed == {event.id: 1}


async def test_events_recorded_while_the_bus_is_down_go_out_when_it_is_back(database: Database) -> None:
    bus = CountingBus()
    relay = OutboxRelay(database, bus, sweep_interval=5.0, retry_interval=0.05)
    publisher = EventPublisher(relay)
    await relay.start()
    bus.down = True
    events = [post(1), post(2)]
    for event in events:
        async with database.writer() as session:  # the posts themselves succeed
            publisher.record(session, event)
    await relay.drain()
    await asyncio.sleep(0.2)
    assert bus.handed == {}
    assert [published for _, published in await rows(database)] == [False, False]
    bus.down = False
    await eventually(lambda: len(bus.handed) == 2, within=3)
    await eventually(lambda: _all_published(database), within=3)
    await relay.stop()
    assert set(bus.handed.values()) == {1}


async def test_nats_down_then_back_delivers_the_event_once(
    database: Database, private_nats: PrivateNats, nats_factory: NatsFactory
) -> None:
    """The real broker goes away: posting goes on, the outbox keeps the events, and they
    reach JetStream (and a consumer group) once the server is back."""
    bus = await nats_factory(url=private_nats.url, memory_storage=False)
    relay = OutboxRelay(database, bus, sweep_interval=5.0, retry_interval=0.2)
    publisher = EventPublisher(relay)
    got: list[str] = []

    async def handle(event: Event) -> None:
        got.append(event.id)

    await bus.subscribe("search", handle, options=GroupOptions(ack_wait=5, backoff=(0.1,)))
    await relay.start()
    before = post(1)
    async with database.writer() as session:
        publisher.record(session, before)
    await eventually(lambda: got == [before.id], within=3)

    private_nats.stop()
    await eventually(lambda: not bus.connected, within=5)
    during = [post(2), post(3)]
    for event in during:
        async with database.writer() as session:
            publisher.record(session, event)
    await relay.drain()
    await asyncio.sleep(0.3)
    assert got == [before.id]
    assert sorted(published for _, published in await rows(database)) == [False, False, True]

    private_nats.start()
    await eventually(lambda: len(got) == 3, within=10)
    await eventually(lambda: _all_published(database), within=3)
    await asyncio.sleep(0.3)
    await relay.stop()
    assert sorted(got) == sorted(e.id for e in [before, *during])  # each once


async def test_job_once_runs_the_database_effects_of_an_event_once(database: Database) -> None:
    from imageboard.events import AlreadyProcessed, Job

    event = post(1)
    outcomes: list[str] = []

    async def attempt(job: Job) -> None:
        try:
            async with job.once():
                await asyncio.sleep(0.05)
                outcomes.append("done")
        except AlreadyProcessed:
            outcomes.append("skipped")

    jobs = [Job(event, "thumbnails", database, None) for _ in range(3)]
    await asyncio.gather(*(attempt(job) for job in jobs))
    assert sorted(outcomes) == ["done", "skipped", "skipped"]
    assert await jobs[0].done_before()
    assert not await Job(event, "search", database, None).done_before()  # per group


async def test_published_rows_are_purged_after_the_retention(database: Database) -> None:
    purge_after = timedelta(hours=1)
    bus = CountingBus()
    clock_now: list[datetime] = [datetime.now(UTC)]
    clock: Callable[[], datetime] = lambda: clock_now[0]  # noqa: E731
    relay = OutboxRelay(database, bus, retention=purge_after, clock=clock)
    publisher = EventPublisher(clock=clock)
    async with database.writer() as session:
        publisher.record(session, post(1))
    assert await relay.sweep() == 1
    assert await relay.purge() == 0
    clock_now[0] += purge_after + timedelta(minutes=1)
    assert await relay.purge() == 1
    assert await rows(database) == []
