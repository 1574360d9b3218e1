"""The worker runtime and the composition of roles, in one process."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from imageboard.config import Settings
from imageboard.core.db import Database
from imageboard.events import (
    Event,
    EventSettings,
    GroupOptions,
    Job,
    MemoryBus,
    MemoryLiveHub,
    PostCreated,
    Worker,
    WorkerRegistry,
    thread_channel,
)
from imageboard.events.runtime import EventsRuntime, run_worker

from .conftest import eventually, free_port

FAST = GroupOptions(concurrency=2, ack_wait=2.0, max_deliver=3, backoff=(0.05,))
PROBED: list[str] = []


def register_probe(registry: WorkerRegistry, runtime: EventsRuntime) -> None:
    """A registrar as a context's ``tasks`` module provides (named in IMAGEBOARD_WORKER_TASKS)."""

    async def probe(event: Event, job: Job) -> None:
        async with job.once():
            PROBED.append(event.id)

    registry.register("probe", ["post.created.*"], probe, options=runtime.group_options(backoff=(0.05,)))


def post(no: int = 2) -> PostCreated:
    return PostCreated(board="b", thread_no=1, post_no=no, post={"no": no})


async def test_database_effects_of_a_redelivered_event_happen_once(database: Database) -> None:
    bus = MemoryBus()
    effects: list[str] = []
    calls = 0

    async def handler(event: Event, job: Job) -> None:
        nonlocal calls
        calls += 1
        async with job.once():
            effects.append(event.id)
        if calls == 1:
            raise RuntimeError("crashed after committing, before acknowledging")

    registry = WorkerRegistry()
    registry.register("search", ["post.>"], handler, options=FAST)
    worker = Worker(bus, registry, db=database)
    await worker.start()
    event = post()
    await bus.publish(event)
    await eventually(lambda: calls == 2)
    await worker.stop()
    assert effects == [event.id]
    stats = worker.stats["search"]
    assert (stats.handled, stats.skipped, stats.failed) == (0, 1, 1)


async def test_stop_waits_for_running_jobs_and_takes_no_new_ones(database: Database) -> None:
    bus = MemoryBus()
    done: list[int] = []
    started = asyncio.Event()

    async def slow(event: Event, job: Job) -> None:
        assert isinstance(event, PostCreated)
        started.set()
        await asyncio.sleep(0.3)
        done.append(event.post_no)

    registry = WorkerRegistry()
    registry.register("thumbnails", "post.created.*", slow, options=GroupOptions(concurrency=1))
    with pytest.raises(ValueError, match="already has a handler"):
        registry.register("thumbnails", "post.>", slow)
    worker = Worker(bus, registry, db=database)
    await worker.start()
    await bus.publish(post(1))
    await asyncio.wait_for(started.wait(), timeout=2)
    await bus.publish(post(2))
    await worker.stop(grace=5)
    assert done == [1]
    assert bus.pending("thumbnails") == 1  # left for the next worker


async def test_the_all_role_wires_outbox_bus_worker_and_live_hub(database: Database, tmp_path: Path) -> None:
    PROBED.clear()
    settings = Settings(data_dir=tmp_path, secret_key="x")
    events = EventSettings(worker_tasks=f"{__name__}:register_probe")
    runtime = EventsRuntime(settings, events, db=database, role="all")
    await runtime.start()
    assert isinstance(runtime.bus, MemoryBus) and isinstance(runtime.hub, MemoryLiveHub)
    # The contexts' groups (DEFAULT_TASKS; search indexes inline here), the named one, live.
    assert set(runtime.registry.registrations) == {"webhooks", "thumbnails", "archive", "probe", "live"}
    event = post()
    async with database.writer() as session:
        runtime.publisher.record(session, event)
    await eventually(lambda: [event.id] == PROBED)
    hub = runtime.hub

    async def shown() -> bool:  # the event is in the thread's live history
        return await hub.recent(thread_channel("b", 1), event.id) == []

    await eventually(shown)
    assert "imageboard_worker_handled" in runtime.metrics()
    await runtime.stop(grace=5)


async def test_run_worker_serves_health_and_stops_on_request(database: Database, tmp_path: Path) -> None:
    port = free_port()
    settings = Settings(data_dir=tmp_path, secret_key="x", database_url=database.url)
    events = EventSettings(role="worker", worker_health_port=port, worker_groups="webhooks")
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(settings, events, stop=stop))
    async with httpx.AsyncClient(timeout=2) as client:

        async def healthy() -> bool:
            try:
                return (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200
            except httpx.HTTPError:
                return False

        await eventually(healthy, within=5)
        metrics = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
        assert "imageboard_events_bus_connected 1" in metrics
        assert (await client.get(f"http://127.0.0.1:{port}/other")).status_code == 404
    stop.set()
    await asyncio.wait_for(task, timeout=10)
