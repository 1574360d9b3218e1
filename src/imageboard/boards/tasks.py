"""Event handlers and scheduled jobs of the boards context (run by the worker role, or in the
background of ``--role all``).

``register`` is a worker task registrar (``events.runtime.DEFAULT_TASKS``):

* the ``archive`` group answers ``file.finished`` (a worker finished or gave up on a video
  posted as "processing"): in one transaction it marks the post's thread and board changed —
  so cached pages and JSON, keyed by those times, are rebuilt — and announces
  ``file.processed`` for the thread, which live updates and webhooks show. ``job.once()``
  makes a redelivered event do this once.
* ``prune-archives``: archived threads past their board's archive period are deleted (each
  with ``thread.pruned``), by one worker per period however many run.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from imageboard.boards import staff
from imageboard.boards.service import BoardsService
from imageboard.core.errors import NotFound
from imageboard.events import Event, FileFinished, FileProcessed, Job, WorkerRegistry

if TYPE_CHECKING:
    from imageboard.events.runtime import EventsRuntime

log = logging.getLogger(__name__)

ARCHIVE_GROUP = "archive"
SUBJECTS = ("file.finished.*",)
PRUNE_EVERY = 300.0


async def announce_finished_file(event: FileFinished, job: Job) -> bool:
    """Mark the thread of the file's post changed and announce ``file.processed``; False when
    the post (or its board) is gone, or this group did it before (``AlreadyProcessed``)."""
    assert job.publisher is not None
    async with job.once() as session:
        post = (await staff.posts_by_ids(session, [event.post_id])).get(event.post_id)
        if post is None:
            return False
        try:
            await staff.touch(session, event.board, post.thread_no, job.clock())
        except NotFound:
            return False
        job.publisher.record(
            session,
            FileProcessed(
                board=event.board,
                thread_no=post.thread_no,
                post_no=post.no,
                sha256=str(event.file.get("sha256", "")),
                status=event.status,
                file=event.file,
            ),
        )
        return True


def register(registry: WorkerRegistry, runtime: EventsRuntime) -> None:
    """The ``archive`` group and the pruning job."""
    if runtime.db is None or ARCHIVE_GROUP in registry.registrations:
        return
    boards = BoardsService(runtime.db, secret=runtime.settings.secret, events=runtime.publisher)

    async def handle(event: Event, job: Job) -> None:
        if isinstance(event, FileFinished) and not await announce_finished_file(event, job):
            log.debug("boards: file %s/%s finished for a post that is gone", event.board, event.tim)

    async def prune() -> int:
        removed = await boards.prune_archives()
        if removed:
            log.info("pruned %d archived threads past their archive period", removed)
        return removed

    registry.register(ARCHIVE_GROUP, SUBJECTS, handle, options=runtime.group_options())
    registry.every("prune-archives", PRUNE_EVERY, prune, exclusive=True)
