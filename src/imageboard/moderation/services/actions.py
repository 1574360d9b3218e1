"""Staff actions on posts and threads, each checked, done and logged in one transaction.

Any action on a post closes its open reports as "acted".
"""

from __future__ import annotations

from dataclasses import dataclass

from imageboard.accounts import Actor, Permission
from imageboard.boards import staff
from imageboard.boards.staff import StaffPost, ThreadFlag
from imageboard.core.errors import InvalidInput
from imageboard.events import FileDeleted, PostDeleted, ThreadUpdated
from imageboard.moderation import ips
from imageboard.moderation import repository as repo
from imageboard.moderation.errors import require, require_any
from imageboard.moderation.schemas import BanView, DeleteScope
from imageboard.moderation.services import announce
from imageboard.moderation.services.base import Context, ban_view, log, post_target, shown_ip, shown_network

FLAG_PERMISSIONS: dict[str, Permission] = {
    "sticky": Permission.STICKY,
    "locked": Permission.LOCK,
    "cyclic": Permission.CYCLIC,
}
FLAG_ACTIONS = {
    ("sticky", True): "sticky",
    ("sticky", False): "unsticky",
    ("locked", True): "lock",
    ("locked", False): "unlock",
    ("cyclic", True): "cyclic",
    ("cyclic", False): "uncyclic",
}


@dataclass(frozen=True, slots=True)
class PostDetail:
    """The staff page of one post: its address as the viewer may see it, the other posts
    from that address, and the bans that cover it."""

    post: StaffPost
    ip: str | None
    same_poster: list[StaffPost]
    bans: list[BanView]
    flags: dict[str, bool]
    file_hashes: list[tuple[str, int | None]]  # (SHA-256, perceptual hash) of its files


