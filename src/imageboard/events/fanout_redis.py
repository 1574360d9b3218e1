"""Live-update fan-out: the channels SSE streams listen to, across processes.

A *hub* takes public events (from the ``live`` consumer group, or a bus fan-out) and shows
each on its channels (``thread:<board>:<no>``, ``catalog:<board>``). It keeps the last
``recent`` messages of every channel, so a client that reconnects with ``Last-Event-ID``
gets what it missed.

* ``MemoryLiveHub`` — one process (the embedded default, or a realtime process fed by a bus
  fan-out, where every process sees every event and so holds the same history).
* ``RedisLiveHub`` — many processes: one Redis pub/sub channel per live channel (one pattern
  subscription per process), and a capped Redis stream per channel for the history. An event
  handled twice (at-least-once delivery) is shown once: a Lua script records the event id
  and appends and publishes only the first time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from imageboard.events.schemas import Event

log = logging.getLogger(__name__)

# Subjects a live feeder listens to: every public thread-level event.
LIVE_SUBJECTS = ("post.>", "file.>", "thread.>")


@dataclass(frozen=True, slots=True)
class LiveMessage:
    id: str  # the event id: the SSE ``id:``
    type: str  # the event type: the SSE ``event:``
    data: str  # the event as JSON: the SSE ``data:``


RESYNC = LiveMessage(id="", type="resync", data="{}")  # history lost: reload rather than patch


class Listener:
    """One SSE connection's queue on one channel. A listener that falls behind is told to
    resynchronise instead of holding unbounded memory."""

    def __init__(self, channel: str, maxsize: int = 256) -> None:
        self.channel = channel
        self._queue: asyncio.Queue[LiveMessage] = asyncio.Queue(maxsize=maxsize)
        self.overflowed = False

    def push(self, message: LiveMessage) -> None:
        if self.overflowed:
            return
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            self.overflowed = True
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(RESYNC)

    async def get(self, wait: float) -> LiveMessage | None:
        """The next message, or None after ``wait`` seconds of silence."""
        try:
            message = await asyncio.wait_for(self._queue.get(), timeout=wait)
        except TimeoutError:
            return None
        if message is RESYNC:
            self.overflowed = False
        return message


class LiveHub(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, event: Event) -> None:
        """Show a public event on its channels (once, however often it is handed in)."""

    def listen(self, channel: str) -> contextlib.AbstractAsyncContextManager[Listener]: ...

    async def recent(self, channel: str, after: str) -> list[LiveMessage] | None:
        """Messages on ``channel`` after the one with id ``after``; None when that id is no
        longer (or never was) in the history."""


def live_message(event: Event) -> LiveMessage:
    return LiveMessage(id=event.id, type=event.type, data=event.to_json())


def _channels(event: Event) -> list[str]:
    return event.live_channels() if event.public else []


class _LocalListeners:
    def __init__(self) -> None:
        self.by_channel: dict[str, set[Listener]] = {}

    @asynccontextmanager
    async def listen(self, channel: str) -> AsyncIterator[Listener]:
        listener = Listener(channel)
        self.by_channel.setdefault(channel, set()).add(listener)
        try:
            yield listener
        finally:
            listeners = self.by_channel.get(channel)
            if listeners is not None:
                listeners.discard(listener)
                if not listeners:
                    del self.by_channel[channel]

    def deliver(self, channel: str, message: LiveMessage) -> None:
        for listener in list(self.by_channel.get(channel, ())):
            listener.push(message)

    def resync_all(self) -> None:
        for listeners in list(self.by_channel.values()):
            for listener in list(listeners):
                listener.push(RESYNC)

    @property
    def count(self) -> int:
        return sum(len(listeners) for listeners in self.by_channel.values())


class _History:
    """A channel's last messages, and the ids among them: an event handled twice (at-least-once
    delivery) is shown once, found without scanning the history on every publish."""

    __slots__ = ("_ids", "messages")

    def __init__(self, size: int) -> None:
        self.messages: deque[LiveMessage] = deque(maxlen=size)
        self._ids: set[str] = set()

    def add(self, message: LiveMessage) -> bool:
        """Keep ``message``; False, keeping nothing, when its event is already there."""
        if message.id in self._ids:
            return False
        if len(self.messages) == self.messages.maxlen:
            self._ids.discard(self.messages[0].id)
        self.messages.append(message)
        self._ids.add(message.id)
        return True


class MemoryLiveHub:
    def __init__(self, *, recent: int = 100, channels: int = 10_000) -> None:
        self._listeners = _LocalListeners()
        self._recent: OrderedDict[str, _History] = OrderedDict()
        self._recent_size = recent
        self._max_channels = channels

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._listeners.resync_all()

    @property
    def listeners(self) -> int:
        return self._listeners.count

    async def publish(self, event: Event) -> None:
        message = live_message(event)
        for channel in _channels(event):
            history = self._recent.get(channel)
            if history is None:
                history = self._recent[channel] = _History(self._recent_size)
                if len(self._recent) > self._max_channels:
                    self._recent.popitem(last=False)
            else:
                self._recent.move_to_end(channel)
            if history.add(message):
                self._listeners.deliver(channel, message)

    def listen(self, channel: str) -> contextlib.AbstractAsyncContextManager[Listener]:
        return self._listeners.listen(channel)

    async def recent(self, channel: str, after: str) -> list[LiveMessage] | None:
        kept = self._recent.get(channel)
        history = list(kept.messages) if kept is not None else []
        for index, message in enumerate(history):
            if message.id == after:
                return history[index + 1 :]
        return None


# KEYS[1]: the "seen" marker of this event on this channel; KEYS[2]: the channel's history.
# ARGV: event id, type, data, history length, time to live (s), pub/sub channel, message.
_PUBLISH_ONCE = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[5]) then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'id', ARGV[1], 'type', ARGV[2], 'data', ARGV[3])
  redis.call('EXPIRE', KEYS[2], ARGV[5])
  redis.call('PUBLISH', ARGV[6], ARGV[7])
  return 1
end
return 0
"""


