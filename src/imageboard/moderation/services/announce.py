"""The domain events staff actions record, in the transaction of the action.

What each action announces, and why it was chosen:

- deleting a post: ``post.deleted`` (``by_staff``) for each post removed; a thread's opening
  post stands for the whole thread (``is_op``, with the files of every post in it), as when
  posters delete their own threads. Held posts rejected or swept away get one too: their
  files may need collecting, and a reader who never saw them ignores it.
- deleting a file: ``file.deleted`` (``by_staff``) for each of its files.
- spoilering a file, editing a post, adding the public ban mark: ``post.updated`` with the
  post as the public API shows it, so an open thread replaces it and caches drop the thread.
- sticky, lock, cyclic: ``thread.updated`` with only the flag that changed (nothing when it
  was set already).
- moving a thread: ``post.deleted`` (``is_op``, no files: they moved, not went) for the old
  address, and ``post.created`` for the new thread's opening post. An open stream on the old
  thread then reloads it and shows the "moved" notice in place of the opening post, with the
  replies marked gone; caches drop the old thread, its board's lists, the archive (the notice
  is archived) and search results (the posts have new numbers); the new board hears of a new
  thread. The moved replies are not announced one by one: whoever shows the thread loads it.
- approving a held post: ``post.created``, as if it had just been posted (it was invisible,
  and nothing had announced it).
- bans: ``ban.created`` (staff only, no address); reports: ``report.created`` (staff only, no
  reporter identity); board settings: ``board.updated`` naming the settings changed.
"""

from __future__ import annotations

from collections.abc import Sequence

from imageboard.boards import public_post, staff
from imageboard.boards.staff import Scope, StaffPost
from imageboard.core.db import WriteSession
from imageboard.events import Event, PostCreated, PostDeleted, PostUpdated
from imageboard.moderation.services.base import Context


async def file_hashes(ctx: Context, session: WriteSession, post_ids: Sequence[int]) -> list[str]:
    """SHA-256 of the files of these posts (for the media collector), before they go."""
    if ctx.files is None or not post_ids:
        return []
    return [sha256 for sha256, _phash in await ctx.files.file_hashes_of_posts(session, post_ids)]


async def deletions(ctx: Context, session: WriteSession, posts: Sequence[StaffPost]) -> list[PostDeleted]:
    """The events of deleting ``posts`` (built before they go, while their files are still
    known). An opening post takes its thread with it, so the thread's replies are not listed
    separately."""
    gone_threads = {(p.board, p.thread_no) for p in posts if p.is_op}
    events: list[PostDeleted] = []
    for post in posts:
        if post.is_op:
            ids = [p.id for p in await staff.thread_posts(session, post.board, post.thread_no)]
        elif (post.board, post.thread_no) in gone_threads:
            continue
        else:
            ids = [post.id]
        events.append(
            PostDeleted(
                board=post.board,
                thread_no=post.thread_no,
                post_no=post.no,
                is_op=post.is_op,
                by_staff=True,
                file_hashes=await file_hashes(ctx, session, ids),
            )
        )
    return events


def in_scope(post: StaffPost, scope: Scope, board: str, thread_no: int) -> bool:
    """Whether a deletion by poster with this scope removes ``post`` (as ``delete_by_ip``)."""
    if scope == "site":
        return True
    if scope == "board":
        return post.board == board
    return post.board == board and post.thread_no == thread_no


def updated(post: StaffPost) -> PostUpdated:
    return PostUpdated(
        board=post.board, thread_no=post.thread_no, post_no=post.no, is_op=post.is_op, post=public_post(post.view)
    )


async def created(ctx: Context, session: WriteSession, post: StaffPost) -> PostCreated:
    """A post appearing now (approved, or the opening post of a moved thread)."""
    files = len(await file_hashes(ctx, session, [post.id]))
    return PostCreated(
        board=post.board,
        thread_no=post.thread_no,
        post_no=post.no,
        is_op=post.is_op,
        sage=post.view.sage,
        files=files,
        post=public_post(post.view),
    )


def record_all(ctx: Context, session: WriteSession, events: Sequence[Event]) -> None:
    for event in events:
        ctx.events.record(session, event)
