"""Bans by address and range, warnings, the ban page and appeals."""

from __future__ import annotations

from datetime import datetime, timedelta

from imageboard.accounts import Actor, Permission
from imageboard.boards import staff
from imageboard.core.db import WriteSession
from imageboard.core.errors import Conflict, InvalidInput, NotFound
from imageboard.events import BanCreated
from imageboard.moderation import ips
from imageboard.moderation import repository as repo
from imageboard.moderation.errors import require
from imageboard.moderation.models import Appeal, Ban, PosterWarning
from imageboard.moderation.schemas import AppealItem, BanPage, BanRequest, BanView, WarningView
from imageboard.moderation.services.announce import updated
from imageboard.moderation.services.base import (
    Context,
    appeal_view,
    ban_view,
    clean_reason,
    log,
    post_target,
    shown_network,
)

MAX_BAN_HOURS = 24 * 365 * 10
MAX_APPEAL = 2000


class BanService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # --- making and lifting bans ------------------------------------------------------------

    async def ban_post(self, actor: Actor, board: str, no: int, request: BanRequest) -> BanView:
        """Ban the address (or the range around it) a post came from."""
        scope = self._scope(actor, board, request)
        now = self.ctx.clock()
        async with self.ctx.db.writer() as session:
            post = await staff.find_post(session, board, no)
            if post.ip is None:
                raise InvalidInput(
                    "This post's address is no longer kept (retention period), so it cannot be banned.",
                    code="ip_removed",
                )
            span = ips.range_around(post.ip, request.prefix)
            ban = await self._add(session, actor, scope, span, request, now, post_board=board, post_no=no)
            self._announce(session, ban, thread_no=post.thread_no)
            if request.public_mark:
                await staff.set_ban_message(
                    session, board, no, request.mark_text.strip() or staff.DEFAULT_BAN_MESSAGE, now
                )
                self.ctx.events.record(session, updated(await staff.find_post(session, board, no)))
            await repo.close_reports_of_posts(session, [post.id], "acted", actor.username, now)
            await log(session, now, actor, "ban", board, post_target(board, no), ban.reason)
            return ban_view(ban, now, network=shown_network(actor, ban))

    async def ban_address(self, actor: Actor, board: str | None, network: str, request: BanRequest) -> BanView:
        """Ban an address or CIDR range typed in by a moderator."""
        scope = self._scope(actor, board, request)
        span = ips.parse_range(network)
        now = self.ctx.clock()
        async with self.ctx.db.writer() as session:
            if scope is not None:
                await staff.board_or_404(session, scope)
            ban = await self._add(session, actor, scope, span, request, now)
            self._announce(session, ban)
            await log(session, now, actor, "ban", scope, f"ban #{ban.id}", ban.reason)
            return ban_view(ban, now, network=shown_network(actor, ban))

    async def ban_reporter(
        self, session: WriteSession, actor: Actor, board: str | None, ip: str, request: BanRequest, now: datetime
    ) -> Ban:
        """Inside the reports use case: ban whoever filed an abusive report."""
        ban = await self._add(session, actor, board, ips.range_around(ip, request.prefix), request, now)
        self._announce(session, ban)
        return ban

    async def ban_by_filter(
        self, session: WriteSession, ip: str, board: str | None, reason: str, hours: int, label: str
    ) -> Ban:
        """Ban the address in the caller's unit of work (the posting transaction)."""
        now = self.ctx.clock()
        ban = await repo.add_ban(
            session,
            Ban(
                board_uri=board,
                **_span(ips.range_around(ip, None)),
                reason=reason,
                public_mark=False,
                created_at=now,
                expires_at=now + timedelta(hours=hours) if hours else None,
                created_by=label,
            ),
        )
        self._announce(session, ban)
        await log(session, now, label, "ban", board, f"ban #{ban.id}", reason)
        return ban

    async def unban(self, actor: Actor, ban_id: int, reason: str = "") -> None:
        now = self.ctx.clock()
        async with self.ctx.db.writer() as session:
            ban = await self._ban_or_404(session, ban_id)
            require(actor, Permission.BAN, ban.board_uri)
            self._lift(ban, actor, now)
            await log(session, now, actor, "unban", ban.board_uri, f"ban #{ban.id}", clean_reason(reason))

    async def list_bans(self, actor: Actor, *, active_only: bool = True, limit: int = 200) -> list[BanView]:
        boards = None if actor.can(Permission.BAN) else [b for b in actor.board_roles if actor.can(Permission.BAN, b)]
        if boards == []:
            require(actor, Permission.BAN, None)
        now = self.ctx.clock()
        async with self.ctx.db.reader() as session:
            rows = await repo.list_bans(session, boards, now, active_only=active_only, limit=limit)
            appeals = await repo.appeals_of(session, [b.id for b in rows])
        return [ban_view(b, now, network=shown_network(actor, b), appeals=appeals[b.id]) for b in rows]

    async def warn_post(self, actor: Actor, board: str, no: int, reason: str) -> None:
        require(actor, Permission.WARN, board)
        text = clean_reason(reason, required=True)
        now = self.ctx.clock()
        async with self.ctx.db.writer() as session:
            post = await staff.find_post(session, board, no)
            if post.ip is None:
                raise InvalidInput("This post's address is no longer kept, so its poster cannot be warned.")
            await repo.add_warning(
                session,
                PosterWarning(
                    ip=post.ip,
                    board_uri=board,
                    reason=text,
                    post_board=board,
                    post_no=no,
                    created_at=now,
                    created_by=actor.username,
                ),
            )
            await repo.close_reports_of_posts(session, [post.id], "acted", actor.username, now)
            await log(session, now, actor, "warn", board, post_target(board, no), text)

    # --- what posters see ----------------------------------------------------------------

    async def bans_for(self, ip: str | None, board: str | None) -> list[BanView]:
        """Active bans covering ``ip`` on ``board`` (None: on any board)."""
        if ip is None:
            return []
        now = self.ctx.clock()
        async with self.ctx.db.reader() as session:
            rows = await repo.bans_covering(session, ips.key(ip), board, now)
            appeals = await repo.appeals_of(session, [b.id for b in rows])
        return [ban_view(b, now, network=None, appeals=appeals[b.id]) for b in rows]

    async def ban_page(self, ip: str | None) -> BanPage:
        if ip is None:
            return BanPage(bans=[], warnings=[])
        bans = await self.bans_for(ip, None)
        async with self.ctx.db.reader() as session:
            warnings = [_warning_view(w) for w in await repo.unseen_warnings(session, ip)]
        return BanPage(bans=bans, warnings=warnings)

    async def mark_warnings_seen(self, ids: list[int]) -> None:
        async with self.ctx.db.writer() as session:
            await repo.mark_warnings_seen(session, ids, self.ctx.clock())

    async def take_warnings(self, ip: str | None) -> list[WarningView]:
        """Warnings the poster has not seen yet, marked as seen now."""
        if ip is None:
            return []
        now = self.ctx.clock()
        async with self.ctx.db.writer() as session:
            rows = list(await repo.unseen_warnings(session, ip))
            await repo.mark_warnings_seen(session, [w.id for w in rows], now)
        return [_warning_view(w) for w in rows]

    async def appeal(self, ip: str | None, ban_id: int, text: str) -> None:
        """A banned poster asks for the ban to be lifted; one open appeal per ban."""
        body = text.replace("\r\n", "\n").strip()
        if not body:
            raise InvalidInput("Write why the ban should be lifted.", field="text")
        if len(body) > MAX_APPEAL:
            raise InvalidInput(f"An appeal has at most {MAX_APPEAL} characters.", field="text")
        now = self.ctx.clock()
        async with self.ctx.db.writer() as session:
            ban = await repo.ban_by_id(session, ban_id)
            if ip is None or ban is None or ban.ip_start is None or ban.ip_end is None:
                raise NotFound("There is no such ban on your address.", code="ban_not_found")
            if not ban.ip_start <= ips.key(ip) <= ban.ip_end:
                raise NotFound("There is no such ban on your address.", code="ban_not_found")
            if ban.revoked_at is not None or (ban.expires_at is not None and ban.expires_at <= now):
                raise InvalidInput("This ban is no longer in force.", code="ban_inactive")
            appeals = (await repo.appeals_of(session, [ban.id]))[ban.id]
            if any(a.status == "open" for a in appeals):
                raise Conflict("You have already appealed this ban; wait for the answer.", code="appeal_open")
            await repo.add_appeal(session, Appeal(ban_id=ban.id, text=body, created_at=now, status="open", response=""))

    # --- the appeals queue ---------------------------------------------------------------

    async def appeal_queue(self, actor: Actor, *, limit: int = 100) -> list[AppealItem]:
        now = self.ctx.clock()
        async with self.ctx.db.reader() as session:
            rows = await repo.open_appeals(session, limit=limit)
        return [
            AppealItem(ban=ban_view(ban, now, network=shown_network(actor, ban)), appeal=appeal_view(appeal))
            for appeal, ban in rows
            if actor.can(Permission.HANDLE_APPEALS, ban.board_uri)
        ]

    async def decide_appeal(self, actor: Actor, appeal_id: int, *, accept: bool, response: str = "") -> None:
        now = self.ctx.clock()
        answer = clean_reason(response)
        async with self.ctx.db.writer() as session:
            appeal = await repo.appeal_by_id(session, appeal_id)
            if appeal is None:
                raise NotFound("There is no such appeal.", code="appeal_not_found")
            ban = await self._ban_or_404(session, appeal.ban_id)
            require(actor, Permission.HANDLE_APPEALS, ban.board_uri)
            if appeal.status != "open":
                raise Conflict("This appeal was already decided.", code="appeal_decided")
            appeal.status = "accepted" if accept else "denied"
            appeal.decided_at = now
            appeal.decided_by = actor.username
            appeal.response = answer
            if accept:
                self._lift(ban, actor, now)
            action = "appeal_accepted" if accept else "appeal_denied"
            await log(session, now, actor, action, ban.board_uri, f"ban #{ban.id}", answer)

    # --- helpers ---------------------------------------------------------------------------

    def _scope(self, actor: Actor, board: str | None, request: BanRequest) -> str | None:
        """The board the ban applies to (None: site-wide), after the permission check."""
        scope = None if request.scope == "site" or board is None else board
        require(actor, Permission.BAN, scope)
        if not 0 <= request.hours <= MAX_BAN_HOURS:
            raise InvalidInput(f"A ban lasts 0 (permanent) to {MAX_BAN_HOURS} hours.", field="hours")
        return scope

    async def _add(
        self,
        session: WriteSession,
        actor: Actor,
        scope: str | None,
        span: ips.Range,
        request: BanRequest,
        now: datetime,
        *,
        post_board: str | None = None,
        post_no: int | None = None,
    ) -> Ban:
        return await repo.add_ban(
            session,
            Ban(
                board_uri=scope,
                **_span(span),
                reason=clean_reason(request.reason, required=True),
                post_board=post_board,
                post_no=post_no,
                public_mark=request.public_mark,
                created_at=now,
                expires_at=now + timedelta(hours=request.hours) if request.hours else None,
                created_by=actor.username,
            ),
        )

    def _announce(self, session: WriteSession, ban: Ban, *, thread_no: int | None = None) -> None:
        """``ban.created``: staff only, and without the address or range banned."""
        self.ctx.events.record(
            session,
            BanCreated(
                board=ban.board_uri,
                ban_id=ban.id,
                thread_no=thread_no,
                post_no=ban.post_no if thread_no is not None else None,
                reason=ban.reason,
                expires_at=ban.expires_at,
            ),
        )

    def _lift(self, ban: Ban, actor: Actor, now: datetime) -> None:
        if ban.revoked_at is not None:
            raise Conflict("This ban was already lifted.", code="ban_lifted")
        ban.revoked_at = now
        ban.revoked_by = actor.username

    async def _ban_or_404(self, session: WriteSession, ban_id: int) -> Ban:
        ban = await repo.ban_by_id(session, ban_id)
        if ban is None:
            raise NotFound("There is no such ban.", code="ban_not_found")
        return ban


def _span(span: ips.Range) -> dict[str, str]:
    return {"network": span.network, "ip_start": span.start, "ip_end": span.end}


def _warning_view(w: PosterWarning) -> WarningView:
    return WarningView(
        id=w.id, board=w.board_uri, reason=w.reason, post_board=w.post_board, post_no=w.post_no, created_at=w.created_at
    )
