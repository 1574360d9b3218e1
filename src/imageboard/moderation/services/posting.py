"""The check every new post goes through before it is written: bans, warnings, word filters,
and the board's approval queue."""

from __future__ import annotations

import dataclasses

from imageboard.boards import NewPost, staff
from imageboard.core.errors import InvalidInput
from imageboard.moderation import ips
from imageboard.moderation import repository as repo
from imageboard.moderation.errors import Banned, Warned
from imageboard.moderation.filters import apply_filters_in_time
from imageboard.moderation.schemas import BanView
from imageboard.moderation.services.admin import AdminService, filter_rule
from imageboard.moderation.services.bans import BanService
from imageboard.moderation.services.base import Context, ban_view

FILTER_ACTOR = "filter"


class PostScreen:
    """Called by ``BoardsService.create_post`` (set by the composition root): returns the post
    to write — word filters may have rewritten its text — and whether to hold it for staff
    approval; raises to refuse it."""

    def __init__(self, ctx: Context, bans: BanService, admin: AdminService) -> None:
        self.ctx = ctx
        self.bans = bans
        self.admin = admin

    async def __call__(self, new: NewPost) -> tuple[NewPost, bool]:
        now = self.ctx.clock()
        # One read for everything the decision needs; a write only when there is something
        # to record (a warning shown, a ban by a filter).
        async with self.ctx.db.reader() as session:
            settings = await staff.board_settings(session, new.board)
            bans = await repo.bans_covering(session, ips.key(new.ip), new.board, now) if new.ip else []
            warnings = await repo.unseen_warnings(session, new.ip) if new.ip else []
            rules = [filter_rule(r) for r in await repo.filters_for(session, new.board)]
            new_poster = settings.hold_new_posters and await staff.is_new_poster(session, new.board, new.ip)
        if bans:
            raise banned_error([ban_view(b, now, network=None) for b in bans])
        if warnings:
            await self.bans.mark_warnings_seen([w.id for w in warnings])
            reasons = " ".join(w.reason for w in warnings)
            raise Warned(
                f"You have been warned by the staff: {reasons} "
                "Your post was not sent. Read the rules; you may post again now.",
                code="warned",
            )
        outcome = await apply_filters_in_time(rules, {"com": new.comment, "sub": new.subject, "name": new.name})
        if outcome.banned_by is not None:
            rule = outcome.banned_by
            if new.ip is not None:
                reason = rule.reason or "Your post matched a banned phrase."
                await self.bans.ban_by_filter(new.ip, rule.board, reason, rule.ban_hours, FILTER_ACTOR)
                raise banned_error(await self.bans.bans_for(new.ip, new.board))
            raise InvalidInput("Your post was refused by a filter.", field="com", code="filtered")
        if outcome.refused_by is not None:
            why = outcome.refused_by.reason or "it contains a phrase this board does not accept"
            raise InvalidInput(f"Your post was refused: {why}.", field="com", code="filtered")
        new = dataclasses.replace(
            new, comment=outcome.fields["com"], subject=outcome.fields["sub"], name=outcome.fields["name"]
        )
        held = not new.capcode and (  # staff posting as staff are not queued
            (settings.hold_threads and new.thread_no == 0)
            or (settings.hold_links_files and (new.has_files or staff.has_link(new.comment)))
            or new_poster
        )
        return new, held


def banned_error(bans: list[BanView]) -> Banned:
    first = bans[0]
    where = f"/{first.board}/" if first.board else "every board"
    until = "permanently" if first.expires_at is None else f"until {first.expires_at:%Y-%m-%d %H:%M} UTC"
    return Banned(
        f"You are banned from posting on {where} {until}. Reason: {first.reason} "
        "See /banned for the details and to appeal.",
        code="banned",
    )
