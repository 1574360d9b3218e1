"""The SSE gateway over a real HTTP server, with the in-process hub and the Redis hub."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI

from imageboard.events import LiveHub, MemoryLiveHub, PostCreated, ReportCreated, ThreadArchived
from imageboard.events.fanout_redis import RedisLiveHub
from imageboard.events.sse import SseGateway

from .conftest import REDIS_URL, eventually, serve

MakeHub = Callable[[], Awaitable[LiveHub]]


@pytest.fixture(params=["memory", "redis"])
async def make_hub(request: pytest.FixtureRequest, redis_prefix: str) -> AsyncIterator[MakeHub]:
    """Each call is one more realtime process (Redis), or the same hub (memory)."""
    hubs: list[LiveHub] = []
    shared = MemoryLiveHub()

    async def make() -> LiveHub:
        hub: LiveHub = shared if request.param == "memory" else RedisLiveHub(REDIS_URL, prefix=redis_prefix)
        if hub not in hubs:
            await hub.start()
            hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        await hub.close()


class Stream:
    """Reads SSE frames from a streaming response."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def frame(self, wait: float = 3.0) -> dict[str, str]:
        async def read() -> dict[str, str]:
            fields: dict[str, str] = {}
            async for line in self._lines:
                if not line:
                    if fields:
                        return fields
                    continue
                name, _, value = line.partition(":")
                fields[name or "comment"] = value.removeprefix(" ")
            raise EOFError

        return await asyncio.wait_for(read(), timeout=wait)

    async def event(self, wait: float = 3.0) -> dict[str, str]:
        """The next frame that is an event (skipping heartbeats)."""
        while True:
            found = await self.frame(wait)
            if "event" in found:
                return found


@asynccontextmanager
async def gateway_server(hub: LiveHub, **options: object) -> AsyncIterator[tuple[str, SseGateway]]:
    gateway = SseGateway(hub, **options)  # type: ignore[arg-type]
    app = FastAPI()
    app.include_router(gateway.router())
    async with serve(app) as url:
        yield url, gateway


@asynccontextmanager
async def open_stream(
    client: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None
) -> AsyncIterator[Stream]:
    async with client.stream("GET", url, headers=headers or {}) as response:
        assert response.status_code == 200, response.status_code
        stream = Stream(response)
        assert "retry" in await stream.frame()  # the listener is registered from here on
        yield stream


def post(no: int, thread: int = 1, board: str = "b") -> PostCreated:
    return PostCreated(board=board, thread_no=thread, post_no=no, post={"no": no, "com": f"hello {no}"})


