"""Board settings edited by owners, and forgetting posters' addresses past retention."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from imageboard.boards import repository as repo
from imageboard.boards.services.base import board_or_404
from imageboard.boards.staff.common import MODERATION_SETTINGS, SPEC_SETTINGS
from imageboard.core.db import WriteSession
from imageboard.core.errors import InvalidInput


async def update_board_settings(session: WriteSession, uri: str, values: dict[str, Any], now: datetime) -> None:
    """Change a board's settings; ``values`` holds validated BoardSpec fields (without the
    URI) and the moderation settings."""
    unknown = set(values) - set(SPEC_SETTINGS) - set(MODERATION_SETTINGS)
    if unknown:
        raise InvalidInput(f"Unknown board setting: {', '.join(sorted(unknown))}.")
    board = await board_or_404(session, uri)
    await repo.staff_update_board(session, board.id, {**values, "updated_at": now})
    await repo.staff_touch_threads(session, board.id, now)


async def purge_post_ips(session: WriteSession, now: datetime, *, days: int | None = None) -> int:
    """Forget posters' addresses older than each board's retention (or ``days`` everywhere)."""
    purged = 0
    for board in await repo.all_boards(session):
        keep = board.ip_retention_days if days is None else days
        purged += await repo.staff_purge_post_ips(session, board.id, now - timedelta(days=max(0, keep)))
    return purged
