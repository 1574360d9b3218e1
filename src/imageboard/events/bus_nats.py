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
* Subscriptions live in ``bus_nats_group``.
* The connection reconnects forever; while the server is away ``publish`` raises
  ``BusUnavailable`` (the outbox keeps the event) and the group loops wait and carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Sequence
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig

from imageboard.events.bus import (
    BusUnavailable,
    FanoutSubscription,
    GroupOptions,
    Handler,
    Subscription,
)
from imageboard.events.bus_nats_group import BROKER_ERRORS, NatsFanout, NatsGroupMember
from imageboard.events.schemas import Event

log = logging.getLogger(__name__)
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CONNECT_ERRORS: tuple[type[BaseException], ...] = (*BROKER_ERRORS, nats.errors.NoServersError)


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
        self._members: set[NatsGroupMember] = set()
        self._fanouts: set[NatsFanout] = set()
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
            except BROKER_ERRORS as exc:
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
            with contextlib.suppress(*BROKER_ERRORS):
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
        except BROKER_ERRORS as exc:
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
        member = NatsGroupMember(self, group, handler, tuple(subjects), options or GroupOptions())
        self._members.add(member)
        with contextlib.suppress(BusUnavailable):
            await member.prepare()  # so that events published from now on reach the group
        member.start()
        return member

    async def fanout_subscribe(self, subjects: Sequence[str] = (">",)) -> FanoutSubscription:
        await self.jetstream()
        assert self._nc is not None
        fanout = NatsFanout(self)
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

    def release(self, subscription: NatsGroupMember | NatsFanout) -> None:
        """A subscription that stopped: ``close`` no longer needs to stop it."""
        if isinstance(subscription, NatsGroupMember):
            self._members.discard(subscription)
        else:
            self._fanouts.discard(subscription)
