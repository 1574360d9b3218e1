"""The check every new post goes through before it is written: bans, warnings, word filters,
and the board's approval queue.

It runs inside the posting transaction, before anything is written, so a reply costs no
read transaction of its own: one statement answers "banned?", "warned?" and "which version
of the word filters?", and the filters themselves are cached per board by that version (a
new random version is stored with every filter change, so the cache is never stale).
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

from imageboard.boards import NewPost, staff
from imageboard.core.db import WriteSession
from imageboard.core.errors import DomainError, InvalidInput
from imageboard.moderation import ips
from imageboard.moderation import repository as repo
from imageboard.moderation.errors import Banned, Warned
from imageboard.moderation.filters import FilterRule, apply_filters_in_time
from imageboard.moderation.schemas import BanView
from imageboard.moderation.services.admin import AdminService, filter_rule
from imageboard.moderation.services.bans import BanService
from imageboard.moderation.services.base import Context, ban_view

FILTER_ACTOR = "filter"
# Boards whose filters are kept; more boards than this and the cache starts over (the
# filters are then read again, never served stale).
MAX_CACHED_BOARDS = 1024


class ScreenedBoard(Protocol):
    """What the check reads of the board a post goes to (the boards context's row)."""

    @property
    def uri(self) -> str: ...

    @property
    def hold_threads(self) -> bool: ...

    @property
    def hold_links_files(self) -> bool: ...

    @property
    def hold_new_posters(self) -> bool: ...


Screening = tuple[NewPost, bool, DomainError | None]


class PostScreen:
    """Called by ``BoardsService.create_post`` (set by the composition root) inside the
    posting transaction. Returns the post to write — word filters may have rewritten its
    text — whether to hold it for staff approval, and, when it refuses a post after recording
    why (a warning now seen, a ban by a filter), the error to answer with once that record
    is committed. Refusals with nothing to record are raised."""

    def __init__(self, ctx: Context, bans: BanService, admin: AdminService) -> None:
        self.ctx = ctx
        self.bans = bans
        self.admin = admin
        self._filters: dict[str, tuple[str | None, list[FilterRule]]] = {}

    async def __call__(self, session: WriteSession, board: ScreenedBoard, new: NewPost) -> Screening:
        now = self.ctx.clock()
        key = ips.key(new.ip) if new.ip else None
        banned, warned, version = await repo.screening_facts(session, key=key, ip=new.ip, board=new.board, now=now)
        if banned and key is not None:
            bans = await repo.bans_covering(session, key, new.board, now)
            raise banned_error([ban_view(b, now, network=None) for b in bans])
        if warned and new.ip is not None:
            warnings = await repo.unseen_warnings(session, new.ip)
            await repo.mark_warnings_seen(session, [w.id for w in warnings], now)
            reasons = " ".join(w.reason for w in warnings)
            warned_error = Warned(
                f"You have been warned by the staff: {reasons} "
                "Your post was not sent. Read the rules; you may post again now.",
                code="warned",
            )
            return new, False, warned_error
        rules = await self.filter_rules(session, new.board, version)
        outcome = await apply_filters_in_time(rules, {"com": new.comment, "sub": new.subject, "name": new.name})
        if outcome.banned_by is not None:
            rule = outcome.banned_by
            if new.ip is not None:
                reason = rule.reason or "Your post matched a banned phrase."
                ban = await self.bans.ban_by_filter(session, new.ip, rule.board, reason, rule.ban_hours, FILTER_ACTOR)
                return new, False, banned_error([ban_view(ban, now, network=None)])
            raise InvalidInput("Your post was refused by a filter.", field="com", code="filtered")
        if outcome.refused_by is not None:
            why = outcome.refused_by.reason or "it contains a phrase this board does not accept"
            raise InvalidInput(f"Your post was refused: {why}.", field="com", code="filtered")
        new = dataclasses.replace(
            new, comment=outcome.fields["com"], subject=outcome.fields["sub"], name=outcome.fields["name"]
        )
        held = not new.capcode and (  # staff posting as staff are not queued
            (board.hold_threads and new.thread_no == 0)
            or (board.hold_links_files and (new.has_files or staff.has_link(new.comment)))
            or (board.hold_new_posters and await staff.is_new_poster(session, board.uri, new.ip))
        )
        return new, held, None

    async def filter_rules(self, session: WriteSession, board: str, version: str | None) -> list[FilterRule]:
        """The board's filters (the site's, then its own) as of ``version``."""
        cached = self._filters.get(board)
        if cached is not None and cached[0] == version:
            return cached[1]
        rules = [filter_rule(r) for r in await repo.filters_for(session, board)]
        if len(self._filters) >= MAX_CACHED_BOARDS:
            self._filters.clear()
        self._filters[board] = (version, rules)
        return rules


def banned_error(bans: list[BanView]) -> Banned:
    first = bans[0]
    where = f"/{first.board}/" if first.board else "every board"
    until = "permanently" if first.expires_at is None else f"until {first.expires_at:%Y-%m-%d %H:%M} UTC"
    return Banned(
        f"You are banned from posting on {where} {until}. Reason: {first.reason} "
        "See /banned for the details and to appeal.",
        code="banned",
    )
