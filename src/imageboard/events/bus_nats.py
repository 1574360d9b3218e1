"""The NATS JetStream event bus: the production adapter.

* One durable stream (``IMAGEBOARD`` by default) holds every subject under the prefix
  (``imageboard.events.>``) for ``max_age`` seconds, on disk.
* Each consumer group is a durable pull consumer with explicit acks: members of the group
  (threads in one process, or many processes) fetch from it, so each event goes to one of
  them. A delivery not acknowledged within ``ack_wait`` (the member died, hung, or was
  killed) goes to another member; a handler that raises gets the event back after a backoff
  (``nak`` with a delay), up to ``max_deliver`` deliveries. While a handler runs, the member
  tells the server it is still working (``+WPI``), so long jobs are not redelivered.
* Every message carries ``Nats-Msg-Id`` = the event id: the stream stores an event relayed
  twice within ``duplicate_window`` once.
* A new group starts where ``GroupOptions.start`` says (everything retained, new events only,
  a stream sequence or a time): replay.
* Live updates (``fanout_subscribe``) are plain NATS subscriptions on the same subjects.
* The connection reconnects forever; while the server is away ``publish`` raises
  ``BusUnavailable`` (the outbox keeps the event) and the group loops wait and carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig

from imageboard.events.bus import (
    BusUnavailable,
    DropEvent,
    FanoutSubscription,
    GroupOptions,
    Handler,
    Subscription,
    matches_any,
)
from imageboard.events.schemas import Event, UndecodableEvent, decode_event

log = logging.getLogger(__name__)
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_BROKER_ERRORS: tuple[type[BaseException], ...] = (nats.errors.Error, asyncio.TimeoutError, OSError)
_CONNECT_ERRORS: tuple[type[BaseException], ...] = (*_BROKER_ERRORS, nats.errors.NoServersError)
_LOOP_ERRORS: tuple[type[BaseException], ...] = (*_BROKER_ERRORS, BusUnavailable)


class NatsBus:
    def __init__(
        self,
        url: str = "nats://127.0.0.1:4222",
        *,
        stream: str = "IMAGEBOARD",
        prefix: str = "imageboard.events",
        max_age: float = 7 * 24 * 3600.0,
        duplicate_window: float = 120.0,
        publish_timeout: float = 2.0,
        connect_timeout: float = 2.0,
        fetch_timeout: float = 5.0,
        client_name: str = "imageboard",
        memory_storage: bool = False,
    ) -> None:
        if not _NAME.fullmatch(stream):
            raise ValueError(f"invalid stream name {stream!r}")
        self.url = url
        self.stream = stream
        self.prefix = prefix
        self.max_age = max_age
        self.duplicate_window = duplicate_window
        self.publish_timeout = publish_timeout
        self.connect_timeout = connect_timeout
        self.fetch_timeout = fetch_timeout
        self.client_name = client_name
        self.memory_storage = memory_storage
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._lock = asyncio.Lock()
        self._connector: asyncio.Task[None] | None = None
        self._members: set[_NatsMember] = set()
        self._fanouts: set[_NatsFanout] = set()
        self._closed = False

    # --- connection ----------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected and self._js is not None

    async def start(self) -> None:
        self._closed = False
        try:
            await self._connect()
        except BusUnavailable as exc:
            log.warning("NATS at %s unreachable (%s); retrying in the background", self.url, exc)
            self._connector = asyncio.create_task(self._keep_connecting(), name="nats-connector")

    async def _keep_connecting(self) -> None:
        delay = 0.5
        while not self._closed and not self.connected:
            await asyncio.sleep(delay)
            try:
                await self._connect()
            except BusUnavailable:
                delay = min(delay * 2, 5.0)

    async def _connect(self) -> JetStreamContext:
        async with self._lock:
            if self._js is not None and self._nc is not None and not self._nc.is_closed:
                return self._js
            if self._closed:
                raise BusUnavailable("the NATS bus is closed")
            try:
                nc = await nats.connect(
                    servers=[self.url],
                    name=self.client_name,
                    connect_timeout=self.connect_timeout,
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                )
            except _CONNECT_ERRORS as exc:
                raise BusUnavailable(f"cannot connect to NATS at {self.url}: {exc or type(exc).__name__}") from exc
            js = nc.jetstream(timeout=self.publish_timeout)
            try:
                await self._ensure_stream(js)
            except _BROKER_ERRORS as exc:
                await nc.close()
                raise BusUnavailable(f"cannot set up the JetStream stream: {exc}") from exc
            self._nc, self._js = nc, js
            log.info("connected to NATS at %s (stream %s)", self.url, self.stream)
            return js

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        config = StreamConfig(
            name=self.stream,
            subjects=[f"{self.prefix}.>"],
            max_age=self.max_age,
            duplicate_window=self.duplicate_window,
            storage=StorageType.MEMORY if self.memory_storage else StorageType.FILE,
        )
        try:
            info = await js.stream_info(self.stream)
        except nats.js.errors.NotFoundError:
            await js.add_stream(config)
            return
        if info.config.subjects != config.subjects or info.config.max_age != config.max_age:
            await js.update_stream(config)

    async def _on_error(self, exc: Exception) -> None:
        log.debug("NATS: %s", exc)

    async def _on_disconnected(self) -> None:
        if not self._closed:
            log.warning("NATS connection to %s lost; reconnecting", self.url)

    async def _on_reconnected(self) -> None:
        log.info("NATS connection to %s restored", self.url)

    async def jetstream(self) -> JetStreamContext:
        """The JetStream context while connected; raises ``BusUnavailable`` otherwise."""
        if self._js is not None and self._nc is not None and self._nc.is_connected:
            return self._js
        if self._nc is None or self._nc.is_closed:
            if self._connector is not None and not self._connector.done():
                raise BusUnavailable(f"not connected to NATS at {self.url} yet")
            return await self._connect()
        raise BusUnavailable(f"not connected to NATS at {self.url} (reconnecting)")

    async def close(self) -> None:
        self._closed = True
        if self._connector is not None:
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connector
        for member in list(self._members):
            await member.stop(grace=10.0)
        for fanout in list(self._fanouts):
            await fanout.close()
        if self._nc is not None:
            with contextlib.suppress(*_BROKER_ERRORS):
                await self._nc.drain() if self._nc.is_connected else await self._nc.close()
        self._nc = self._js = None

    # --- the port --------------------------------------------------------------------------

    def subject_of(self, event: Event) -> str:
        return f"{self.prefix}.{event.subject}"

    async def publish(self, event: Event) -> None:
        js = await self.jetstream()
        try:
            await js.publish(
                self.subject_of(event),
                event.to_json().encode(),
                timeout=self.publish_timeout,
                stream=self.stream,
                headers={"Nats-Msg-Id": event.id},
            )
        except _BROKER_ERRORS as exc:
            raise BusUnavailable(f"NATS did not store event {event.id}: {exc or type(exc).__name__}") from exc

    async def subscribe(
        self,
        group: str,
        handler: Handler,
        *,
        subjects: Sequence[str] = (">",),
        options: GroupOptions | None = None,
    ) -> Subscription:
        if not _NAME.fullmatch(group):
            raise ValueError(f"invalid group name {group!r}: letters, digits, '-' and '_'")
        member = _NatsMember(self, group, handler, tuple(subjects), options or GroupOptions())
        self._members.add(member)
        with contextlib.suppress(BusUnavailable):
            await member.prepare()  # so that events published from now on reach the group
        member.start()
        return member

    async def fanout_subscribe(self, subjects: Sequence[str] = (">",)) -> FanoutSubscription:
        await self.jetstream()
        assert self._nc is not None
        fanout = _NatsFanout(self)
        for pattern in subjects:
            await fanout.add(self._nc, f"{self.prefix}.{pattern}")
        self._fanouts.add(fanout)
        return fanout

    # --- administration (tests, operators) -----------------------------------------------

    async def delete_stream(self) -> None:
        js = await self.jetstream()
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.delete_stream(self.stream)

    async def delete_group(self, group: str) -> None:
        js = await self.jetstream()
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.delete_consumer(self.stream, group)

    async def group_info(self, group: str) -> dict[str, Any]:
        js = await self.jetstream()
        info = await js.consumer_info(self.stream, group)
        return {
            "pending": info.num_pending,
            "ack_pending": info.num_ack_pending,
            "redelivered": info.num_redelivered,
            "waiting": info.num_waiting,
        }

    async def last_sequence(self) -> int:
        js = await self.jetstream()
        info = await js.stream_info(self.stream)
        return int(info.state.last_seq)


def _deliver_policy(options: GroupOptions) -> dict[str, Any]:
    start = options.start
    if start == "new":
        return {"deliver_policy": DeliverPolicy.NEW}
    if isinstance(start, datetime):
        return {"deliver_policy": DeliverPolicy.BY_START_TIME, "opt_start_time": start}
    if isinstance(start, int) and not isinstance(start, bool):
        return {"deliver_policy": DeliverPolicy.BY_START_SEQUENCE, "opt_start_seq": max(start, 1)}
    return {"deliver_policy": DeliverPolicy.ALL}


class _NatsMember:
    """This process's member of a consumer group."""

    def __init__(
        self, bus: NatsBus, group: str, handler: Handler, subjects: tuple[str, ...], options: GroupOptions
    ) -> None:
        self.group = group
        self._bus = bus
        self._handler = handler
        self._subjects = subjects
        self._options = options
        self._psub: JetStreamContext.PullSubscription | None = None
        self._slots = asyncio.Semaphore(max(1, options.concurrency))
        self._inflight: set[asyncio.Task[None]] = set()
        self._loop: asyncio.Task[None] | None = None
        self._stopping = False

    async def prepare(self) -> None:
        js = await self._bus.jetstream()
        # One filter subject when the group has one pattern; with several, the consumer
        # takes the whole prefix and the member acks what it does not want (a server older
        # than 2.10 has no multi-subject filters).
        filter_subject = (
            f"{self._bus.prefix}.{self._subjects[0]}" if len(self._subjects) == 1 else f"{self._bus.prefix}.>"
        )
        config = ConsumerConfig(
            durable_name=self.group,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self._options.ack_wait,
            max_deliver=self._options.max_deliver,
            filter_subject=filter_subject,
            max_ack_pending=max(1000, self._options.concurrency * 4),
            **_deliver_policy(self._options),
        )
        try:
            await js.add_consumer(self._bus.stream, config)
        except nats.js.errors.BadRequestError as exc:
            # The group exists with settings fixed at creation (start position): keep it.
            log.warning("group %s exists with other settings (%s); joining it as it is", self.group, exc)
        self._psub = await js.pull_subscribe_bind(durable=self.group, stream=self._bus.stream)

    def start(self) -> None:
        self._loop = asyncio.create_task(self._run(), name=f"bus-nats-{self.group}")

    async def _run(self) -> None:
        delay = 0.5
        while not self._stopping:
            try:
                if self._psub is None:
                    await self.prepare()
                assert self._psub is not None
                await self._slots.acquire()
                try:
                    # One at a time: a batch fetch waits for the whole batch once it has
                    # one message, which would delay live updates by the fetch timeout.
                    messages = await self._psub.fetch(1, timeout=self._bus.fetch_timeout)
                except BaseException:
                    self._slots.release()
                    raise
                if not messages:
                    self._slots.release()
                for index, message in enumerate(messages):
                    if index:
                        await self._slots.acquire()
                    task = asyncio.create_task(self._handle(message))
                    self._inflight.add(task)
                    task.add_done_callback(self._inflight.discard)
                delay = 0.5
            except asyncio.CancelledError:
                raise
            except (TimeoutError, nats.errors.TimeoutError):
                continue  # nothing to do within the fetch timeout
            except nats.js.errors.APIError as exc:
                log.warning("group %s: %s; setting the consumer up again", self.group, exc)
                self._psub = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            except _LOOP_ERRORS as exc:
                log.warning("group %s: broker unavailable (%s); retrying in %.1f s", self.group, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            except Exception:
                log.exception("group %s: fetch loop failed; retrying", self.group)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _handle(self, message: Msg) -> None:
        deliveries = 1
        try:
            deliveries = message.metadata.num_delivered
            subject = message.subject.removeprefix(self._bus.prefix + ".")
            if not matches_any(self._subjects, subject):
                await message.ack()
                return
            try:
                event = decode_event(message.data)
            except UndecodableEvent as exc:
                log.error("group %s: dropping undecodable message on %s: %s", self.group, message.subject, exc)
                await message.term()
                return
            keepalive = asyncio.create_task(self._keep_alive(message))
            try:
                await self._handler(event)
            finally:
                keepalive.cancel()
            await message.ack()
        except asyncio.CancelledError:
            with contextlib.suppress(*_BROKER_ERRORS):
                await message.nak()  # shut down mid-job: give it to another member now
            raise
        except DropEvent:
            log.warning("group %s dropped a message on %s", self.group, message.subject)
            with contextlib.suppress(*_BROKER_ERRORS):
                await message.term()
        except _BROKER_ERRORS as exc:
            log.warning("group %s: could not acknowledge (%s); it will be redelivered", self.group, exc)
        except Exception:
            if deliveries >= self._options.max_deliver:
                log.exception("group %s gave up on %s after %d deliveries", self.group, message.subject, deliveries)
                with contextlib.suppress(*_BROKER_ERRORS):
                    await message.term()
            else:
                log.warning("group %s failed (delivery %d); retrying", self.group, deliveries, exc_info=True)
                with contextlib.suppress(*_BROKER_ERRORS):
                    await message.nak(delay=self._options.retry_delay(deliveries))
        finally:
            self._slots.release()

    async def _keep_alive(self, message: Msg) -> None:
        interval = max(self._options.ack_wait / 3, 0.2)
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(*_BROKER_ERRORS):
                await message.in_progress()

    async def stop(self, *, grace: float = 30.0) -> None:
        """Stop fetching, let running handlers finish (up to ``grace`` seconds), then leave."""
        self._stopping = True
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
        if self._inflight:
            _done, late = await asyncio.wait(set(self._inflight), timeout=grace)
            for task in late:
                task.cancel()
            for task in late:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._psub is not None:
            with contextlib.suppress(*_BROKER_ERRORS, nats.errors.BadSubscriptionError):
                await self._psub.unsubscribe()
            self._psub = None
        self._bus._members.discard(self)


class _NatsFanout:
    def __init__(self, bus: NatsBus, maxsize: int = 1_000) -> None:
        self._bus = bus
        self._subs: list[Any] = []
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize=maxsize)
        self.dropped = 0

    async def add(self, nc: Client, subject: str) -> None:
        self._subs.append(await nc.subscribe(subject, cb=self._on_message))

    async def _on_message(self, message: Msg) -> None:
        try:
            event = decode_event(message.data)
        except UndecodableEvent as exc:
            log.warning("fan-out: undecodable message on %s: %s", message.subject, exc)
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            event = await self.queue.get()
            if event is None:
                return
            yield event

    async def close(self) -> None:
        self._bus._fanouts.discard(self)
        for sub in self._subs:
            with contextlib.suppress(*_BROKER_ERRORS, nats.errors.BadSubscriptionError):
                await sub.unsubscribe()
        self._subs.clear()
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(None)