class ActionService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def detail(self, actor: Actor, board: str, no: int) -> PostDetail:
        require_any(actor, (Permission.VIEW_IP, Permission.VIEW_IP_MASKED), board)
        now = self.ctx.clock()
        async with self.ctx.db.reader() as session:
            post = await staff.find_post(session, board, no)
            same: list[StaffPost] = []
            bans = []
            if post.ip is not None:
                same = [p for p in await staff.posts_by_ip(session, post.ip, limit=100) if p.id != post.id]
                # Posts on boards the viewer has no role on stay out of sight.
                same = [p for p in same if actor.can(Permission.VIEW_IP_MASKED, p.board)]
                if actor.can(Permission.VIEW_IP, board):
                    bans = [
                        ban_view(b, now, network=shown_network(actor, b))
                        for b in await repo.bans_covering(session, ips.key(post.ip), None, now)
                    ]
            flags = await staff.thread_flags(session, board, post.thread_no)
            hashes = await self.ctx.files.file_hashes_of_posts(session, [post.id]) if self.ctx.files else []
        return PostDetail(
            post=post,
            ip=shown_ip(actor, board, post.ip),
            same_poster=same,
            bans=bans,
            flags=flags,
            file_hashes=hashes,
        )

    async def delete_post(self, actor: Actor, board: str, no: int, reason: str = "") -> bool:
        """Returns True when a whole thread went (the post was its opening post)."""
        require(actor, Permission.DELETE_POST, board)
        now = self.ctx.clock()
        async with self.ctx.db.writer() as session:
            events = await announce.deletions(self.ctx, session, [await staff.find_post(session, board, no)])
            removed = await staff.delete_post(session, board, no, now, self.ctx.file_counter)
            announce.record_all(self.ctx, session, events)
            await log(session, now, actor, "delete_post", board, post_target(board, no), reason)
            return bool(removed.threads)

    async def delete_file(self, actor: Actor, board: str, no: int) -> None:
        require(actor, Permission.DELETE_FILE, board)
        await self._file_action(actor, board, no, spoiler=False)

    async def spoiler_file(self, actor: Actor, board: str, no: int) -> None:
        require(actor, Permission.SPOILER_FILE, board)
        await self._file_action(actor, board, no, spoiler=True)

    async def _file_action(self, actor: Actor, board: str, no: int, *, spoiler: bool) -> None:
        files = self.ctx.files
        if files is None:
            raise InvalidInput("This site stores no files, so there is no file to change.", code="no_file")
        now = self.ctx.clock()
        async with self.ctx.db.writer() as session:
            post = await staff.find_post(session, board, no)
            hashes = await announce.file_hashes(self.ctx, session, [post.id])
            if spoiler:
                changed = await files.spoiler_files_of_posts(session, [post.id])
            else:
                changed = await files.delete_files_of_posts(session, [post.id])
            if not changed:
                raise InvalidInput(f"Post No.{no} has no file.", code="no_file")
            if not spoiler:
                await staff.recount_thread_files(session, board, post.thread_no, files.count_live_files)
            await staff.touch(session, board, post.thread_no, now)
            if spoiler:
                self.ctx.events.record(session, announce.updated(await staff.find_post(session, board, no)))
            else:
                for sha256 in hashes:
                    self.ctx.events.record(
                        session,
                        FileDeleted(board=board, thread_no=post.thread_no, post_no=no, sha256=sha256, by_staff=True),
                    )
            await repo.close_reports_of_posts(session, [post.id], "acted", actor.username, now)
            await log(session, now, actor, "spoiler_file" if spoiler else "delete_file", board, post_target(board, no))

    async def delete_by_poster(self, actor: Actor, board: str, no: int, scope: DeleteScope) -> int:
        """Delete every post by this post's author in its thread, on the board, or on the
        whole site. Returns the number of posts removed."""
        if scope not in ("thread", "board", "site"):
            raise InvalidInput("Choose thread, board or site.", field="scope")
        require(actor, Permission.DELETE_BY_POSTER, None if scope == "site" else board)
        now = self.ctx.clock()
        async with self.ctx.db.writer() as session:
            post = await staff.find_post(session, board, no)
            if post.ip is None:
                raise InvalidInput("This post's address is no longer kept, so its poster's other posts are unknown.")
            doomed = [
                p
                for p in await staff.posts_by_ip(session, post.ip, limit=None)
                if announce.in_scope(p, scope, board, post.thread_no)
            ]
            events = await announce.deletions(self.ctx, session, doomed)
            removed = await staff.delete_by_ip(
                session, post.ip, scope, board, post.thread_no, now, self.ctx.file_counter
            )
            announce.record_all(self.ctx, session, events)
            await log(
                session,
                now,
                actor,
                "delete_by_poster",
                board,
                post_target(board, no),
                f"{scope}: {removed.posts} post(s)",
            )
            return removed.posts

    async def set_flag(self, actor: Actor, board: str, thread_no: int, flag: ThreadFlag, value: bool) -> None:
        if flag not in FLAG_PERMISSIONS:
            raise InvalidInput("Unknown thread setting.", field="flag")
        require(actor, FLAG_PERMISSIONS[flag], board)
        now = self.ctx.clock()
        async with self.ctx.db.writer() as session:
            was = (await staff.thread_flags(session, board, thread_no))[flag]
            await staff.set_thread_flag(session, board, thread_no, flag, value, now)
            if was != value:
                self.ctx.events.record(session, ThreadUpdated(board=board, thread_no=thread_no, **{flag: value}))
            await log(session, now, actor, FLAG_ACTIONS[(flag, value)], board, post_target(board, thread_no))

    async def move_thread(self, actor: Actor, board: str, thread_no: int, target: str) -> int:
        require(actor, Permission.MOVE_THREAD, board)
        require(actor, Permission.MOVE_THREAD, target)
        now = self.ctx.clock()
        async with self.ctx.db.writer() as session:
            new_no = await staff.move_thread(session, board, thread_no, target, now)
            # See ``announce``: the old address reads as a deleted thread, the new one as new.
            self.ctx.events.record(
                session, PostDeleted(board=board, thread_no=thread_no, post_no=thread_no, is_op=True, by_staff=True)
            )
            moved = await staff.find_post(session, target, new_no)
            self.ctx.events.record(session, await announce.created(self.ctx, session, moved))
            where = f"{post_target(board, thread_no)} → {post_target(target, new_no)}"
            await log(session, now, actor, "move_thread", board, where)
            await log(session, now, actor, "move_thread", target, where)
            return new_no

    async def edit_post(self, actor: Actor, board: str, no: int, comment: str) -> None:
        require(actor, Permission.EDIT_POST, board)
        now = self.ctx.clock()
        async with self.ctx.db.writer() as session:
            post = await staff.find_post(session, board, no)
            await staff.edit_post(session, board, no, comment, now)
            self.ctx.events.record(session, announce.updated(await staff.find_post(session, board, no)))
            await repo.close_reports_of_posts(session, [post.id], "acted", actor.username, now)
            await log(session, now, actor, "edit_post", board, post_target(board, no))

    async def approve(self, actor: Actor, board: str, no: int) -> None:
        require(actor, Permission.APPROVE_POSTS, board)
        now = self.ctx.clock()
        async with self.ctx.db.writer() as session:
            approved = await staff.approve_post(session, board, no, now, self.ctx.file_counter)
            self.ctx.events.record(session, await announce.created(self.ctx, session, approved))
            await log(session, now, actor, "approve_post", board, post_target(board, no))

    async def reject(self, actor: Actor, board: str, no: int) -> None:
        require(actor, Permission.APPROVE_POSTS, board)
        now = self.ctx.clock()
        async with self.ctx.db.writer() as session:
            post = await staff.find_post(session, board, no)
            if not post.held:
                raise InvalidInput(f"Post No.{no} is not waiting for approval.", code="not_held")
            events = await announce.deletions(self.ctx, session, [post])
            await staff.delete_post(session, board, no, now, self.ctx.file_counter)
            announce.record_all(self.ctx, session, events)
            await log(session, now, actor, "reject_post", board, post_target(board, no))

    async def held_queue(self, actor: Actor, *, limit: int = 100) -> list[StaffPost]:
        boards = (
            None
            if actor.can(Permission.APPROVE_POSTS)
            else [b for b in actor.board_roles if actor.can(Permission.APPROVE_POSTS, b)]
        )
        if boards == []:
            return []
        async with self.ctx.db.reader() as session:
            return await staff.held_posts(session, boards, limit=limit)
