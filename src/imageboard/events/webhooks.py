"""Per-board webhooks: public events POSTed to a board's URLs, signed, retried, logged.

Each request carries

* ``X-Imageboard-Event`` (the type), ``X-Imageboard-Event-Id`` (dedupe on it: a delivery can
  repeat), ``X-Imageboard-Timestamp`` (Unix seconds) and
* ``X-Imageboard-Signature: sha256=<hex>`` — HMAC-SHA256 with the webhook's secret over
  ``"<timestamp>." + body``. Receivers check it with ``verify_signature`` (or the same three
  lines in their language) and refuse old timestamps, which stops replays.

A failed attempt (network error, timeout, 408, 429, 5xx) is retried after an exponential
backoff with full jitter, up to ``max_attempts``; other 4xx answers are final (410 Gone also
switches the webhook off). Every attempt is written to ``webhook_deliveries``. An event
redelivered to the worker is not sent again to a webhook that already acknowledged it.

By default a webhook may not point at a private, loopback or link-local address (no probing
of the internal network through the site); ``allow_private`` lifts that for tests and
closed installations.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import logging
import random
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from imageboard.core.cache import Memo
from imageboard.core.clock import utcnow
from imageboard.core.db import Database
from imageboard.core.errors import InvalidInput, NotFound
from imageboard.events import repository as repo
from imageboard.events.models import Webhook, WebhookDelivery
from imageboard.events.schemas import EVENT_TYPES, Event

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

WEBHOOK_GROUP = "webhooks"
SIGNATURE_HEADER = "X-Imageboard-Signature"
TIMESTAMP_HEADER = "X-Imageboard-Timestamp"
EVENT_HEADER = "X-Imageboard-Event"
EVENT_ID_HEADER = "X-Imageboard-Event-Id"
PUBLIC_TYPES = tuple(name for name, cls in EVENT_TYPES.items() if cls.public)
# How long the dispatcher keeps a board's list of webhooks: every public event asks for it,
# and it rarely changes. A change made in this process applies at once; one made in another
# (the staff page on a web process, the dispatcher on a worker) within this many seconds.
HOOKS_TTL = 5.0


class _WebhookChanges:
    """Counts this process's changes to webhooks, so a dispatcher drops what it kept."""

    count = 0

    @classmethod
    def bump(cls) -> None:
        cls.count += 1


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(
    secret: str, timestamp: str, body: bytes, signature: str, *, tolerance: float = 300.0, now: float | None = None
) -> bool:
    """Check a delivery: the signature matches and the timestamp is recent."""
    try:
        stamp = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - stamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, stamp, body), signature)


@dataclass(frozen=True, slots=True)
class WebhookView:
    id: int
    board: str
    url: str
    events: tuple[str, ...]  # empty: every public event
    active: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class DeliveryView:
    event_id: str
    event_type: str
    attempt: int
    status_code: int | None
    error: str | None
    duration_ms: int
    delivered: bool
    created_at: datetime


class WebhookRefused(InvalidInput):
    code = "webhook_refused"


def _view(hook: Webhook) -> WebhookView:
    return WebhookView(
        id=hook.id,
        board=hook.board_uri,
        url=hook.url,
        events=tuple(hook.events.split()),
        active=hook.active,
        created_at=hook.created_at,
    )


