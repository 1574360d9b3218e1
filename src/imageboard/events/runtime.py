"""Composition of the events context for each role, and ``run_role`` for the CLI.

=========  =====================================================================================
role       what runs
=========  =====================================================================================
all        the site app + outbox relay + worker groups + live hub + SSE, one process (memory bus)
web        the site app + outbox relay (publishes what requests record)
worker     the consumer groups (webhooks, and what the contexts register) + relay; health port
realtime   SSE routes + health; the ``live`` group feeds the hub (Redis), or each process
           listens to the bus fan-out when there is no Redis
=========  =====================================================================================

``EventsRuntime`` holds the parts (bus, relay, publisher, hub, worker) and starts and stops
them in order; the site's ``create_app`` builds one for ``web``/``all``, the realtime app
and ``run_worker`` build their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from imageboard.config import Settings, load_settings
from imageboard.core.db import Database
from imageboard.events.bus import BusUnavailable, EventBus, GroupOptions
from imageboard.events.bus_memory import MemoryBus
from imageboard.events.fanout_redis import LIVE_SUBJECTS, LiveHub, MemoryLiveHub, feed_from_fanout, hub_feeder
from imageboard.events.schemas import Event
from imageboard.events.service import EventPublisher, OutboxRelay
from imageboard.events.settings import ROLES, EventSettings, Role
from imageboard.events.worker import Job, Worker, WorkerRegistry

if TYPE_CHECKING:
    from imageboard.events.webhooks import WebhookDispatcher

log = logging.getLogger(__name__)
LIVE_GROUP = "live"
# The contexts' registrars ("module:function", called with the registry and the runtime), run
# by every worker (and by --role all, in the background) before those named in
# IMAGEBOARD_WORKER_TASKS. One line per context; each does nothing when it has nothing to do.
DEFAULT_TASKS: tuple[str, ...] = (
    "imageboard.events.tasks:register",  # webhooks: signed, retried deliveries
    "imageboard.media.tasks:register",  # thumbnails: videos posted as "processing"
    "imageboard.search.tasks:register",  # search: indexing, with IMAGEBOARD_SEARCH_INDEXING=worker
    "imageboard.boards.tasks:register",  # archive: file.processed for threads, archive pruning
    "imageboard.moderation.tasks:register",  # purge-ips: addresses past their retention
    "imageboard.web.tasks:register",  # cache: edge purge, with IMAGEBOARD_EDGE_PURGE=nginx|varnish
)
TaskRegistrar = Callable[[WorkerRegistry, "EventsRuntime"], None]


def make_bus(events: EventSettings, *, client_name: str = "imageboard") -> EventBus:
    if events.event_bus == "nats":
        from imageboard.events.bus_nats import NatsBus

        return NatsBus(
            events.nats_url,
            stream=events.nats_stream,
            prefix=events.nats_subject_prefix,
            max_age=events.nats_max_age_days * 86400,
            client_name=client_name,
        )
    return MemoryBus()


def make_hub(events: EventSettings) -> LiveHub:
    if events.redis_url:
        from imageboard.events.fanout_redis import RedisLiveHub

        return RedisLiveHub(events.redis_url, prefix=events.redis_prefix, recent=events.sse_history)
    return MemoryLiveHub(recent=events.sse_history)


class EventsRuntime:
    def __init__(
        self,
        settings: Settings,
        events: EventSettings | None = None,
        *,
        db: Database | None = None,
        role: Role | None = None,
        bus: EventBus | None = None,
        hub: LiveHub | None = None,
    ) -> None:
        self.settings = settings
        self.events = events or EventSettings()
        self.role: Role = role or self.events.role
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}")
        self.db = db
        self.bus = bus or make_bus(self.events, client_name=f"imageboard-{self.role}")
        self.relay = (
            OutboxRelay(
                db,
                self.bus,
                lease=self.events.outbox_lease,
                sweep_interval=self.events.outbox_sweep_interval,
                retention=timedelta(hours=self.events.outbox_retention_hours),
            )
            if db is not None and self.role != "realtime"
            else None
        )
        self.publisher = EventPublisher(self.relay)
        self.hub = hub or (make_hub(self.events) if self.role in ("all", "realtime") else None)
        self.registry = WorkerRegistry()
        self.worker: Worker | None = None
        self.dispatcher: WebhookDispatcher | None = None
        self._feeder: asyncio.Task[None] | None = None
        self.started = False
        self._registered = False

    @property
    def runs_worker_groups(self) -> bool:
        return self.role in ("all", "worker")

    def group_options(self, **overrides: Any) -> GroupOptions:
        values: dict[str, Any] = {
            "concurrency": self.events.worker_concurrency,
            "ack_wait": self.events.worker_ack_wait,
            "max_deliver": self.events.worker_max_deliver,
        }
        values.update(overrides)
        return GroupOptions(**values)

    def _register_worker_groups(self) -> None:
        for spec in dict.fromkeys([*DEFAULT_TASKS, *self.events.task_specs]):
            module_name, _, function_name = spec.partition(":")
            try:
                registrar: TaskRegistrar = getattr(importlib.import_module(module_name), function_name or "register")
            except (ImportError, AttributeError) as exc:
                raise RuntimeError(f"worker task registrar {spec!r} not found: {exc}") from exc
            registrar(self.registry, self)

    async def _feed_from_fanout(self, hub: LiveHub) -> None:
        while True:
            try:
                subscription = await self.bus.fanout_subscribe(LIVE_SUBJECTS)
            except BusUnavailable:
                await asyncio.sleep(1.0)
                continue
            await feed_from_fanout(hub, subscription)
            return

    async def start(self) -> None:
        await self.bus.start()
        if self.relay is not None:
            await self.relay.start()
        # An application may be started more than once (test clients run its lifespan per
        # client); the handlers are registered the first time only.
        first_start = not self._registered
        self._registered = True
        if self.runs_worker_groups and first_start:
            self._register_worker_groups()
        groups = self.events.group_filter if self.role == "worker" else None
        if self.hub is not None:
            await self.hub.start()
            if (self.events.redis_url or isinstance(self.bus, MemoryBus)) and first_start:
                # One member of the group shows each event; Redis (or this process) fans out.
                self.registry.register(
                    LIVE_GROUP,
                    LIVE_SUBJECTS,
                    _job_handler(hub_feeder(self.hub)),
                    options=GroupOptions(concurrency=1, ack_wait=10.0, max_deliver=3, backoff=(0.2, 1.0), start="new"),
                )
                if groups is not None:
                    groups.add(LIVE_GROUP)
            else:
                self._feeder = asyncio.create_task(self._feed_from_fanout(self.hub), name="live-fanout")
        if self.registry.registrations or self.registry.periodic:
            self.worker = Worker(self.bus, self.registry, db=self.db, publisher=self.publisher, groups=groups)
            await self.worker.start()
        self.started = True

    async def stop(self, *, grace: float | None = None) -> None:
        wait = self.events.shutdown_timeout if grace is None else grace
        if self.worker is not None:
            await self.worker.stop(grace=wait)
        if self._feeder is not None:
            self._feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._feeder
        if self.relay is not None:
            await self.relay.stop(grace=min(wait, 10.0))
        if self.hub is not None:
            await self.hub.close()
        await self.bus.close()
        if self.dispatcher is not None:
            await self.dispatcher.close()
        self.started = False

    def healthy(self) -> bool:
        return self.started and self.bus.connected

    def metrics(self) -> str:
        """Prometheus text format."""
        lines = [f"imageboard_events_bus_connected {int(self.bus.connected)}"]
        if self.relay is not None:
            lines.append(f"imageboard_outbox_published_total {self.relay.stats.published}")
            lines.append(f"imageboard_outbox_publish_failures_total {self.relay.stats.failures}")
        if self.worker is not None:
            for group, stats in sorted(self.worker.stats.items()):
                for name, value in (
                    ("handled", stats.handled),
                    ("skipped", stats.skipped),
                    ("failed", stats.failed),
                    ("running", stats.running),
                ):
                    lines.append(f'imageboard_worker_{name}{{group="{group}"}} {value}')
        return "\n".join(lines) + "\n"


def _job_handler(handler: Callable[[Event], Awaitable[None]]) -> Callable[[Event, Job], Awaitable[None]]:
    async def run(event: Event, _job: Job) -> None:
        await handler(event)

    return run


async def _serve_health(runtime: EventsRuntime, host: str, port: int) -> asyncio.Server:
    """``GET /healthz`` and ``GET /metrics`` for probes and Prometheus; nothing else."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), timeout=5)
            while (await asyncio.wait_for(reader.readline(), timeout=5)) not in (b"\r\n", b"\n", b""):
                pass
            path = request.split(b" ")[1] if request.count(b" ") >= 2 else b"/"
            if path == b"/metrics":
                status, body, kind = "200 OK", runtime.metrics(), "text/plain; version=0.0.4"
            elif path in (b"/healthz", b"/readyz"):
                ok = runtime.healthy()
                status = "200 OK" if ok else "503 Service Unavailable"
                body, kind = ("ok\n" if ok else "down\n"), "text/plain"
            else:
                status, body, kind = "404 Not Found", "not found\n", "text/plain"
            payload = body.encode()
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len(payload)}\r\n"
                f"Connection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
        except (TimeoutError, OSError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(answer, host, port)


async def run_worker(
    settings: Settings, events: EventSettings | None = None, *, stop: asyncio.Event | None = None
) -> None:
    """The worker role until SIGTERM/SIGINT: finish running jobs, take no new ones, exit."""
    events = events or EventSettings()
    db = Database(
        settings.effective_database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
    )
    runtime = EventsRuntime(settings, events, db=db, role="worker")
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    await runtime.start()
    health = None
    if events.worker_health_port:
        health = await _serve_health(runtime, settings.host, events.worker_health_port)
    log.info("worker started on the %s bus: %s", events.event_bus, ", ".join(runtime.registry.registrations))
    try:
        await stop.wait()
    finally:
        log.info("worker stopping: finishing running jobs")
        if health is not None:
            health.close()
        await runtime.stop()
        await db.dispose()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)


