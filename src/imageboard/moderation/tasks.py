"""Scheduled jobs of the moderation context.

``purge_old_ips`` runs as the worker's hourly ``purge-ips`` job (one worker per period,
``register``) and from the ``imageboard purge-ips`` command: addresses are personal data,
kept only as long as moderation needs them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from imageboard.boards import staff
from imageboard.core.clock import utcnow
from imageboard.core.db import Database
from imageboard.core.numbers import is_decimal
from imageboard.moderation import repository as repo
from imageboard.moderation.schemas import PurgeResult

if TYPE_CHECKING:
    from imageboard.events import WorkerRegistry
    from imageboard.events.runtime import EventsRuntime

log = logging.getLogger(__name__)

DEFAULT_RETENTION_DAYS = 30
PURGE_EVERY = 3600.0


async def purge_old_ips(
    db: Database, days: int | None = None, *, clock: Callable[[], datetime] = utcnow
) -> PurgeResult:
    """Forget addresses past their retention: posts' (each board's setting, or ``days`` on
    every board), reporters' (the site setting, or ``days``), and delete warnings and bans
    that ended more than that long ago. Bans still in force keep their range."""
    now = clock()
    async with db.writer() as session:
        if days is None:
            raw = (await repo.site_settings(session)).get("ip_retention_days", "")
            site_days = int(raw) if is_decimal(raw) else DEFAULT_RETENTION_DAYS
        else:
            site_days = days
        cutoff = now - timedelta(days=max(0, site_days))
        post_ips = await staff.purge_post_ips(session, now, days=days)
        report_ips = await repo.purge_reporter_ips(session, cutoff)
        warnings = await repo.delete_old_warnings(session, cutoff)
        bans = await repo.delete_old_bans(session, cutoff)
    return PurgeResult(post_ips=post_ips, report_ips=report_ips, warnings=warnings, bans=bans)


def register(registry: WorkerRegistry, runtime: EventsRuntime) -> None:
    """The hourly ``purge-ips`` job (a worker task registrar, ``events.runtime.DEFAULT_TASKS``)."""
    db = runtime.db
    if db is None or "purge-ips" in registry.periodic:
        return

    async def purge() -> int:
        purged = await purge_old_ips(db)
        if purged.post_ips or purged.report_ips or purged.bans or purged.warnings:
            log.info("removed addresses past retention: %s", purged)
        return purged.post_ips + purged.report_ips + purged.bans + purged.warnings

    registry.every("purge-ips", PURGE_EVERY, purge, exclusive=True)
