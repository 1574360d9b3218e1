"""The relay stamps what it published right after a commit in batches, not with one write
transaction per commit, without weakening "no lost event for a committed change"."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta

from imageboard.core.db import Database
from imageboard.events import EventPublisher, OutboxRelay
from tests.statements import write_statements

from .conftest import eventually
from .test_outbox import CountingBus, _all_published, post, rows


def outbox_updates(database: Database) -> AbstractContextManager[list[str]]:
    return write_statements(database, lambda s: s.lstrip().upper().startswith("UPDATE OUTBOX"))


async def test_rows_published_after_their_commits_are_stamped_together(database: Database) -> None:
    bus = CountingBus()
    relay = OutboxRelay(database, bus, settle_delay=0.3)
    publisher = EventPublisher(relay)
    events = [post(no) for no in range(1, 21)]
    with outbox_updates(database) as updates:
        for item in events:
            async with database.writer() as session:
                publisher.record(session, item)
        await eventually(lambda: len(bus.handed) == 20, within=3)
        await eventually(lambda: _all_published(database), within=3)
    assert set(bus.handed.values()) == {1}
    assert 1 <= len(updates) <= 3  # one stamp per batch, not one per commit (20)
    await relay.stop()


async def test_drain_stamps_at_once(database: Database) -> None:
    relay = OutboxRelay(database, CountingBus(), settle_delay=60.0)
    publisher = EventPublisher(relay)
    async with database.writer() as session:
        publisher.record(session, post(1))
    await relay.drain()  # does not wait out the minute
    assert [published for _, published in await rows(database)] == [True]
    await relay.stop()


async def test_a_relay_gone_before_stamping_leaves_the_events_to_go_out_again(database: Database) -> None:
    bus = CountingBus()
    gone = OutboxRelay(database, bus, lease=30, settle_delay=3600.0)  # never stamps in this test
    publisher = EventPublisher(gone)
    event_ = post(1)
    async with database.writer() as session:
        publisher.record(session, event_)
    await eventually(lambda: bus.handed[event_.id] == 1, within=2)
    assert [published for _, published in await rows(database)] == [False]
    later = datetime.now(UTC) + timedelta(minutes=5)
    survivor_bus = CountingBus()
    survivor = OutboxRelay(database, survivor_bus, lease=30, clock=lambda: later)
    assert await survivor.sweep() == 1  # at least once: the lease ran out, it goes out again
    assert survivor_bus.handed == {event_.id: 1}
    assert [published for _, published in await rows(database)] == [True]
    await gone.stop()  # its late stamp changes nothing
    assert [published for _, published in await rows(database)] == [True]
