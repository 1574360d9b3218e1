"""Event handlers and scheduled jobs of the search context (worker indexing).

``register`` is a worker task registrar (``module:function`` in ``IMAGEBOARD_WORKER_TASKS``,
or in ``events.runtime.DEFAULT_TASKS``). It does nothing unless
``IMAGEBOARD_SEARCH_INDEXING=worker``: with the default, inline indexing, posts are indexed
in their own transaction and there is nothing left for a worker to do.

In worker mode the ``search`` group indexes the post of every ``post.created`` event — a
new post, a held post staff approved, the opening post of a moved thread. The handler is
idempotent by construction (it re-reads the post and upserts its index row), so a
redelivered event costs a little work and changes nothing; it needs no ``job.once()``.
Deletions need no handler, whoever deletes (poster, staff one by one or by poster, pruning):
the database removes a deleted post's index row in the deleting transaction, so a deleted
post leaves the results at its commit, in either mode, and a ``post.created`` handled after
the deletion finds no post and indexes nothing. Likewise a staff edit (``post.updated``) and
a move are re-indexed by the database's triggers. A periodic catch-up indexes recent posts
the index lacks — anything a stopped worker missed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from imageboard.events import Event, Job, PostCreated, WorkerRegistry
from imageboard.search.service import SearchService

if TYPE_CHECKING:
    from imageboard.events.runtime import EventsRuntime

log = logging.getLogger(__name__)

SEARCH_GROUP = "search"
SUBJECTS = ("post.created.*",)
CATCH_UP_EVERY = 30.0


async def index_created_post(search: SearchService, event: Event) -> bool:
    """Index the post an event announces; False if it is not a post.created or the post is gone."""
    if not isinstance(event, PostCreated):
        return False
    return await search.index_post_no(event.board, event.post_no)


def register(registry: WorkerRegistry, runtime: EventsRuntime) -> None:
    """The ``search`` group and the catch-up job, when ``IMAGEBOARD_SEARCH_INDEXING=worker``."""
    if runtime.settings.search_indexing != "worker" or runtime.db is None:
        return
    if SEARCH_GROUP in registry.registrations:  # named twice (DEFAULT_TASKS and the setting)
        return
    search = SearchService(runtime.db)

    async def handle(event: Event, _job: Job) -> None:
        if not await index_created_post(search, event):
            log.debug("search: nothing to index for %s", event.subject)

    async def catch_up() -> int:
        done = await search.catch_up()
        if done:
            log.info("search: indexed %d posts the events had not brought", done)
        return done

    registry.register(SEARCH_GROUP, SUBJECTS, handle, options=runtime.group_options())
    registry.every("search-catch-up", CATCH_UP_EVERY, catch_up)
