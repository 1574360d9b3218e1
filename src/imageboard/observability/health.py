"""The operations endpoints: ``/healthz`` (liveness), ``/readyz`` (readiness) and ``/metrics``.

- ``/healthz`` answers 200 while the process serves requests at all: a failing liveness
  probe restarts the container, so it checks nothing outside the process.
- ``/readyz`` answers 200 when every dependency this process needs answers (the database,
  and Redis, NATS and object storage where configured), else 503 with the failing checks;
  a failing readiness probe only takes the pod out of the load balancer.
- ``/metrics`` is the Prometheus exposition (every worker process's samples). The NGINX edge
  does not pass it on; Prometheus scrapes the processes directly.

Other contexts add readiness checks as async callables (see :func:`redis_check`,
:func:`nats_check`, :func:`storage_check`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from fastapi import APIRouter
from starlette.responses import JSONResponse, Response

from imageboard.core.sqlite_writer import SqliteDirect
from imageboard.observability.metrics import CONTENT_TYPE, render, scrape_time_families

__all__ = [
    "ReadinessCheck",
    "build_ops_router",
    "database_check",
    "nats_check",
    "redis_check",
    "storage_check",
]

ReadinessCheck = Callable[[], Awaitable[object]]
CHECK_TIMEOUT = 2.0
NO_STORE = {"Cache-Control": "no-store"}


class _Engine(Protocol):
    def connect(self) -> Any: ...


class HasEngines(Protocol):
    @property
    def write_engine(self) -> Any: ...

    @property
    def read_engine(self) -> Any: ...

    @property
    def is_sqlite(self) -> bool: ...

    @property
    def sqlite_direct(self) -> SqliteDirect | None: ...


class BoardLister(Protocol):
    async def list_boards(self) -> Any: ...


def database_check(database: HasEngines) -> ReadinessCheck:
    """``SELECT 1`` on the read engine, and on the primary unless it is SQLite (the same file,
    and its single writer connection must not queue behind a probe)."""

    async def check() -> None:
        engines = [database.read_engine] if database.is_sqlite else [database.write_engine, database.read_engine]
        for engine in engines:
            async with engine.connect() as connection:
                await connection.exec_driver_sql("SELECT 1")

    return check


class _Pinger(Protocol):
    async def ping(self) -> Any: ...


def redis_check(client: _Pinger) -> ReadinessCheck:
    """For a ``redis.asyncio.Redis`` client."""

    async def check() -> None:
        await client.ping()

    return check


class _NatsClient(Protocol):
    @property
    def is_connected(self) -> bool: ...

    async def flush(self, timeout: int = ...) -> None: ...  # noqa: ASYNC109  (nats-py's signature)


def nats_check(client: _NatsClient) -> ReadinessCheck:
    """For a ``nats.aio.client.Client``: connected, and a round trip to the server succeeds."""

    async def check() -> None:
        if not client.is_connected:
            raise ConnectionError("not connected to NATS")
        await client.flush(timeout=int(CHECK_TIMEOUT))

    return check


class _Storage(Protocol):
    async def exists(self, key: str) -> bool: ...


def storage_check(storage: _Storage, probe_key: str = "readyz/probe") -> ReadinessCheck:
    """For the media context's blob storage: a metadata look-up on a key that need not exist
    (answers False, not an error, when the store is reachable)."""

    async def check() -> None:
        await storage.exists(probe_key)

    return check


async def _run(name: str, check: ReadinessCheck) -> tuple[str, dict[str, Any]]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(check(), timeout=CHECK_TIMEOUT)
        result: dict[str, Any] = {"ok": True}
    except TimeoutError:
        result = {"ok": False, "error": f"no answer within {CHECK_TIMEOUT:g} s"}
    except Exception as exc:
        # The type only: messages of driver errors can carry host names and credentials.
        result = {"ok": False, "error": type(exc).__name__}
    result["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return name, result


def build_ops_router(
    *,
    database: HasEngines,
    boards: BoardLister | None = None,
    data_dir: Path | None = None,
    checks: Mapping[str, ReadinessCheck] | None = None,
) -> APIRouter:
    """Routes for ``/healthz``, ``/readyz`` and ``/metrics``.

    ``boards`` (the boards service) adds ``imageboard_board_posts_total`` at scrape time;
    ``data_dir`` adds the free space of its file system; ``checks`` are readiness checks
    besides the database, by name (``redis``, ``nats``, ``storage``).
    """
    router = APIRouter(include_in_schema=False)
    all_checks: dict[str, ReadinessCheck] = {"database": database_check(database), **(checks or {})}

    @router.get("/healthz")
    async def healthz() -> Response:
        return JSONResponse({"status": "ok"}, headers=NO_STORE)

    @router.get("/readyz")
    async def readyz() -> Response:
        results = dict(await asyncio.gather(*(_run(name, check) for name, check in all_checks.items())))
        ready = all(result["ok"] for result in results.values())
        return JSONResponse(
            {"status": "ready" if ready else "unavailable", "checks": results},
            status_code=200 if ready else 503,
            headers=NO_STORE,
        )

    @router.get("/metrics")
    async def metrics() -> Response:
        posts: dict[str, int] | None = None
        if boards is not None:
            try:
                listed = await asyncio.wait_for(boards.list_boards(), timeout=CHECK_TIMEOUT)
                posts = {board.uri: board.last_post_no for board in listed}
            except Exception:
                posts = None  # the database is away: the rest of the metrics still matter
        families = scrape_time_families(board_posts=posts, data_dir=data_dir)
        body = await asyncio.to_thread(render, families)
        return Response(body, media_type=CONTENT_TYPE, headers=NO_STORE)

    return router