def run_role(settings: Settings, role: Role, *, events: EventSettings | None = None) -> None:
    """Run this process as ``role`` (blocking). ``imageboard serve --role`` calls this."""
    import os

    import uvicorn

    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    os.environ["IMAGEBOARD_ROLE"] = role  # uvicorn's worker processes build their settings from the environment
    events = events or EventSettings()
    if role in ("worker", "realtime") and events.event_bus == "memory":
        raise SystemExit(
            f"imageboard: the {role} role takes its events from a broker: set IMAGEBOARD_EVENT_BUS=nats "
            "(and IMAGEBOARD_NATS_URL); the in-process bus only serves --role all"
        )
    if events.event_bus == "memory" and settings.workers > 1:
        log.warning(
            "the in-process event bus does not cross processes: with %d workers, set IMAGEBOARD_EVENT_BUS=nats "
            "for live updates and jobs to reach every process",
            settings.workers,
        )
    from imageboard.observability import configure_logging, prepare_multiprocess_dir

    # Before any server process starts (and before prometheus-client is imported): every
    # process then writes its metric samples there and /metrics reads them all.
    prepare_multiprocess_dir(workers=settings.workers, directory=settings.metrics_dir)
    configure_logging(settings)
    if role == "worker":
        asyncio.run(run_worker(settings, events))
        return
    target = "imageboard.events.routes:realtime_application" if role == "realtime" else "imageboard.asgi:application"
    uvicorn.run(
        target,
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level.lower(),
        log_config=None,  # configure_logging's handler formats uvicorn's records too
        access_log=False,  # the request middleware writes the access log
        proxy_headers=False,
        server_header=False,
        # Live streams never end on their own: give them a moment, then close them.
        timeout_graceful_shutdown=3,
    )


def main(argv: list[str] | None = None) -> None:
    """``python -m imageboard.events.runtime <role>`` (until the CLI has ``serve --role``)."""
    args = sys.argv[1:] if argv is None else argv
    role = args[0] if args else EventSettings().role
    if role not in ROLES:
        raise SystemExit(f"usage: python -m imageboard.events.runtime [{'|'.join(ROLES)}]")
    run_role(load_settings(), role)


if __name__ == "__main__":
    main()
