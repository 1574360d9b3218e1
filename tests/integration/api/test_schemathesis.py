"""Property-based tests of /api/v1 against its own OpenAPI document (schemathesis): whatever
the generated input, no 5xx, and every answer matches the documented status codes, content
types and schemas."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance
from schemathesis.core.result import Ok

from imageboard.app import create_app
from imageboard.boards import BoardSpec, BoardsService, NewPost
from imageboard.config import Settings
from imageboard.core.db import Database
from imageboard.core.migrate import upgrade


async def _seed(url: str, secret: bytes) -> None:
    db = Database(url)
    try:
        boards = BoardsService(db, secret=secret)
        await boards.create_board(BoardSpec(uri="b", title="Random", require_file=False))
        await boards.create_board(BoardSpec(uri="int", title="Intl", require_file=False, poster_ids=True))
        for board in ("b", "int"):
            new = NewPost(board=board, thread_no=0, subject="Hi", comment="first", ip="192.0.2.4")
            op = await boards.create_post(new)
            for n in range(3):
                await boards.create_post(
                    NewPost(board=board, thread_no=op.post_no, comment=f">>{op.post_no} reply {n}", password="pw")
                )
    finally:
        await db.dispose()


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> schemathesis.BaseSchema:
    data_dir: Path = tmp_path_factory.mktemp("schemathesis")
    url = f"sqlite+aiosqlite:///{data_dir / 'api.sqlite3'}"
    upgrade(url)
    # Thousands of generated requests from one client: the read limit would (rightly) step in.
    config = Settings(data_dir=data_dir, secret_key="schemathesis-secret", environment="development", antispam="off")
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, _seed(url, config.secret)).result()
    # The app's database connects lazily, on schemathesis' own event loop.
    database = Database(url)
    app = create_app(config, database=database)
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)


Operation = schemathesis.APIOperation[Any, Any, Any, Any]


def _run(operation: Operation, mode: schemathesis.GenerationMode) -> None:
    @settings(
        max_examples=EXAMPLES[mode],
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: schemathesis.Case[Operation]) -> None:
        case.call_and_validate(excluded_checks=EXCLUDED_CHECKS)

    check()


# Cursors are opaque tokens: a made-up one is schema-valid yet rightly refused (400), which
# schemathesis' "positive data acceptance" check would count as a failure. Every other check
# runs, among them: no 5xx, documented status codes, content types and response schemas.
EXCLUDED_CHECKS = [positive_data_acceptance]

# Every operation, with data the document allows and with data it forbids (which must be
# refused with a documented 4xx). Bounded and derandomised so a run takes seconds and a
# failure reproduces.
EXAMPLES = {schemathesis.GenerationMode.POSITIVE: 100, schemathesis.GenerationMode.NEGATIVE: 60}


@pytest.mark.parametrize("mode", list(EXAMPLES), ids=lambda m: m.value)
def test_api_v1_conforms_to_its_openapi_document(
    api_schema: schemathesis.BaseSchema, mode: schemathesis.GenerationMode
) -> None:
    operations: list[Operation] = []
    for result in api_schema.get_all_operations():
        assert isinstance(result, Ok), result
        operations.append(result.ok())
    assert len(operations) >= 10
    failures: list[str] = []
    for operation in operations:
        try:
            _run(operation, mode)
        except BaseException as exc:  # collect every operation's failure (exception groups too)
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)
