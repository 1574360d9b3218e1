"""The contexts' worker jobs as the worker role composes them (``DEFAULT_TASKS``): scheduled
jobs one worker runs per period, archive pruning, and webhooks delivered by a worker process's
runtime over NATS with signatures and retries against a real local HTTP receiver."""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import text

from imageboard.boards import BoardSpec, BoardsService, NewPost
from imageboard.config import Settings
from imageboard.core.clock import utcnow
from imageboard.core.db import Database
from imageboard.events import (
    EventPublisher,
    EventSettings,
    MemoryBus,
    OutboxRelay,
    PostCreated,
    ThreadPruned,
    WebhookService,
    Worker,
    WorkerRegistry,
    decode_event,
    verify_signature,
)
from imageboard.events import repository as events_repo
from imageboard.events.runtime import DEFAULT_TASKS, EventsRuntime

from ...conftest import SECRET
from .conftest import NATS_URL, NatsFactory, eventually, serve, unique
from .test_webhooks import Receiver


def settings_for(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, secret_key="test-secret", environment="development", antispam="off")


async def test_an_exclusive_periodic_job_runs_once_per_period_however_many_workers(database: Database) -> None:
    runs: list[int] = []
    workers = []
    for index in range(3):
        registry = WorkerRegistry()

        async def job(index: int = index) -> None:
            runs.append(index)

        registry.every("tidy", 3600.0, job, exclusive=True)
        workers.append(Worker(MemoryBus(), registry, db=database))
    periodic = workers[0].registry.periodic["tidy"]
    for worker in workers:
        for item in worker.registry.periodic.values():
            if await worker._claim_period(item):
                await item.job()
    assert len(runs) == 1
    # The next period is anyone's again; a plain periodic job runs everywhere.
    later = periodic.slot(utcnow() + timedelta(hours=1))
    assert later != periodic.slot(utcnow())
    assert await workers[1]._claim_period(type(periodic)("plain", 1.0, periodic.job))


async def test_the_worker_prunes_archives_past_their_period_once(tmp_path: Path, database: Database) -> None:
    boards = BoardsService(database, secret=SECRET)
    await boards.create_board(
        BoardSpec(uri="b", title="Random", require_file=False, threads_per_page=1, pages=1, archive_days=1)
    )
    first = (await boards.create_post(NewPost(board="b", thread_no=0, comment="soon archived"))).post_no
    await boards.create_post(NewPost(board="b", thread_no=0, comment="pushes it off the board"))
    assert [entry.state.no for entry in (await boards.archive("b"))[1]] == [first]

    # Two workers of one site, two days later.
    runtimes = [
        EventsRuntime(settings_for(tmp_path), EventSettings(), db=database, role="worker", bus=MemoryBus())
        for _ in range(2)
    ]
    for runtime in runtimes:
        runtime._register_worker_groups()
        assert "prune-archives" in runtime.registry.periodic
        assert runtime.registry.periodic["prune-archives"].exclusive
    later = BoardsService(database, secret=SECRET, clock=lambda: utcnow() + timedelta(days=2))
    results = []
    for runtime in runtimes:
        worker = Worker(runtime.bus, runtime.registry, db=database)
        item = runtime.registry.periodic["prune-archives"]
        if await worker._claim_period(item):
            results.append(await later.prune_archives())
    assert results == [1]
    assert (await boards.archive("b"))[1] == []
    async with database.reader() as session:
        pruned = [decode_event(r.payload) for r in await events_repo.outbox_rows(session)]
    assert [(e.thread_no, e.reason) for e in pruned if isinstance(e, ThreadPruned)] == [(first, "archive_expired")]


async def test_a_worker_role_delivers_webhooks_signed_and_retried(
    tmp_path: Path, database: Database, nats_factory: NatsFactory
) -> None:
    """Web side: an event recorded through the outbox onto JetStream. Worker side: the
    runtime the ``worker`` role builds, with the registrars of DEFAULT_TASKS."""
    assert "imageboard.events.tasks:register" in DEFAULT_TASKS
    await BoardsService(database, secret=SECRET).create_board(BoardSpec(uri="b", title="Random", require_file=False))
    endpoint = Receiver(statuses=[500, 502])
    stream = unique("IBTEST")
    events = EventSettings(
        event_bus="nats",
        nats_url=NATS_URL,
        nats_stream=stream,
        nats_subject_prefix=f"ibtest.{stream.lower()}",
        webhook_allow_private=True,
        webhook_base_delay=0.2,
        webhook_max_attempts=4,
    )
    web_bus = await nats_factory(stream, memory_storage=False)
    async with serve(endpoint) as url:
        hook, secret = await WebhookService(database, allow_private=True).create("b", f"{url}/hook")
        worker = EventsRuntime(settings_for(tmp_path), events, db=database, role="worker")
        await worker.start()
        try:
            relay = OutboxRelay(database, web_bus)
            event = PostCreated(board="b", thread_no=1, post_no=1, post={"no": 1})
            async with database.writer() as session:
                EventPublisher(relay).record(session, event)
            await relay.drain()
            await eventually(lambda: len(endpoint.received) == 3, within=15)
        finally:
            await worker.stop(grace=5)
    assert all(json.loads(got.body)["id"] == event.id for got in endpoint.received)
    last = endpoint.received[-1]
    assert verify_signature(
        secret, last.headers["x-imageboard-timestamp"], last.body, last.headers["x-imageboard-signature"]
    )
    deliveries = sorted(await WebhookService(database).deliveries(hook.id), key=lambda d: d.attempt)
    assert [(d.attempt, d.status_code, d.delivered) for d in deliveries] == [
        (1, 500, False),
        (2, 502, False),
        (3, 200, True),
    ]
    gaps = [(b.created_at - a.created_at).total_seconds() for a, b in itertools.pairwise(deliveries)]
    assert all(gap >= 0.09 for gap in gaps), gaps  # backed off (full jitter over 0.2 s, 0.4 s)
    await asyncio.sleep(0)


async def test_the_worker_owns_the_sites_scheduled_jobs_and_purges_old_addresses(
    tmp_path: Path, database: Database
) -> None:
    """Pruning, address retention and media garbage collection are the worker's, one worker
    per period; a web process runs none of them."""
    await BoardsService(database, secret=SECRET).create_board(BoardSpec(uri="b", title="Random", require_file=False))
    long_ago = BoardsService(database, secret=SECRET, clock=lambda: utcnow() - timedelta(days=31))
    await long_ago.create_post(NewPost(board="b", thread_no=0, comment="from an address", ip="203.0.113.9"))
    await BoardsService(database, secret=SECRET).create_post(
        NewPost(board="b", thread_no=0, comment="recent", ip="203.0.113.10")
    )
    worker = EventsRuntime(settings_for(tmp_path), EventSettings(), db=database, role="worker", bus=MemoryBus())
    worker._register_worker_groups()
    scheduled = {"prune-archives", "purge-ips", "media-gc"}
    assert scheduled <= set(worker.registry.periodic)
    assert all(worker.registry.periodic[name].exclusive for name in scheduled)
    web = EventsRuntime(settings_for(tmp_path), EventSettings(), db=database, role="web", bus=MemoryBus())
    assert not web.runs_worker_groups

    assert await worker.registry.periodic["purge-ips"].job() == 1  # the board keeps 30 days
    async with database.reader() as session:
        kept = (await session.execute(text("SELECT ip FROM posts WHERE ip IS NOT NULL"))).scalars().all()
    assert kept == ["203.0.113.10"]
