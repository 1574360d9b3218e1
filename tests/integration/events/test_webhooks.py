"""Webhooks against a local HTTP server: signatures, retries with backoff, giving up, the
delivery log, and delivery through a worker group."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy import event

from imageboard.boards import BoardSpec, BoardsService
from imageboard.core.clock import utcnow
from imageboard.core.db import Database
from imageboard.core.errors import InvalidInput
from imageboard.events import (
    MemoryBus,
    PostCreated,
    ReportCreated,
    ThreadArchived,
    WebhookService,
    Worker,
    WorkerRegistry,
    verify_signature,
    webhooks,
)
from imageboard.events.models import Webhook
from imageboard.events.repository import add_webhook
from imageboard.events.webhooks import WEBHOOK_GROUP, WebhookDispatcher, WebhookRefused

from ...conftest import SECRET
from .conftest import eventually, serve


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook endpoint that answers with the statuses it is given, then 200."""

    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    url: str = ""

    async def __call__(self, scope: dict[str, object], receive: object, send: object) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()  # type: ignore[operator]
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}  # type: ignore[attr-defined]
        self.received.append(Received(headers, body))
        status = self.statuses.pop(0) if self.statuses else 200
        await send({"type": "http.response.start", "status": status, "headers": []})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b"ok"})  # type: ignore[operator]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    endpoint = Receiver()
    async with serve(endpoint) as url:
        endpoint.url = f"{url}/hook"
        yield endpoint


@pytest.fixture
async def board(database: Database) -> str:
    await BoardsService(database, secret=SECRET).create_board(BoardSpec(uri="b", title="Random", require_file=False))
    return "b"


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def post(no: int = 2) -> PostCreated:
    return PostCreated(board="b", thread_no=1, post_no=no, post={"no": no})


async def test_a_delivery_is_signed_verifiably(database: Database, board: str, receiver: Receiver) -> None:
    hooks = WebhookService(database, allow_private=True)
    hook, secret = await hooks.create(board, receiver.url)
    dispatcher = WebhookDispatcher(database, allow_private=True)
    event = post()
    await dispatcher(event)
    await dispatcher.close()
    [got] = receiver.received
    assert got.headers["x-imageboard-event"] == "post.created"
    assert got.headers["x-imageboard-event-id"] == event.id
    assert got.headers["content-type"] == "application/json"
    assert json.loads(got.body)["id"] == event.id
    stamp, signature = got.headers["x-imageboard-timestamp"], got.headers["x-imageboard-signature"]
    assert signature.startswith("sha256=")
    assert verify_signature(secret, stamp, got.body, signature)
    assert not verify_signature(secret, stamp, got.body + b" ", signature)
    assert not verify_signature("another secret", stamp, got.body, signature)
    assert not verify_signature(secret, str(int(stamp) - 3600), got.body, signature)  # replayed later
    [delivery] = await hooks.deliveries(hook.id)
    assert delivery.delivered and delivery.status_code == 200 and delivery.attempt == 1


async def test_a_failing_endpoint_is_retried_with_backoff_until_it_answers(
    database: Database, board: str, receiver: Receiver
) -> None:
    hooks = WebhookService(database, allow_private=True)
    hook, _secret = await hooks.create(board, receiver.url)
    receiver.statuses = [500, 503, 429]
    sleeps = Sleeps()
    dispatcher = WebhookDispatcher(database, allow_private=True, base_delay=1.0, max_attempts=6, sleep=sleeps)
    await dispatcher(post())
    await dispatcher.close()
    assert len(receiver.received) == 4
    assert len({r.headers["x-imageboard-event-id"] for r in receiver.received}) == 1
    # Exponential with jitter: attempt n waits within [base·2ⁿ⁻¹/2, base·2ⁿ⁻¹].
    assert len(sleeps.delays) == 3
    for attempt, delay in enumerate(sleeps.delays, start=1):
        assert 2 ** (attempt - 1) / 2 <= delay <= 2 ** (attempt - 1)
    log = sorted(await hooks.deliveries(hook.id), key=lambda d: d.attempt)
    assert [(d.attempt, d.status_code, d.delivered) for d in log] == [
        (1, 500, False),
        (2, 503, False),
        (3, 429, False),
        (4, 200, True),
    ]


async def test_delivery_gives_up_after_max_attempts(database: Database, board: str, receiver: Receiver) -> None:
    hooks = WebhookService(database, allow_private=True)
    hook, _secret = await hooks.create(board, receiver.url)
    receiver.statuses = [500] * 10
    dispatcher = WebhookDispatcher(database, allow_private=True, max_attempts=3, sleep=Sleeps())
    await dispatcher(post())
    assert len(receiver.received) == 3
    assert [d.delivered for d in await hooks.deliveries(hook.id)] == [False, False, False]

    # A refusal (4xx) is final; 410 Gone switches the webhook off.
    receiver.received.clear()
    receiver.statuses = [400]
    await dispatcher(post(3))
    assert len(receiver.received) == 1
    receiver.statuses = [410]
    await dispatcher(post(4))
    assert [h.active for h in await hooks.of_board(board)] == [False]
    await dispatcher(post(5))
    assert len(receiver.received) == 2  # switched off: nothing more
    await dispatcher.close()


