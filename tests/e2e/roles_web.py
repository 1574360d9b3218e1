"""A `web`-role process for tests/e2e/test_roles.py, until ``create_app`` wires the events
context: the real ``EventsRuntime(role="web")`` (outbox relay on the configured bus) and one
route that writes a post-like event through the outbox, in a write transaction, as the boards
service will. Run as ``python -m tests.e2e.roles_web`` with the IMAGEBOARD_* environment."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel
from starlette.responses import PlainTextResponse, Response

from imageboard.config import load_settings
from imageboard.core.db import Database
from imageboard.events import EventSettings, PostCreated
from imageboard.events.runtime import EventsRuntime


class Reply(BaseModel):
    no: int
    comment: str = ""


def build() -> FastAPI:
    settings = load_settings()
    db = Database(settings.effective_database_url)
    runtime = EventsRuntime(settings, EventSettings(), db=db, role="web")

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop(grace=5)
            await db.dispose()

    app = FastAPI(lifespan=lifespan)

    @app.post("/{board}/thread/{thread_no}/reply")
    async def reply(board: str, thread_no: int, body: Reply) -> dict[str, str]:
        event = PostCreated(
            board=board,
            thread_no=thread_no,
            post_no=body.no,
            post={"no": body.no, "resto": thread_no, "com": body.comment},
        )
        async with db.writer() as session:
            runtime.publisher.record(session, event)
        return {"id": event.id}

    @app.get("/healthz")
    async def healthz() -> Response:
        ok = runtime.healthy()
        return PlainTextResponse("ok" if ok else "down", status_code=200 if ok else 503)

    return app


if __name__ == "__main__":
    settings = load_settings()
    uvicorn.run(build(), host=settings.host, port=settings.port, log_level="warning")
