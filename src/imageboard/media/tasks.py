"""Scheduled jobs of the media context: the blob garbage collector."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from imageboard.media.service import MediaService

log = logging.getLogger(__name__)

DEFAULT_GRACE = timedelta(hours=6)
DEFAULT_INTERVAL = timedelta(hours=1)


async def collect_garbage(media: MediaService, *, grace: timedelta = DEFAULT_GRACE) -> int:
    """One pass of the collector; returns how many stored objects (and scratch files of
    uploads a crash cut short) were removed."""
    removed = await media.gc(grace=grace)
    scratch = await media.sweep_scratch(grace=grace)
    if removed or scratch:
        log.info("media gc: removed %d unreferenced objects and %d scratch files", len(removed), len(scratch))
    return len(removed) + len(scratch)


async def run_garbage_collector(
    media: MediaService,
    *,
    every: timedelta = DEFAULT_INTERVAL,
    grace: timedelta = DEFAULT_GRACE,
    stop: asyncio.Event | None = None,
) -> None:
    """Collect garbage every ``every`` until ``stop`` is set (or the task is cancelled). A
    failed pass (storage or database away) is logged and retried at the next interval."""
    stop = stop or asyncio.Event()
    while not stop.is_set():
        try:
            await collect_garbage(media, grace=grace)
        except Exception:
            log.exception("media gc pass failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every.total_seconds())
