"""Liveness and readiness."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from imageboard.core.db import Database
from imageboard.observability import build_ops_router, storage_check
from tests.integration.observability.conftest import Observed


async def test_liveness_and_readiness_with_the_database_up(observed: Observed) -> None:
    live = await observed.client.get("/healthz")
    assert live.status_code == 200 and live.json() == {"status": "ok"}
    assert live.headers["cache-control"] == "no-store"
    ready = await observed.client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"]["ok"] is True


def _client(router_app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=router_app), base_url="http://testserver")


async def test_readiness_fails_while_a_dependency_is_away() -> None:
    # PostgreSQL on a port where nothing listens: refused at once.
    unreachable = Database("postgresql+asyncpg://nobody:secret@127.0.0.1:1/none")

    class Storage:
        async def exists(self, key: str) -> bool:
            raise ConnectionError("bucket unreachable at s3.internal")

    async def slow() -> None:
        await asyncio.sleep(10)

    app = FastAPI()
    app.include_router(
        build_ops_router(database=unreachable, checks={"storage": storage_check(Storage()), "nats": slow})
    )
    try:
        async with _client(app) as client:
            live = await client.get("/healthz")
            ready = await client.get("/readyz")
    finally:
        await unreachable.dispose()
    assert live.status_code == 200  # liveness never depends on others: no restart loops
    assert ready.status_code == 503
    checks = ready.json()["checks"]
    assert checks["database"]["ok"] is False
    assert checks["storage"]["ok"] is False and checks["storage"]["error"] == "ConnectionError"
    assert checks["nats"]["ok"] is False and "no answer within 2 s" in checks["nats"]["error"]
    assert "secret" not in ready.text and "s3.internal" not in ready.text  # no credentials or hosts leak
    assert checks["nats"]["duration_ms"] < 3000


async def test_metrics_still_answer_while_the_database_is_away() -> None:
    unreachable = Database("postgresql+asyncpg://nobody:secret@127.0.0.1:1/none")

    class Boards:
        async def list_boards(self) -> list[object]:
            async with unreachable.reader() as session:
                await session.execute(text("SELECT 1"))
                return []

    app = FastAPI()
    app.include_router(build_ops_router(database=unreachable, boards=Boards()))
    try:
        async with _client(app) as client:
            response = await client.get("/metrics")
    finally:
        await unreachable.dispose()
    assert response.status_code == 200
    assert "imageboard_http_requests" in response.text
    assert "imageboard_board_posts_total" not in response.text
