"""The whole application in-process with observability installed, and helpers to read
``/metrics`` and the log lines."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from imageboard.app import create_app
from imageboard.boards import BoardSpec, BoardsService
from imageboard.config import Settings
from imageboard.core.db import Database
from imageboard.observability import configure_logging, install_observability


@dataclass
class Observed:
    app: FastAPI
    client: httpx.AsyncClient
    logs: io.StringIO

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.logs.getvalue().splitlines() if line.startswith("{")]

    async def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        response = await self.client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        return parse_metrics(response.text)


def parse_metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def log_stream(settings: Settings) -> Iterator[io.StringIO]:
    yield io.StringIO()
    configure_logging(settings)  # back to standard output for the tests after this one


@pytest.fixture
async def observed(
    settings: Settings, sqlite_database: Database, log_stream: io.StringIO
) -> AsyncIterator[Observed]:
    service = BoardsService(sqlite_database, secret=settings.secret)
    await service.create_board(BoardSpec(uri="b", title="Random", require_file=False))
    app = create_app(settings.model_copy(update={"log_format": "json"}), database=sqlite_database)
    install_observability(app, settings, database=sqlite_database, boards=service)  # no-op once create_app does it

    async def boom() -> None:
        raise RuntimeError("kaboom")

    app.add_api_route("/boom", boom)
    app.router.routes.insert(0, app.router.routes.pop())  # before /{board}

    configure_logging(settings.model_copy(update={"log_format": "json"}), stream=log_stream)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield Observed(app, client, log_stream)
