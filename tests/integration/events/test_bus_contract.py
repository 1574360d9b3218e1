"""One suite, every bus adapter: the in-process bus and NATS JetStream (the real server).

"Members" of a group are separate bus connections on NATS (as separate processes would be)
and subscriptions on the one bus in memory.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from imageboard.events import (
    BanCreated,
    DropEvent,
    Event,
    EventBus,
    GroupOptions,
    MemoryBus,
    PostCreated,
    ThreadArchived,
)

from .conftest import NatsFactory, eventually

FAST = GroupOptions(concurrency=2, ack_wait=2.0, max_deliver=3, backoff=(0.05, 0.1))
MakeBus = Callable[[], Awaitable[EventBus]]


@pytest.fixture(params=["memory", "nats"])
async def make_bus(request: pytest.FixtureRequest, nats_factory: NatsFactory) -> AsyncIterator[MakeBus]:
    """Each call is one more "process" on the same event stream."""
    if request.param == "memory":
        bus = MemoryBus()
        await bus.start()

        async def same() -> EventBus:
            return bus

        yield same
        await bus.close()
    else:

        async def connect() -> EventBus:
            return await nats_factory()

        yield connect


def post(no: int, board: str = "b") -> PostCreated:
    return PostCreated(board=board, thread_no=1, post_no=no, post={"no": no, "com": f"post {no}"})


async def test_a_group_receives_what_is_published(make_bus: MakeBus) -> None:
    bus = await make_bus()
    got: list[Event] = []

    async def handle(event: Event) -> None:
        got.append(event)

    sub = await bus.subscribe("indexer", handle, subjects=["post.>"], options=FAST)
    sent = post(1)
    await bus.publish(sent)
    await bus.publish(BanCreated(ban_id=1))  # not on the group's subjects
    await eventually(lambda: len(got) == 1)
    assert got[0] == sent and isinstance(got[0], PostCreated)
    assert got[0].post == {"no": 1, "com": "post 1"}
    await asyncio.sleep(0.2)
    assert len(got) == 1
    await sub.stop()


async def test_members_of_a_group_share_the_work_without_duplicates(make_bus: MakeBus) -> None:
    first, second = await make_bus(), await make_bus()
    handled: dict[str, list[int]] = {"first": [], "second": []}

    def handler(member: str) -> Callable[[Event], Awaitable[None]]:
        async def handle(event: Event) -> None:
            assert isinstance(event, PostCreated)
            await asyncio.sleep(0.01)
            handled[member].append(event.post_no)

        return handle

    options = GroupOptions(concurrency=1, ack_wait=5.0, max_deliver=3, backoff=(0.05,))
    subs = [
        await first.subscribe("thumbnails", handler("first"), subjects=["post.created.*"], options=options),
        await second.subscribe("thumbnails", handler("second"), subjects=["post.created.*"], options=options),
    ]
    for no in range(1, 41):
        await first.publish(post(no))
    await eventually(lambda: len(handled["first"]) + len(handled["second"]) >= 40)
    await asyncio.sleep(0.3)
    everything = handled["first"] + handled["second"]
    assert sorted(everything) == list(range(1, 41))  # each once, none lost
    assert handled["first"] and handled["second"]  # both members worked
    for sub in subs:
        await sub.stop()


async def test_every_group_gets_every_event(make_bus: MakeBus) -> None:
    bus = await make_bus()
    seen: dict[str, list[str]] = collections.defaultdict(list)

    def handler(group: str) -> Callable[[Event], Awaitable[None]]:
        async def handle(event: Event) -> None:
            seen[group].append(event.id)

        return handle

    subs = [await bus.subscribe(g, handler(g), subjects=[">"], options=FAST) for g in ("search", "cache", "webhooks")]
    events = [post(1), ThreadArchived(board="b", thread_no=1), post(2, board="tech")]
    for event in events:
        await bus.publish(event)
    await eventually(lambda: all(len(seen[g]) == 3 for g in ("search", "cache", "webhooks")))
    for group in ("search", "cache", "webhooks"):
        assert sorted(seen[group]) == sorted(e.id for e in events)
    for sub in subs:
        await sub.stop()


async def test_a_failed_handler_gets_the_event_again(make_bus: MakeBus) -> None:
    bus = await make_bus()
    attempts: collections.Counter[str] = collections.Counter()
    done: list[str] = []

    async def flaky(event: Event) -> None:
        attempts[event.id] += 1
        if attempts[event.id] < 2:
            raise RuntimeError("transient failure")
        done.append(event.id)

    sub = await bus.subscribe("search", flaky, subjects=[">"], options=FAST)
    event = post(1)
    await bus.publish(event)
    await eventually(lambda: done == [event.id])
    assert attempts[event.id] == 2
    await sub.stop()


async def test_a_handler_that_always_fails_stops_after_max_deliver(make_bus: MakeBus) -> None:
    bus = await make_bus()
    attempts: collections.Counter[str] = collections.Counter()

    async def broken(event: Event) -> None:
        attempts[event.id] += 1
        raise RuntimeError("permanent failure")

    async def dropping(event: Event) -> None:
        attempts["dropped"] += 1
        raise DropEvent

    subs = [
        await bus.subscribe("broken", broken, subjects=[">"], options=FAST),
        await bus.subscribe("dropping", dropping, subjects=[">"], options=FAST),
    ]
    event = post(1)
    await bus.publish(event)
    await eventually(lambda: attempts[event.id] == 3)
    await asyncio.sleep(0.5)
    assert attempts[event.id] == 3  # FAST.max_deliver
    assert attempts["dropped"] == 1
    for sub in subs:
        await sub.stop()


async def test_a_new_group_replays_from_where_it_is_told(make_bus: MakeBus) -> None:
    bus = await make_bus()
    old = [post(no) for no in (1, 2, 3)]
    for event in old:
        await bus.publish(event)
    got: dict[str, list[str]] = collections.defaultdict(list)

    def handler(group: str) -> Callable[[Event], Awaitable[None]]:
        async def handle(event: Event) -> None:
            got[group].append(event.id)

        return handle

    subs = [
        await bus.subscribe("from-start", handler("from-start"), options=GroupOptions(start="all")),
        await bus.subscribe("from-seq", handler("from-seq"), options=GroupOptions(start=2)),
        await bus.subscribe("only-new", handler("only-new"), options=GroupOptions(start="new")),
    ]
    new = post(4)
    await bus.publish(new)
    await eventually(lambda: len(got["from-start"]) == 4 and len(got["from-seq"]) == 3 and len(got["only-new"]) == 1)
    assert got["from-start"] == [e.id for e in [*old, new]]
    assert got["from-seq"] == [e.id for e in [*old[1:], new]]
    assert got["only-new"] == [new.id]
    for sub in subs:
        await sub.stop()


async def test_an_event_published_twice_is_delivered_once(make_bus: MakeBus) -> None:
    bus = await make_bus()
    got: list[str] = []

    async def handle(event: Event) -> None:
        got.append(event.id)

    sub = await bus.subscribe("search", handle, options=FAST)
    event = post(1)
    await bus.publish(event)
    await bus.publish(event)  # a relay that published, then died before recording it
    await bus.publish(post(2))
    await eventually(lambda: len(got) == 2)
    await asyncio.sleep(0.2)
    assert got.count(event.id) == 1
    await sub.stop()


async def test_fan_out_reaches_every_listener(make_bus: MakeBus) -> None:
    bus, other = await make_bus(), await make_bus()
    listeners = [await bus.fanout_subscribe(["post.>"]), await other.fanout_subscribe(["post.created.b"])]
    received: list[list[str]] = [[], []]

    async def drain(index: int) -> None:
        async for event in listeners[index]:
            received[index].append(event.id)

    tasks = [asyncio.create_task(drain(0)), asyncio.create_task(drain(1))]
    await asyncio.sleep(0.1)
    events = [post(1), post(2, board="tech")]
    for event in events:
        await bus.publish(event)
    await eventually(lambda: len(received[0]) == 2 and len(received[1]) == 1)
    assert received[0] == [e.id for e in events]
    assert received[1] == [events[0].id]
    for listener in listeners:
        await listener.close()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=2)


async def test_stopping_lets_a_running_handler_finish(make_bus: MakeBus) -> None:
    bus = await make_bus()
    finished: list[str] = []
    started = asyncio.Event()

    async def slow(event: Event) -> None:
        started.set()
        await asyncio.sleep(0.5)
        finished.append(event.id)

    sub = await bus.subscribe("archive", slow, options=FAST)
    event = post(1)
    await bus.publish(event)
    await asyncio.wait_for(started.wait(), timeout=5)
    await sub.stop(grace=5)
    assert finished == [event.id]

    # Acknowledged: a new member of the group does not get it again.
    again: list[str] = []

    async def record(event: Event) -> None:
        again.append(event.id)

    sub = await bus.subscribe("archive", record, options=FAST)
    await bus.publish(post(2))
    await eventually(lambda: len(again) == 1)
    await asyncio.sleep(0.2)
    assert event.id not in again
    await sub.stop()
