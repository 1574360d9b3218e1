"""The one-process live hub: each event shown once per channel, within its recent history."""

from __future__ import annotations

from imageboard.events import MemoryLiveHub, PostCreated

THREAD = "thread:b:1"


def post(no: int) -> PostCreated:
    return PostCreated(board="b", thread_no=1, post_no=no, post={"no": no, "com": f"hello {no}"})


async def test_an_event_handled_twice_is_kept_once() -> None:
    hub = MemoryLiveHub(recent=5)
    first, second, third = post(2), post(3), post(4)
    for event in (first, second, first, second, third):
        await hub.publish(event)
    kept = await hub.recent(THREAD, second.id)
    assert kept is not None and [m.id for m in kept] == [third.id]


async def test_a_listener_sees_a_repeated_event_once() -> None:
    hub = MemoryLiveHub(recent=3)
    first, second = post(2), post(3)
    async with hub.listen(THREAD) as listener:
        for event in (first, first, second, first):
            await hub.publish(event)
        seen = [await listener.get(0.1) for _ in range(3)]
    assert [m.id if m else None for m in seen] == [first.id, second.id, None]


async def test_the_history_forgets_what_it_no_longer_holds() -> None:
    hub = MemoryLiveHub(recent=2)
    events = [post(no) for no in (2, 3, 4)]
    for event in events:
        await hub.publish(event)
    assert await hub.recent(THREAD, events[0].id) is None  # pushed out: the client must resync
    kept = await hub.recent(THREAD, events[1].id)
    assert kept is not None and [m.id for m in kept] == [events[2].id]
    await hub.publish(events[1])  # still held: not shown again
    assert [m.id for m in await hub.recent(THREAD, events[1].id) or []] == [events[2].id]
    await hub.publish(events[0])  # forgotten, so it is new again to this channel
    assert [m.id for m in await hub.recent(THREAD, events[2].id) or []] == [events[0].id]
