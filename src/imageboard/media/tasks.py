"""Event handlers and scheduled jobs of the media context: finishing videos posted as
"processing", and the blob garbage collector.

``register`` is a worker task registrar (``events.runtime.DEFAULT_TASKS``). The
``thumbnails`` group wakes on every ``post.created`` with files and finishes the waiting
videos of that board (``deferred.VideoFinisher``: leases, so two workers never work on one
file, and a conditional swap, so a redelivered event changes nothing). A catch-up job, one
worker per period, finishes what no event brought: posts held for approval, events a stopped
process lost, leases of a killed worker that ran out. Each finished file is announced with
``file.finished`` in the transaction that swaps it in; the boards context turns that into
``file.processed`` for the thread (pages, caches and live updates follow). The ``media-gc``
job, one worker per period, removes blobs no post references once the grace period is over.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from imageboard.core.db import WriteSession
from imageboard.events import Event, FileFinished, Job, PostCreated, WorkerRegistry
from imageboard.media.deferred import Finished, VideoFinisher
from imageboard.media.limits import KNOWN_TYPES, MediaLimits
from imageboard.media.service import MediaService
from imageboard.media.storage import storage_from_settings

if TYPE_CHECKING:
    from imageboard.config import Settings
    from imageboard.events.runtime import EventsRuntime

log = logging.getLogger(__name__)

MEDIA_GROUP = "thumbnails"
SUBJECTS = ("post.created.*",)
CATCH_UP_EVERY = 60.0
PER_EVENT = 4  # files one event's handler takes on; the rest wait for the next event or the catch-up

DEFAULT_GRACE = timedelta(hours=6)


async def collect_garbage(media: MediaService, *, grace: timedelta = DEFAULT_GRACE) -> int:
    """One pass of the collector; returns how many stored objects (and scratch files of
    uploads a crash cut short) were removed."""
    removed = await media.gc(grace=grace)
    scratch = await media.sweep_scratch(grace=grace)
    if removed or scratch:
        log.info("media gc: removed %d unreferenced objects and %d scratch files", len(removed), len(scratch))
    return len(removed) + len(scratch)


# --- finishing videos ------------------------------------------------------------------


def limits_from_settings(settings: Settings) -> MediaLimits:
    """The site-wide limits a finished video must still meet (the board's were met at posting)."""
    return MediaLimits(
        allowed=frozenset(KNOWN_TYPES),
        max_pixels=settings.max_image_pixels,
        max_dimension=settings.max_image_dimension,
        max_video_seconds=settings.max_video_seconds,
        max_gif_frames=settings.max_gif_frames,
    )


def finished_event(done: Finished) -> FileFinished:
    return FileFinished(
        board=done.board_uri,
        post_id=done.post_id,
        tim=done.tim,
        status=done.status,
        file=dataclasses.asdict(done.file),
    )


def register(registry: WorkerRegistry, runtime: EventsRuntime) -> None:
    """The ``thumbnails`` group and the catch-up job."""
    if runtime.db is None or MEDIA_GROUP in registry.registrations:
        return
    settings = runtime.settings
    media = MediaService(
        runtime.db,
        storage_from_settings(settings),
        media_base_url=settings.media_base_url,
        workdir=settings.data_dir / "tmp",
    )
    finisher = VideoFinisher(media, limits_from_settings(settings))
    publisher = runtime.publisher

    def announce(session: WriteSession, done: Finished) -> None:
        publisher.record(session, finished_event(done))

    async def handle(event: Event, _job: Job) -> None:
        # Pictures are finished while posting: most posts with files leave nothing to do.
        if isinstance(event, PostCreated) and event.files and event.waiting_files != 0:
            await finisher.run(board_uri=event.board, limit=PER_EVENT, announce=announce)

    async def catch_up() -> int:
        done = await finisher.run(limit=20, announce=announce)
        if done:
            log.info("media: finished %d waiting files no event had brought", len(done))
        return len(done)

    # Two at a time per process: each runs ffmpeg, which uses a core of its own.
    registry.register(MEDIA_GROUP, SUBJECTS, handle, options=runtime.group_options(concurrency=2))
    registry.every("media-catch-up", CATCH_UP_EVERY, catch_up, exclusive=True)

    grace = timedelta(hours=settings.media_gc_grace_hours)

    async def gc() -> int:
        return await collect_garbage(media, grace=grace)

    registry.every("media-gc", settings.media_gc_interval_minutes * 60.0, gc, exclusive=True)