async def test_a_thread_stream_gets_its_threads_events(make_hub: MakeHub) -> None:
    hub = await make_hub()
    async with (
        gateway_server(hub) as (url, _gateway),
        httpx.AsyncClient(timeout=5) as client,
        client.stream("GET", f"{url}/b/thread/1/events") as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"].startswith("no-cache")
        assert response.headers["x-accel-buffering"] == "no"
        stream = Stream(response)
        assert (await stream.frame())["retry"] == "3000"
        await hub.publish(post(2, thread=99))  # another thread
        await hub.publish(ReportCreated(board="b", report_id=1, thread_no=1, post_no=1))  # staff only
        sent = post(2)
        started = time.monotonic()
        await hub.publish(sent)
        frame = await stream.event()
        latency = time.monotonic() - started
        assert frame["id"] == sent.id
        assert frame["event"] == "post.created"
        data = json.loads(frame["data"])
        assert data["post"] == {"no": 2, "com": "hello 2"} and data["thread_no"] == 1
        assert latency < 0.5


async def test_a_catalog_stream_gets_every_thread_of_its_board(make_hub: MakeHub) -> None:
    hub = await make_hub()
    async with (
        gateway_server(hub) as (url, _gateway),
        httpx.AsyncClient(timeout=5) as client,
        open_stream(client, f"{url}/b/catalog/events") as stream,
    ):
        events = [post(5, thread=3), post(1, board="tech"), ThreadArchived(board="b", thread_no=4)]
        for event in events:
            await hub.publish(event)
        assert (await stream.event())["id"] == events[0].id
        assert (await stream.event())["id"] == events[2].id


async def test_last_event_id_resumes_from_the_recent_history(make_hub: MakeHub) -> None:
    writer, reader = await make_hub(), await make_hub()  # with Redis: two processes
    events = [post(no) for no in (2, 3, 4)]
    for event in events:
        await writer.publish(event)
    await writer.publish(events[1])  # handled twice upstream: shown once
    async with gateway_server(reader) as (url, _gateway), httpx.AsyncClient(timeout=5) as client:
        async with open_stream(client, f"{url}/b/thread/1/events", {"Last-Event-ID": events[0].id}) as stream:
            assert (await stream.event())["id"] == events[1].id
            assert (await stream.event())["id"] == events[2].id
            live = post(5)
            await writer.publish(live)
            assert (await stream.event())["id"] == live.id
        # An id the history no longer holds: the client is told to reload.
        async with open_stream(client, f"{url}/b/thread/1/events?last_event_id=01ARZ3NDEKTSV4RRFFQ69G5FAV") as stream:
            assert (await stream.event())["event"] == "resync"


async def test_heartbeats_keep_an_idle_stream_alive(make_hub: MakeHub) -> None:
    hub = await make_hub()
    async with (
        gateway_server(hub, heartbeat=0.2) as (url, _gateway),
        httpx.AsyncClient(timeout=5) as client,
        open_stream(client, f"{url}/b/thread/1/events") as stream,
    ):
        assert await stream.frame(1.0) == {"comment": "ping"}
        assert await stream.frame(1.0) == {"comment": "ping"}


async def test_connections_per_client_are_capped(make_hub: MakeHub) -> None:
    hub = await make_hub()
    async with gateway_server(hub, max_per_client=2) as (url, gateway), httpx.AsyncClient(timeout=5) as client:
        async with open_stream(client, f"{url}/b/thread/1/events"), open_stream(client, f"{url}/b/catalog/events"):
            assert gateway.connections("127.0.0.1") == 2
            refused = await client.get(f"{url}/b/thread/2/events")
            assert refused.status_code == 429
            assert refused.json()["error"]["code"] == "too_many_streams"
            assert refused.headers["retry-after"] == "10"
        await eventually(lambda: gateway.connections() == 0)
        async with open_stream(client, f"{url}/b/thread/2/events"):
            assert gateway.connections("127.0.0.1") == 1


async def test_a_client_that_goes_away_frees_its_slot_and_listener(make_hub: MakeHub) -> None:
    hub = await make_hub()
    async with gateway_server(hub) as (url, gateway):
        for _ in range(3):
            async with httpx.AsyncClient(timeout=5) as client, open_stream(client, f"{url}/b/thread/1/events"):
                assert gateway.connections() == 1
                assert getattr(hub, "listeners", 0) == 1
        await eventually(lambda: gateway.connections() == 0 and getattr(hub, "listeners", 0) == 0, within=3)
        await hub.publish(post(9))  # nobody listening: nothing breaks
        assert gateway.served == 3


async def test_bad_addresses_get_404(make_hub: MakeHub) -> None:
    hub = await make_hub()

    async def thread_exists(board: str, no: int) -> bool:
        return (board, no) == ("b", 1)

    async with (
        gateway_server(hub, thread_exists=thread_exists) as (url, gateway),
        httpx.AsyncClient(timeout=5) as client,
    ):
        assert (await client.get(f"{url}/B%20/thread/1/events")).status_code == 404
        assert (await client.get(f"{url}/b/thread/0/events")).status_code == 404
        missing = await client.get(f"{url}/b/thread/2/events")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "thread_not_found"
        assert (await client.get(f"{url}/b/thread/x/events")).status_code == 422
        assert gateway.connections() == 0
