"""Staff use cases on boards data: what moderators do to threads and posts.

Every function runs inside the caller's unit of work (it takes a ``WriteSession`` or a
``ReadSession`` and never commits), so the moderation context can record the action in its
mod log in the same transaction. Permission checks are the caller's job: these functions do
what they are told.

Bump order is always rebuilt from what remains: deleting a spammer's replies puts each thread
back where the remaining non-sage replies below the bump limit leave it.
"""

from __future__ import annotations

from imageboard.boards.services.base import board_or_404
from imageboard.boards.services.deletion import FileCounter
from imageboard.boards.staff.common import (
    DEFAULT_BAN_MESSAGE,
    MAX_BAN_MESSAGE,
    MODERATION_SETTINGS,
    SPEC_SETTINGS,
    AnySession,
    BoardSettings,
    Removed,
    Scope,
    StaffPost,
    ThreadFlag,
    ban_mark_html,
)
from imageboard.boards.staff.posts import (
    approve_post,
    delete_by_ip,
    delete_post,
    edit_post,
    recount_thread_files,
    set_ban_message,
)
from imageboard.boards.staff.reading import (
    all_board_settings,
    board_settings,
    find_post,
    has_link,
    held_posts,
    is_new_poster,
    posts_by_ids,
    posts_by_ip,
    thread_posts,
)
from imageboard.boards.staff.settings import purge_post_ips, update_board_settings
from imageboard.boards.staff.threads import move_thread, set_thread_flag, thread_flags, touch

__all__ = [
    "DEFAULT_BAN_MESSAGE",
    "MAX_BAN_MESSAGE",
    "MODERATION_SETTINGS",
    "SPEC_SETTINGS",
    "AnySession",
    "BoardSettings",
    "FileCounter",
    "Removed",
    "Scope",
    "StaffPost",
    "ThreadFlag",
    "all_board_settings",
    "approve_post",
    "ban_mark_html",
    "board_or_404",
    "board_settings",
    "delete_by_ip",
    "delete_post",
    "edit_post",
    "find_post",
    "has_link",
    "held_posts",
    "is_new_poster",
    "move_thread",
    "posts_by_ids",
    "posts_by_ip",
    "purge_post_ips",
    "recount_thread_files",
    "set_ban_message",
    "set_thread_flag",
    "thread_flags",
    "thread_posts",
    "touch",
    "update_board_settings",
]
