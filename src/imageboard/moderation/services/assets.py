"""What a board shows besides its posts — banners and the custom spoiler image, which its
owner uploads — and banning a posted file by its hashes ("ban this file").

Images are checked and stored by the media context (``ImagePort``) before the board row
names them; a name the row no longer uses is removed from storage after the commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from imageboard.accounts import Actor, Permission
from imageboard.boards import staff
from imageboard.core.errors import InvalidInput, NotFound
from imageboard.events import BoardUpdated, FileDeleted
from imageboard.moderation import phash
from imageboard.moderation import repository as repo
from imageboard.moderation.errors import require
from imageboard.moderation.models import FileBan
from imageboard.moderation.schemas import BanScope
from imageboard.moderation.services.base import Context, ImagePort, clean_reason, log, post_target

MAX_BANNERS = 20
DEFAULT_DISTANCE = 6
MAX_DISTANCE = 16
FileMatch = Literal["sha256", "phash", "both"]


@dataclass(frozen=True, slots=True)
class FileBanOutcome:
    bans: list[int]  # ids of the file bans made
    without_phash: int  # files whose look-alikes cannot be banned (no perceptual hash kept)


class AssetService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def _images(self) -> ImagePort:
        if self.ctx.images is None:
            raise InvalidInput("This site stores no files, so board images cannot be uploaded.", code="no_storage")
        return self.ctx.images

    # --- banners -------------------------------------------------------------------------------

    async def add_banner(self, actor: Actor, board: str, upload: Any) -> str:
        """Store an uploaded banner and show it on the board. Returns its stored name."""
        require(actor, Permission.EDIT_BOARD, board)
        async with self.ctx.db.reader() as session:
            current = (await staff.board_settings(session, board)).board.banners
        if len(current) >= MAX_BANNERS:
            raise InvalidInput(
                f"/{board}/ has {MAX_BANNERS} banners, the most a board may have; remove one first.", field="file"
            )
        image = await self._images().store(board, "banner", upload)
        now = self.ctx.clock()
        async with self.ctx.db.writer() as session:
            banners = (await staff.board_settings(session, board)).board.banners
            if image.name not in banners:
                banners = (*banners, image.name)
            await staff.update_board_settings(session, board, {"banners": "\n".join(banners)}, now)
            self.ctx.events.record(session, BoardUpdated(board=board, fields=["banners"]))
            await log(session, now, actor, "add_banner", board, f"/{board}/", image.name)
        return image.name

    async def remove_banner(self, actor: Actor, board: str, name: str) -> None:
        require(actor, Permission.EDIT_BOARD, board)
        now = self.ctx.clock()
        async with self.ctx.db.writer() as session:
            view = (await staff.board_settings(session, board)).board
            if name not in view.banners:
                raise NotFound(f"/{board}/ has no banner '{name[:80]}'.", code="banner_not_found")
            banners = [b for b in view.banners if b != name]
            await staff.update_board_settings(session, board, {"banners": "\n".join(banners)}, now)
            self.ctx.events.record(session, BoardUpdated(board=board, fields=["banners"]))
            await log(session, now, actor, "remove_banner", board, f"/{board}/", name)
            still_used = name == view.custom_spoiler
        if not still_used:
            await self._images().remove(board, name)

    # --- the custom spoiler image -----------------------------------------------------------

    async def set_spoiler(self, actor: Actor, board: str, upload: Any) -> str:
        require(actor, Permission.EDIT_BOARD, board)
        async with self.ctx.db.reader() as session:
            await staff.board_or_404(session, board)
        image = await self._images().store(board, "spoiler", upload)
        now = self.ctx.clock()
        async with self.ctx.db.writer() as session:
            view = (await staff.board_settings(session, board)).board
            await staff.update_board_settings(session, board, {"custom_spoiler": image.name}, now)
            self.ctx.events.record(session, BoardUpdated(board=board, fields=["custom_spoiler"]))
            await log(session, now, actor, "set_spoiler", board, f"/{board}/", image.name)
            old = view.custom_spoiler
        if old and old != image.name and old not in view.banners:
            await self._images().remove(board, old)
        return image.name

    async def remove_spoiler(self, actor: Actor, board: str) -> None:
        require(actor, Permission.EDIT_BOARD, board)
        now = self.ctx.clock()
        async with self.ctx.db.writer() as session:
            view = (await staff.board_settings(session, board)).board
            if not view.custom_spoiler:
                raise NotFound(f"/{board}/ uses the site's spoiler image already.", code="spoiler_not_found")
            await staff.update_board_settings(session, board, {"custom_spoiler": ""}, now)
            self.ctx.events.record(session, BoardUpdated(board=board, fields=["custom_spoiler"]))
            await log(session, now, actor, "remove_spoiler", board, f"/{board}/")
        if view.custom_spoiler not in view.banners:
            await self._images().remove(board, view.custom_spoiler)

    # --- "ban this file" ----------------------------------------------------------------------

    async def ban_post_files(
        self,
        actor: Actor,
        board: str,
        no: int,
        *,
        scope: BanScope = "board",
        match: FileMatch = "both",
        distance: int = DEFAULT_DISTANCE,
        reason: str = "",
        delete: bool = False,
    ) -> FileBanOutcome:
        """Ban the files of a post on its board (or site-wide): their exact bytes, pictures
        that look like them, or both; optionally delete the post's files as well."""
        if scope not in ("board", "site"):
            raise InvalidInput("Ban the file on this board or on the whole site.", field="scope")
        if match not in ("sha256", "phash", "both"):
            raise InvalidInput("Ban the exact file, look-alikes, or both.", field="match")
        if not 0 <= distance <= MAX_DISTANCE:
            raise InvalidInput(f"The distance is 0 to {MAX_DISTANCE} bits.", field="distance")
        where = None if scope == "site" else board
        require(actor, Permission.MANAGE_FILTERS, where)
        if delete:
            require(actor, Permission.DELETE_FILE, board)
        files = self.ctx.files
        if files is None:
            raise InvalidInput("This site stores no files, so there is no file to ban.", code="no_file")
        why = clean_reason(reason)[:300]
        now = self.ctx.clock()
        async with self.ctx.db.writer() as session:
            post = await staff.find_post(session, board, no)
            hashes = await files.file_hashes_of_posts(session, [post.id])
            if not hashes:
                raise InvalidInput(f"Post No.{no} has no file.", code="no_file")
            made: list[int] = []
            without = 0
            for sha256, perceptual in hashes:
                if perceptual is None:
                    without += 1
                use_phash = match != "sha256" and perceptual is not None
                if match == "phash" and not use_phash:
                    continue
                row = await repo.add_file_ban(
                    session,
                    FileBan(
                        board_uri=where,
                        sha256=sha256 if match != "phash" else None,
                        phash=phash.to_hex(perceptual) if use_phash and perceptual is not None else None,
                        distance=distance if use_phash else 0,
                        reason=why,
                        created_at=now,
                        created_by=actor.username,
                    ),
                )
                made.append(row.id)
                await log(session, now, actor, "add_file_ban", where, f"file ban #{row.id}", why)
            if not made:
                raise InvalidInput(
                    "This post's file has no perceptual hash (it was posted before they were kept); "
                    "ban its exact file instead.",
                    field="match",
                )
            if delete and await files.delete_files_of_posts(session, [post.id]):
                await staff.recount_thread_files(session, board, post.thread_no, files.count_live_files)
                await staff.touch(session, board, post.thread_no, now)
                for sha256, _perceptual in hashes:
                    self.ctx.events.record(
                        session,
                        FileDeleted(board=board, thread_no=post.thread_no, post_no=no, sha256=sha256, by_staff=True),
                    )
                await repo.close_reports_of_posts(session, [post.id], "acted", actor.username, now)
                await log(session, now, actor, "delete_file", board, post_target(board, no))
        return FileBanOutcome(bans=made, without_phash=without)
