"""Reports: filed by anyone against a board rule or a site rule; board and global queues."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from imageboard.accounts import Actor, Permission
from imageboard.boards import staff
from imageboard.boards.staff import BoardSettings, StaffPost
from imageboard.core.errors import Conflict, InvalidInput, NotFound
from imageboard.core.numbers import is_decimal
from imageboard.events import ReportCreated
from imageboard.moderation import repository as repo
from imageboard.moderation.errors import require
from imageboard.moderation.models import Report
from imageboard.moderation.schemas import BanRequest, ReportGroup, ReportView, SiteSettings
from imageboard.moderation.services.bans import BanService
from imageboard.moderation.services.base import Context, log, post_target, shown_ip


class ReportService:
    def __init__(self, ctx: Context, bans: BanService) -> None:
        self.ctx = ctx
        self.bans = bans

    async def report_form(self, board: str, no: int) -> tuple[StaffPost, BoardSettings]:
        """The post being reported and the board's rules (the site's come from settings)."""
        async with self.ctx.db.reader() as session:
            post = await staff.find_post(session, board, no)
            if post.held:
                raise NotFound(f"Post No.{no} does not exist on /{board}/.", code="post_not_found")
            return post, await staff.board_settings(session, board)

    async def file(self, board: str, no: int, reason: str, ip: str | None, site: SiteSettings) -> None:
        """File a report. ``reason`` is "board:N" or "global:N": rule N (from 1) of the board's
        or the site's rules."""
        kind, _, index = reason.partition(":")
        now = self.ctx.clock()
        async with self.ctx.db.writer() as session:
            post = await staff.find_post(session, board, no)
            if post.held:
                raise NotFound(f"Post No.{no} does not exist on /{board}/.", code="post_not_found")
            settings = await staff.board_settings(session, board)
            rules = {"board": settings.rule_list, "global": site.rule_list}.get(kind)
            if rules is None or not is_decimal(index) or not 1 <= int(index) <= len(rules):
                raise InvalidInput("Choose the rule this post breaks.", field="reason")
            report = Report(
                post_id=post.id,
                board_uri=board,
                post_no=no,
                is_global=kind == "global",
                reason=rules[int(index) - 1][:500],
                reporter_ip=ip,
                created_at=now,
                status="open",
            )
            if not await repo.add_report(session, report):
                raise Conflict("You have already reported this post.", code="already_reported")
            # Staff only, and never who reported: the rule broken is all it says.
            self.ctx.events.record(
                session,
                ReportCreated(
                    board=board,
                    report_id=report.id,
                    thread_no=post.thread_no,
                    post_no=no,
                    category=kind,
                    reason=report.reason,
                ),
            )

    async def queues(self, actor: Actor, *, limit: int = 200) -> tuple[list[ReportGroup], list[ReportGroup]]:
        """Open reports the viewer may see: board reports of their boards, and the global
        queue (site rules) for site staff."""
        site_wide = actor.can(Permission.VIEW_REPORTS)
        boards = None if site_wide else [b for b in actor.board_roles if actor.can(Permission.VIEW_REPORTS, b)]
        async with self.ctx.db.reader() as session:
            board_rows = await repo.open_reports(
                session, boards=boards, is_global=None if site_wide else False, limit=limit
            )
            posts = await staff.posts_by_ids(session, list({r.post_id for r in board_rows}))
        board_reports = [r for r in board_rows if not r.is_global]
        global_reports = [r for r in board_rows if r.is_global]
        return self._group(actor, board_reports, posts), self._group(actor, global_reports, posts)

    async def dismiss(self, actor: Actor, report_id: int) -> None:
        now = self.ctx.clock()
        async with self.ctx.db.writer() as session:
            report = await self._open_report(session, report_id)
            require(actor, Permission.DISMISS_REPORTS, None if report.is_global else report.board_uri)
            report.status = "dismissed"
            report.handled_by = actor.username
            report.handled_at = now
            await log(
                session, now, actor, "dismiss_report", report.board_uri, post_target(report.board_uri, report.post_no)
            )

    async def ban_reporter(self, actor: Actor, report_id: int, request: BanRequest) -> None:
        """Ban whoever filed a report, for abusing the report system."""
        now = self.ctx.clock()
        async with self.ctx.db.writer() as session:
            report = await self._open_report(session, report_id)
            scope = None if report.is_global or request.scope == "site" else report.board_uri
            require(actor, Permission.BAN, scope)
            if report.reporter_ip is None:
                raise InvalidInput("The reporter's address is no longer kept, so they cannot be banned.")
            ban = await self.bans.ban_reporter(session, actor, scope, report.reporter_ip, request, now)
            report.status = "dismissed"
            report.handled_by = actor.username
            report.handled_at = now
            await log(session, now, actor, "ban_reporter", report.board_uri, f"ban #{ban.id}", ban.reason)

    async def _open_report(self, session: repo.AnySession, report_id: int) -> Report:
        report = await repo.report_by_id(session, report_id)
        if report is None or report.status != "open":
            raise NotFound("There is no such open report.", code="report_not_found")
        return report

    def _group(self, actor: Actor, reports: Sequence[Report], posts: dict[int, StaffPost]) -> list[ReportGroup]:
        grouped: dict[int, list[ReportView]] = defaultdict(list)
        for r in reports:
            if r.post_id in posts:
                grouped[r.post_id].append(
                    ReportView(
                        id=r.id,
                        board=r.board_uri,
                        post_no=r.post_no,
                        is_global=r.is_global,
                        reason=r.reason,
                        created_at=r.created_at,
                        status=r.status,
                        handled_by=r.handled_by,
                        reporter=shown_ip(actor, None if r.is_global else r.board_uri, r.reporter_ip),
                    )
                )
        groups = [ReportGroup(post=posts[post_id], reports=items) for post_id, items in grouped.items()]
        groups.sort(key=lambda g: (-len(g.reports), g.reports[0].created_at))
        return groups
