"""The moderation context's entry point: one object holding its use cases, wired once by the
composition root. The use cases live in ``services/``, one module per group of staff work."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from imageboard.accounts import AccountsService, Actor
from imageboard.boards import BoardsService
from imageboard.core.clock import utcnow
from imageboard.core.db import Database
from imageboard.events import EventPublisher
from imageboard.moderation.schemas import Dashboard, PurgeResult
from imageboard.moderation.services.actions import ActionService
from imageboard.moderation.services.admin import AdminService, check_file
from imageboard.moderation.services.assets import AssetService
from imageboard.moderation.services.bans import BanService
from imageboard.moderation.services.base import Context, FilePort, ImagePort
from imageboard.moderation.services.posting import PostScreen
from imageboard.moderation.services.reports import ReportService
from imageboard.moderation.tasks import purge_old_ips


class ModerationService:
    def __init__(
        self,
        db: Database,
        boards: BoardsService,
        accounts: AccountsService,
        *,
        files: FilePort | None = None,
        clock: Callable[[], datetime] = utcnow,
        events: EventPublisher | None = None,
    ) -> None:
        # ``events``: the app's publisher, so staff actions reach live updates, webhooks,
        # the edge purge and search like posting does (without one, rows wait for a sweep).
        self.ctx = Context(db=db, clock=clock, files=files, events=events or EventPublisher())
        self.bans = BanService(self.ctx)
        self.reports = ReportService(self.ctx, self.bans)
        self.actions = ActionService(self.ctx)
        self.admin = AdminService(self.ctx, boards, accounts)
        self.assets = AssetService(self.ctx)
        self.screen = PostScreen(self.ctx, self.bans, self.admin)

    def use_files(self, files: FilePort | None) -> None:
        """Give moderation the media context's file operations (delete, spoiler)."""
        self.ctx.files = files

    def use_images(self, images: ImagePort | None) -> None:
        """Give moderation the media context's store for board banners and spoiler images."""
        self.ctx.images = images

    async def screen_file(self, board: str, sha256: str, perceptual: int | None) -> None:
        """Refuse an upload banned on ``board`` or site-wide (the media context calls this
        before it stores a file)."""
        async with self.ctx.db.reader() as session:
            await check_file(session, board, sha256, perceptual)

    async def dashboard(self, actor: Actor) -> Dashboard:
        board_reports, global_reports = await self.reports.queues(actor)
        boards = (
            [b.uri for b in await self.admin.boards.list_boards()]
            if actor.site_role is not None
            else sorted(actor.board_roles)
        )
        return Dashboard(
            board_reports=board_reports,
            global_reports=global_reports,
            held=await self.actions.held_queue(actor),
            appeals=await self.bans.appeal_queue(actor),
            boards=boards,
        )

    async def purge_old_ips(self, days: int | None = None) -> PurgeResult:
        """See ``tasks.purge_old_ips``."""
        return await purge_old_ips(self.ctx.db, days, clock=self.ctx.clock)