async def check_destination(url: str, *, allow_private: bool) -> None:
    """Refuse URLs that are not http(s), or (unless allowed) that reach a private address."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefused("A webhook URL starts with http:// or https:// and names a host.", field="url")
    if allow_private:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise WebhookRefused(f"The webhook host {parts.hostname} cannot be resolved.", field="url") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise WebhookRefused(f"The webhook host {parts.hostname} is not a public address.", field="url")


class WebhookService:
    """Managing a board's webhooks (the staff pages call this)."""

    def __init__(self, db: Database, *, allow_private: bool = False, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.allow_private = allow_private
        self.clock = clock

    async def create(
        self, board: str, url: str, *, events: Sequence[str] = (), secret: str | None = None
    ) -> tuple[WebhookView, str]:
        """Add a webhook; returns it and its secret (shown once to whoever set it up)."""
        unknown = [name for name in events if name not in PUBLIC_TYPES]
        if unknown:
            raise InvalidInput(
                f"Unknown event type(s): {', '.join(unknown)}. Known: {', '.join(PUBLIC_TYPES)}.", field="events"
            )
        if len(url) > 2000:
            raise InvalidInput("The URL is too long: at most 2000 characters.", field="url")
        await check_destination(url, allow_private=self.allow_private)
        secret = secret or secrets.token_urlsafe(32)
        async with self.db.writer() as session:
            hook = await repo.add_webhook(
                session,
                Webhook(
                    board_uri=board,
                    url=url,
                    secret=secret,
                    events=" ".join(dict.fromkeys(events)),
                    active=True,
                    created_at=self.clock(),
                ),
            )
        _WebhookChanges.bump()
        return _view(hook), secret

    async def of_board(self, board: str) -> list[WebhookView]:
        async with self.db.reader() as session:
            return [_view(hook) for hook in await repo.webhooks_of_board(session, board, active_only=False)]

    async def set_active(self, webhook_id: int, active: bool) -> None:
        async with self.db.writer() as session:
            if await repo.webhook_by_id(session, webhook_id) is None:
                raise NotFound(f"Webhook {webhook_id} does not exist.", code="webhook_not_found")
            await repo.set_webhook_active(session, webhook_id, active)
        _WebhookChanges.bump()

    async def delete(self, webhook_id: int) -> None:
        async with self.db.writer() as session:
            await repo.delete_webhook(session, webhook_id)
        _WebhookChanges.bump()

    async def deliveries(self, webhook_id: int, *, limit: int = 50) -> list[DeliveryView]:
        async with self.db.reader() as session:
            rows = await repo.deliveries_of(session, webhook_id, limit)
        return [
            DeliveryView(
                event_id=row.event_id,
                event_type=row.event_type,
                attempt=row.attempt,
                status_code=row.status_code,
                error=row.error,
                duration_ms=row.duration_ms,
                delivered=row.delivered,
                created_at=row.created_at,
            )
            for row in rows
        ]


@dataclass(frozen=True, slots=True)
class _Hook:
    id: int
    url: str
    secret: str
    events: frozenset[str]  # empty: every public event

    def wants(self, event_type: str) -> bool:
        return not self.events or event_type in self.events


class WebhookDispatcher:
    """The ``webhooks`` consumer group's handler: delivers an event to its board's webhooks."""

    def __init__(
        self,
        db: Database,
        *,
        max_attempts: int = 6,
        base_delay: float = 2.0,
        max_delay: float = 300.0,
        timeout: float = 10.0,
        allow_private: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], datetime] = utcnow,
        user_agent: str = "imageboard-webhooks/1",
    ) -> None:
        self.db = db
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.allow_private = allow_private
        self.sleep = sleep
        self.clock = clock
        import httpx  # only the worker sends webhooks

        self._http_errors: tuple[type[Exception], ...] = (httpx.HTTPError, OSError, WebhookRefused)
        self._hooks: Memo[str, list[_Hook]] = Memo(HOOKS_TTL)  # board -> its active webhooks
        self._client = httpx.AsyncClient(
            timeout=timeout,
            follow_redirects=False,
            transport=transport,
            headers={"User-Agent": user_agent, "Content-Type": "application/json"},
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def __call__(self, event: Event) -> None:
        if not event.public or event.board is None:
            return
        hooks = [hook for hook in await self._hooks_of(event.board) if hook.wants(event.type)]
        if hooks:
            await asyncio.gather(*(self.deliver(hook, event) for hook in hooks))

    async def _hooks_of(self, board: str) -> list[_Hook]:
        changes = _WebhookChanges.count
        known, kept = self._hooks.get(board, changes)
        if known and kept is not None:
            return kept
        async with self.db.reader() as session:
            hooks = [
                _Hook(hook.id, hook.url, hook.secret, frozenset(hook.events.split()))
                for hook in await repo.webhooks_of_board(session, board, active_only=True)
            ]
        self._hooks.put(board, hooks, changes)
        return hooks

    def backoff(self, attempt: int) -> float:
        """Seconds before attempt ``attempt + 1``: exponential, capped, with full jitter."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return random.uniform(ceiling / 2, ceiling)

    async def deliver(self, hook: _Hook, event: Event) -> bool:
        async with self.db.reader() as session:
            if await repo.was_delivered(session, hook.id, event.id):
                return True
        body = event.to_json().encode()
        for attempt in range(1, self.max_attempts + 1):
            status, error, elapsed = await self._attempt(hook, event, body)
            delivered = status is not None and 200 <= status < 300
            await self._log(hook, event, attempt, status, error, elapsed, delivered)
            if delivered:
                return True
            if status == 410:
                log.warning("webhook %s answered 410 Gone: switching it off", hook.id)
                async with self.db.writer() as session:
                    await repo.set_webhook_active(session, hook.id, False)
                _WebhookChanges.bump()
                return False
            if status is not None and 400 <= status < 500 and status not in (408, 429):
                log.warning("webhook %s refused event %s with %s: not retrying", hook.id, event.id, status)
                return False
            if attempt < self.max_attempts:
                await self.sleep(self.backoff(attempt))
        log.warning("webhook %s: gave up on event %s after %d attempts", hook.id, event.id, self.max_attempts)
        return False

    async def _attempt(self, hook: _Hook, event: Event, body: bytes) -> tuple[int | None, str | None, int]:
        started = time.monotonic()
        try:
            await check_destination(hook.url, allow_private=self.allow_private)
            stamp = int(time.time())
            response = await self._client.post(
                hook.url,
                content=body,
                headers={
                    EVENT_HEADER: event.type,
                    EVENT_ID_HEADER: event.id,
                    TIMESTAMP_HEADER: str(stamp),
                    SIGNATURE_HEADER: sign(hook.secret, stamp, body),
                },
            )
            return response.status_code, None, int((time.monotonic() - started) * 1000)
        except self._http_errors as exc:
            message = f"{type(exc).__name__}: {exc}"[:500]
            return None, message, int((time.monotonic() - started) * 1000)

    async def _log(
        self,
        hook: _Hook,
        event: Event,
        attempt: int,
        status: int | None,
        error: str | None,
        elapsed: int,
        delivered: bool,
    ) -> None:
        try:
            async with self.db.writer() as session:
                repo.add_delivery(
                    session,
                    WebhookDelivery(
                        webhook_id=hook.id,
                        event_id=event.id,
                        event_type=event.type,
                        attempt=attempt,
                        status_code=status,
                        error=error,
                        duration_ms=elapsed,
                        delivered=delivered,
                        created_at=self.clock(),
                    ),
                )
        except Exception:
            log.exception("could not log a delivery of event %s to webhook %s", event.id, hook.id)

    async def purge_log(self, before: datetime) -> int:
        async with self.db.writer() as session:
            return await repo.purge_deliveries(session, before)
