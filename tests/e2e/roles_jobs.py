"""Job handlers the worker processes of tests/e2e/test_roles.py load through
IMAGEBOARD_WORKER_TASKS: they record what they do in the table IB_TEST_JOB_TABLE."""

from __future__ import annotations

import asyncio
import os
import re

from sqlalchemy import text

from imageboard.events import Event, Job, WorkerRegistry
from imageboard.events.runtime import EventsRuntime

TABLE = os.environ.get("IB_TEST_JOB_TABLE", "role_jobs")
assert re.fullmatch(r"[a-z0-9_]+", TABLE)
INSERT = text(f"INSERT INTO {TABLE} (event_id, pid, phase) VALUES (:event_id, :pid, :phase)")  # noqa: S608


async def _note(job: Job, phase: str) -> None:
    assert job.db is not None
    async with job.db.writer() as session:
        await session.execute(INSERT, {"event_id": job.event.id, "pid": os.getpid(), "phase": phase})


def register(registry: WorkerRegistry, runtime: EventsRuntime) -> None:
    """Search-indexing stand-in: each post recorded once, by its number (what the site's
    answer to the poster names)."""

    async def index(event: Event, job: Job) -> None:
        number = str(getattr(event, "post_no", ""))
        async with job.once() as session:
            await session.execute(INSERT, {"event_id": number, "pid": os.getpid(), "phase": "completed"})

    registry.register("index-probe", ["post.created.*"], index, options=runtime.group_options())


def register_slow(registry: WorkerRegistry, runtime: EventsRuntime) -> None:
    """A two-second transcode stand-in: start noted at once, completion in the job's transaction."""

    async def transcode(event: Event, job: Job) -> None:
        await _note(job, "started")
        await asyncio.sleep(2.0)
        async with job.once() as session:
            await session.execute(INSERT, {"event_id": event.id, "pid": os.getpid(), "phase": "completed"})

    registry.register("transcode-probe", ["post.created.*"], transcode, options=runtime.group_options(concurrency=1))
