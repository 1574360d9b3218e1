"""The NATS bus's subscriptions: a process's member of a durable consumer group (fetch,
handle, acknowledge or retry with backoff, keep long jobs alive) and the plain fan-out
subscription behind live updates. See ``bus_nats`` for the delivery guarantees."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from imageboard.events.bus import BusUnavailable, DropEvent, FanoutQueue, GroupOptions, Handler, matches_any
from imageboard.events.schemas import UndecodableEvent, decode_event

if TYPE_CHECKING:
    from imageboard.events.bus_nats import NatsBus

log = logging.getLogger(__name__)
BROKER_ERRORS: tuple[type[BaseException], ...] = (nats.errors.Error, asyncio.TimeoutError, OSError)
_LOOP_ERRORS: tuple[type[BaseException], ...] = (*BROKER_ERRORS, BusUnavailable)


def _deliver_policy(options: GroupOptions) -> dict[str, Any]:
    start = options.start
    if start == "new":
        return {"deliver_policy": DeliverPolicy.NEW}
    if isinstance(start, datetime):
        return {"deliver_policy": DeliverPolicy.BY_START_TIME, "opt_start_time": start}
    if isinstance(start, int) and not isinstance(start, bool):
        return {"deliver_policy": DeliverPolicy.BY_START_SEQUENCE, "opt_start_seq": max(start, 1)}
    return {"deliver_policy": DeliverPolicy.ALL}


class NatsGroupMember:
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
            with contextlib.suppress(*BROKER_ERRORS):
                await message.nak()  # shut down mid-job: give it to another member now
            raise
        except DropEvent:
            log.warning("group %s dropped a message on %s", self.group, message.subject)
            with contextlib.suppress(*BROKER_ERRORS):
                await message.term()
        except BROKER_ERRORS as exc:
            log.warning("group %s: could not acknowledge (%s); it will be redelivered", self.group, exc)
        except Exception:
            if deliveries >= self._options.max_deliver:
                log.exception("group %s gave up on %s after %d deliveries", self.group, message.subject, deliveries)
                with contextlib.suppress(*BROKER_ERRORS):
                    await message.term()
            else:
                log.warning("group %s failed (delivery %d); retrying", self.group, deliveries, exc_info=True)
                with contextlib.suppress(*BROKER_ERRORS):
                    await message.nak(delay=self._options.retry_delay(deliveries))
        finally:
            self._slots.release()

    async def _keep_alive(self, message: Msg) -> None:
        interval = max(self._options.ack_wait / 3, 0.2)
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(*BROKER_ERRORS):
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
            with contextlib.suppress(*BROKER_ERRORS, nats.errors.BadSubscriptionError):
                await self._psub.unsubscribe()
            self._psub = None
        self._bus.release(self)


class NatsFanout(FanoutQueue):
    def __init__(self, bus: NatsBus, maxsize: int = 1_000) -> None:
        super().__init__(maxsize)
        self._bus = bus
        self._subs: list[Any] = []

    async def add(self, nc: Client, subject: str) -> None:
        self._subs.append(await nc.subscribe(subject, cb=self._on_message))

    async def _on_message(self, message: Msg) -> None:
        try:
            event = decode_event(message.data)
        except UndecodableEvent as exc:
            log.warning("fan-out: undecodable message on %s: %s", message.subject, exc)
            return
        self.push(event)

    async def close(self) -> None:
        self._bus.release(self)
        for sub in self._subs:
            with contextlib.suppress(*BROKER_ERRORS, nats.errors.BadSubscriptionError):
                await sub.unsubscribe()
        self._subs.clear()
        self.end()
