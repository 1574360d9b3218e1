"""Worker tasks of the web context: edge purge.

``register`` is a worker task registrar (in ``events.runtime.DEFAULT_TASKS``). It does nothing
unless ``IMAGEBOARD_EDGE_PURGE`` names an edge kind: then the ``cache`` group turns every
public event into the purge requests of ``web.purge.purge_targets`` for every edge in
``IMAGEBOARD_EDGE_PURGE_URLS``. Purging is idempotent (a redelivered event purges again,
which changes nothing), so the handler needs no ``job.once()``; failures are retried with
backoff inside the handler and then logged, never raised, so the stream moves on.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from imageboard.boards import BoardsService
from imageboard.config import Settings
from imageboard.core.errors import NotFound
from imageboard.events import Event, Job, WorkerRegistry
from imageboard.web.edge import EdgePurger
from imageboard.web.purge import DEFAULT_PAGES, purge_targets

if TYPE_CHECKING:
    from imageboard.events.runtime import EventsRuntime

log = logging.getLogger(__name__)

CACHE_GROUP = "cache"
SUBJECTS = (
    "post.created.*",
    "post.deleted.*",
    "post.updated.*",
    "file.deleted.*",
    "file.processed.*",
    "thread.updated.*",
    "thread.archived.*",
    "thread.pruned.*",
    "ban.created.*",
    "board.updated.*",
)
PAGES_TTL = 60.0  # seconds a board's page count is remembered


def make_purger(settings: Settings) -> EdgePurger | None:
    if settings.edge_purge == "off":
        return None
    edges = [url.strip() for url in settings.edge_purge_urls.split(",") if url.strip()]
    return EdgePurger(
        settings.edge_purge,
        edges,
        host=settings.edge_purge_host or urlsplit(settings.public_url).netloc,
        timeout=settings.edge_purge_timeout,
        retries=settings.edge_purge_retries,
        concurrency=settings.edge_purge_concurrency,
    )


class BoardPages:
    """How many index pages each board has (a bump may move a thread from any of them)."""

    def __init__(self, boards: BoardsService) -> None:
        self.boards = boards
        self._known: dict[str, tuple[float, int]] = {}

    async def __call__(self, uri: str) -> int:
        now = time.monotonic()
        known = self._known.get(uri)
        if known is not None and now - known[0] < PAGES_TTL:
            return known[1]
        try:
            pages = (await self.boards.get_board(uri)).pages
        except NotFound:
            pages = DEFAULT_PAGES  # the board is gone: its pages are 404s worth refreshing
        self._known[uri] = (now, pages)
        return pages


def register(registry: WorkerRegistry, runtime: EventsRuntime) -> None:
    """The ``cache`` group, when ``IMAGEBOARD_EDGE_PURGE`` is ``nginx`` or ``varnish``."""
    if CACHE_GROUP in registry.registrations or runtime.db is None:
        return
    purger = make_purger(runtime.settings)
    if purger is None:
        return
    pages_of = BoardPages(BoardsService(runtime.db, secret=runtime.settings.secret))

    async def handle(event: Event, _job: Job) -> None:
        pages = await pages_of(event.board) if event.board else DEFAULT_PAGES
        targets = purge_targets(event, pages=pages)
        if targets:
            await purger.submit(targets)

    registry.register(CACHE_GROUP, SUBJECTS, handle, options=runtime.group_options())
    log.info("edge purge: %s refreshes to %s", purger.kind, ", ".join(purger.edges))