class RedisLiveHub:
    """Live channels over Redis, shared by every realtime process."""

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "imageboard",
        recent: int = 100,
        ttl: int = 24 * 3600,
        client: Any = None,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.recent_size = recent
        self.ttl = ttl
        self._client: Any = client
        self._own_client = client is None
        self._listeners = _LocalListeners()
        self._reader: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._script: Any = None
        self.connected = False

    @property
    def listeners(self) -> int:
        return self._listeners.count

    def _pubsub_channel(self, channel: str) -> str:
        return f"{self.prefix}:live:{channel}"

    def _keys(self, channel: str, event_id: str) -> tuple[str, str]:
        # One hash tag per channel keeps both keys on one Redis Cluster slot.
        return f"{self.prefix}:live-seen:{{{channel}}}:{event_id}", f"{self.prefix}:live-recent:{{{channel}}}"

    async def start(self) -> None:
        if self._client is None:
            import redis.asyncio as aioredis

            self._client = aioredis.from_url(
                self.url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=15
            )
        self._script = self._client.register_script(_PUBLISH_ONCE)
        self._reader = asyncio.create_task(self._read(), name="live-hub-redis")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout=3.0)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        self._listeners.resync_all()
        if self._client is not None and self._own_client:
            await self._client.aclose()
            self._client = None

    async def publish(self, event: Event) -> None:
        message = live_message(event)
        wire = json.dumps({"id": message.id, "type": message.type, "data": message.data}, separators=(",", ":"))
        for channel in _channels(event):
            seen, history = self._keys(channel, event.id)
            await self._script(
                keys=[seen, history],
                args=[
                    message.id,
                    message.type,
                    message.data,
                    self.recent_size,
                    self.ttl,
                    self._pubsub_channel(channel),
                    wire,
                ],
            )

    def listen(self, channel: str) -> contextlib.AbstractAsyncContextManager[Listener]:
        return self._listeners.listen(channel)

    async def recent(self, channel: str, after: str) -> list[LiveMessage] | None:
        _seen, history = self._keys(channel, after)
        entries = await self._client.xrange(history, "-", "+", count=self.recent_size * 2)
        messages = [_from_fields(fields) for _entry_id, fields in entries]
        for index, message in enumerate(messages):
            if message.id == after:
                return messages[index + 1 :]
        return None

    async def _read(self) -> None:
        """One pattern subscription per process; messages are routed to local listeners."""
        pattern = f"{self.prefix}:live:*"
        skip = len(self.prefix) + len(":live:")
        delay = 0.2
        while True:
            pubsub = self._client.pubsub()
            try:
                await pubsub.psubscribe(pattern)
                if self.connected is False and self._ready.is_set():
                    self._listeners.resync_all()  # messages may have been lost while away
                self.connected = True
                self._ready.set()
                delay = 0.2
                while True:
                    raw = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
                    if raw is None or raw.get("type") != "pmessage":
                        continue
                    channel = _text(raw["channel"])[skip:]
                    try:
                        decoded = json.loads(raw["data"])
                        message = LiveMessage(id=decoded["id"], type=decoded["type"], data=decoded["data"])
                    except (ValueError, KeyError, TypeError):
                        log.warning("live hub: malformed message on %s", channel)
                        continue
                    self._listeners.deliver(channel, message)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                raise
            except Exception as exc:
                if self.connected:
                    log.warning("live hub: Redis connection lost (%s); reconnecting", exc)
                self.connected = False
                self._ready.set()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _from_fields(fields: dict[Any, Any]) -> LiveMessage:
    get: Callable[[str], str] = lambda name: _text(fields.get(name.encode(), fields.get(name, b"")))  # noqa: E731
    return LiveMessage(id=get("id"), type=get("type"), data=get("data"))


def hub_feeder(hub: LiveHub) -> Callable[[Event], Awaitable[None]]:
    """The handler of the ``live`` consumer group: shows each event on the hub."""

    async def feed(event: Event) -> None:
        await hub.publish(event)

    return feed


async def feed_from_fanout(hub: LiveHub, subscription: Any) -> None:
    """Pump a bus fan-out subscription into a hub (every process its own copy)."""
    async for event in subscription:
        try:
            await hub.publish(event)
        except Exception:
            log.exception("live hub: could not show event %s", event.id)
