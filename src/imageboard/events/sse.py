"""The Server-Sent Events gateway: live updates of a thread and of a board's catalog.

``GET /{board}/thread/{no}/events`` and ``GET /{board}/catalog/events`` stream
``text/event-stream``: each public event as ``id:`` (the event id), ``event:`` (its type)
and ``data:`` (its JSON), a comment every ``heartbeat`` seconds so proxies keep the
connection, and ``event: resync`` when the server cannot say what the client missed (the
client then reloads the thread as JSON). A client that reconnects with ``Last-Event-ID``
(the header EventSource sends, or ``?last_event_id=``) first gets what it missed from the
channel's recent history — from any realtime process, since the history lives in the hub.

Each client address may hold ``max_per_client`` streams at once (429 beyond), each process
``max_total`` (503 beyond). A stream ends cleanly when the client goes away: its slot and its
listener are released whichever way the connection ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from imageboard.events.fanout_redis import LiveHub, LiveMessage
from imageboard.events.schemas import catalog_channel, thread_channel

_BOARD = re.compile(r"^[a-z0-9]{1,32}$")
_EVENT_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
Exists = Callable[..., Awaitable[bool]]


class SseGateway:
    def __init__(
        self,
        hub: LiveHub,
        *,
        heartbeat: float = 15.0,
        max_per_client: int = 8,
        max_total: int = 10_000,
        retry_ms: int = 3_000,
        thread_exists: Exists | None = None,
        board_exists: Exists | None = None,
        client_address: Callable[[Request], str] | None = None,
    ) -> None:
        self.hub = hub
        self.heartbeat = heartbeat
        self.max_per_client = max_per_client
        self.max_total = max_total
        self.retry_ms = retry_ms
        self.thread_exists = thread_exists
        self.board_exists = board_exists
        self.client_address = client_address or (lambda request: request.client.host if request.client else "-")
        self._per_client: dict[str, int] = {}
        self.total = 0
        self.served = 0

    def connections(self, address: str | None = None) -> int:
        return self.total if address is None else self._per_client.get(address, 0)

    def _acquire(self, address: str) -> Response | None:
        if self._per_client.get(address, 0) >= self.max_per_client:
            return _error(
                429,
                "too_many_streams",
                f"At most {self.max_per_client} live-update streams per client; close a tab and retry.",
            )
        if self.total >= self.max_total:
            return _error(503, "server_busy", "The live-update server is full; retry in a moment.")
        self._per_client[address] = self._per_client.get(address, 0) + 1
        self.total += 1
        self.served += 1
        return None

    def _release(self, address: str) -> None:
        remaining = self._per_client.get(address, 0) - 1
        if remaining > 0:
            self._per_client[address] = remaining
        else:
            self._per_client.pop(address, None)
        self.total = max(0, self.total - 1)

    async def open(self, request: Request, channel: str) -> Response:
        address = self.client_address(request)
        last = (request.headers.get("last-event-id") or request.query_params.get("last_event_id") or "").strip()
        return _EventStream(self, channel, address, last if _EVENT_ID.fullmatch(last) else None)

    def router(self) -> APIRouter:
        router = APIRouter()

        @router.get("/{board}/thread/{no}/events", include_in_schema=False)
        async def thread_events(request: Request, board: str, no: int) -> Response:
            if not _BOARD.fullmatch(board) or no < 1:
                return _error(404, "not_found", "There is no such thread.")
            if self.thread_exists is not None and not await self.thread_exists(board, no):
                return _error(404, "thread_not_found", f"Thread No.{no} does not exist on /{board}/.")
            return await self.open(request, thread_channel(board, no))

        @router.get("/{board}/catalog/events", include_in_schema=False)
        async def catalog_events(request: Request, board: str) -> Response:
            if not _BOARD.fullmatch(board):
                return _error(404, "not_found", "There is no such board.")
            if self.board_exists is not None and not await self.board_exists(board):
                return _error(404, "board_not_found", f"/{board}/ does not exist.")
            return await self.open(request, catalog_channel(board))

        return router


def build_sse_router(hub: LiveHub, **options: Any) -> APIRouter:
    """The SSE routes over ``hub`` (options as for ``SseGateway``)."""
    return SseGateway(hub, **options).router()


def _error(status: int, code: str, message: str) -> JSONResponse:
    headers = {"Retry-After": "10"} if status in (429, 503) else None
    return JSONResponse(
        {"error": {"code": code, "message": message, "field": None}}, status_code=status, headers=headers
    )


def _frame(message: LiveMessage) -> bytes:
    lines = []
    if message.id:
        lines.append(f"id: {message.id}")
    lines.append(f"event: {message.type}")
    lines.extend(f"data: {part}" for part in message.data.split("\n"))
    return ("\n".join(lines) + "\n\n").encode()


class _EventStream(Response):
    """A raw ASGI response: streams until the client leaves, and always frees its slot."""

    def __init__(self, gateway: SseGateway, channel: str, address: str, last_event_id: str | None) -> None:
        super().__init__(status_code=200)
        self.gateway = gateway
        self.channel = channel
        self.address = address
        self.last_event_id = last_event_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The slot is taken here, where it is certain to be given back.
        refused = self.gateway._acquire(self.address)
        if refused is not None:
            await refused(scope, receive, send)
            return
        try:
            streaming = asyncio.create_task(self._stream(send))
            watching = asyncio.create_task(_until_disconnect(receive))
            try:
                done, _pending = await asyncio.wait({streaming, watching}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (streaming, watching):
                    task.cancel()
                for task in (streaming, watching):
                    with contextlib.suppress(asyncio.CancelledError, OSError, RuntimeError):
                        await task
            if streaming in done and not streaming.cancelled():
                exc = streaming.exception()
                if exc is not None and not isinstance(exc, (OSError, RuntimeError)):
                    raise exc
        finally:
            self.gateway._release(self.address)

    async def _stream(self, send: Send) -> None:
        gateway = self.gateway
        async with gateway.hub.listen(self.channel) as listener:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"text/event-stream; charset=utf-8"),
                        (b"cache-control", b"no-cache, no-store"),
                        (b"x-accel-buffering", b"no"),
                    ],
                }
            )
            opening = f"retry: {gateway.retry_ms}\n\n".encode()
            await send({"type": "http.response.body", "body": opening, "more_body": True})
            sent: set[str] = set()
            if self.last_event_id is not None:
                try:
                    missed = await gateway.hub.recent(self.channel, self.last_event_id)
                except Exception:  # the history is out of reach: let the client reload
                    missed = None
                if missed is None:
                    missed = [LiveMessage(id="", type="resync", data=json.dumps({"reason": "history_expired"}))]
                for message in missed:
                    sent.add(message.id)
                    await send({"type": "http.response.body", "body": _frame(message), "more_body": True})
            while True:
                live = await listener.get(gateway.heartbeat)
                if live is None:
                    chunk = b": ping\n\n"
                elif live.id and live.id in sent:
                    sent.discard(live.id)  # already sent from the history
                    continue
                else:
                    chunk = _frame(live)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})


async def _until_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
