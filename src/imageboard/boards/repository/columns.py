"""The session types the queries take, and the columns the public pages' read models are
built from."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from imageboard.boards.models import Board, Post, Thread
from imageboard.boards.schemas import PostView, ThreadState
from imageboard.core.db import ReadSession, WriteSession

AnySession = ReadSession | WriteSession | AsyncSession

# The tables behind the entities, for statements on hot paths: a statement naming only
# table columns skips the ORM's bookkeeping (its flush, its row loading), which costs more
# than SQLite takes to run the statement.
BOARDS = cast(Table, Board.__table__)
THREADS = cast(Table, Thread.__table__)
POSTS = cast(Table, Post.__table__)

# The columns of a PostView after its (board, thread_no), and of a ThreadState after its
# board, in the dataclasses' field order: rows are unpacked into them positionally.
POST_VIEW_COLUMNS = tuple(POSTS.c[name] for name in (
    "no", "is_op", "created_at", "name", "tripcode", "capcode", "subject", "comment", "comment_html", "poster_id",
    "country_code", "country_name", "sage", "edited_at",
))  # fmt: skip
THREAD_STATE_COLUMNS = tuple(THREADS.c[name] for name in (
    "no", "subject", "created_at", "bumped_at", "updated_at", "reply_count", "file_count", "sticky", "locked", "cyclic",
    "archived", "archived_at",
))  # fmt: skip


def _check_order(columns: Sequence[Any], model: type[Any], after: int) -> None:
    names = [f.name for f in dataclasses.fields(model)][after : after + len(columns)]
    if names != [c.key for c in columns]:
        raise RuntimeError(f"{model.__name__}'s fields and the columns selected for it are out of step")


_check_order(POST_VIEW_COLUMNS, PostView, after=2)
_check_order(THREAD_STATE_COLUMNS, ThreadState, after=1)