async def test_an_unreachable_endpoint_is_logged_and_retried(database: Database, board: str) -> None:
    from .conftest import free_port

    hooks = WebhookService(database, allow_private=True)
    hook, _secret = await hooks.create(board, f"http://127.0.0.1:{free_port()}/nobody-home")
    dispatcher = WebhookDispatcher(database, allow_private=True, max_attempts=2, sleep=Sleeps(), timeout=2)
    assert not await dispatcher.deliver(dispatcher_hook(hook.id, hook.url), post())
    await dispatcher.close()
    log = await hooks.deliveries(hook.id)
    assert len(log) == 2 and all(d.error and "Connect" in d.error for d in log)


def dispatcher_hook(hook_id: int, url: str) -> object:
    from imageboard.events.webhooks import _Hook

    return _Hook(hook_id, url, "secret", frozenset())


async def test_only_chosen_public_events_of_the_board_are_sent(
    database: Database, board: str, receiver: Receiver
) -> None:
    hooks = WebhookService(database, allow_private=True)
    await hooks.create(board, receiver.url, events=["thread.archived"])
    dispatcher = WebhookDispatcher(database, allow_private=True)
    await dispatcher(post())
    await dispatcher(ReportCreated(board="b", report_id=1, thread_no=1, post_no=2))
    archived = ThreadArchived(board="b", thread_no=1)
    await dispatcher(archived)
    await dispatcher(ThreadArchived(board="tech", thread_no=1))
    await dispatcher.close()
    assert [r.headers["x-imageboard-event-id"] for r in receiver.received] == [archived.id]


async def test_a_boards_webhooks_are_read_once_for_a_burst_and_changes_arrive(
    database: Database, board: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhooks, "HOOKS_TTL", 0.3)
    reads = count_webhook_reads(database)
    dispatcher = WebhookDispatcher(database, allow_private=True)
    for no in range(2, 7):
        await dispatcher(post(no))
    assert len(reads) == 1 and receiver.received == []  # none yet, and asked once
    # Made here: the dispatcher drops what it kept at once.
    await WebhookService(database, allow_private=True).create(board, receiver.url)
    await dispatcher(post(7))
    assert len(receiver.received) == 1
    # Made by another process (the row alone, no notice here): arrives once the time is up.
    other_url = receiver.url + "?second"
    async with database.writer() as session:
        await add_webhook(session, Webhook(board_uri=board, url=other_url, secret="s", events="", active=True,
                                           created_at=utcnow()))  # fmt: skip
    await dispatcher(post(8))
    assert len(receiver.received) == 2
    await asyncio.sleep(0.35)
    await dispatcher(post(9))
    await dispatcher.close()
    assert len(receiver.received) == 4


def count_webhook_reads(database: Database) -> list[str]:
    seen: list[str] = []

    @event.listens_for(database.read_engine.sync_engine, "before_cursor_execute")
    def _count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "FROM webhooks" in statement:
            seen.append(statement)

    return seen


async def test_webhook_addresses_are_checked(database: Database, board: str) -> None:
    strict = WebhookService(database)
    for url in ("http://127.0.0.1:8080/hook", "http://10.1.2.3/hook", "http://[::1]/hook", "http://localhost/x"):
        with pytest.raises(WebhookRefused):
            await strict.create(board, url)
    with pytest.raises(WebhookRefused):
        await strict.create(board, "ftp://example.com/hook")
    with pytest.raises(InvalidInput):
        await strict.create(board, "https://example.com/hook", events=["ban.created"])  # staff-only event
    assert await strict.of_board(board) == []


async def test_the_webhooks_group_delivers_once_even_when_the_event_comes_again(
    database: Database, board: str, receiver: Receiver
) -> None:
    hooks = WebhookService(database, allow_private=True)
    await hooks.create(board, receiver.url)
    bus = MemoryBus()
    dispatcher = WebhookDispatcher(database, allow_private=True)
    registry = WorkerRegistry()

    async def deliver(event: object, _job: object) -> None:
        await dispatcher(event)  # type: ignore[arg-type]

    registry.register(WEBHOOK_GROUP, [">"], deliver)
    worker = Worker(bus, registry, db=database)
    await worker.start()
    event = post()
    started = time.monotonic()
    await bus.publish(event)
    await eventually(lambda: len(receiver.received) == 1)
    elapsed = time.monotonic() - started
    await eventually(lambda: worker.stats[WEBHOOK_GROUP].handled == 1)  # logged and acknowledged
    # The same event again (a redelivery after a crash): the log says it was delivered.
    await dispatcher(event)
    await asyncio.sleep(0.1)
    await worker.stop()
    await dispatcher.close()
    assert len(receiver.received) == 1
    assert elapsed < 1.0
