"""A counted reply: the board's next number claimed, the thread counted (and bumped), the
post's row inserted. From the claim until commit the board's row is locked, and every round
trip made while holding it is time the next poster on the board waits: on PostgreSQL the
three writes go as one statement, on SQLite (no round trips: the file is the server) as the
three statements they are."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, insert, select, true

from imageboard.boards.repository.boards import CLAIM_POST_NUMBER, claim_post_number
from imageboard.boards.repository.columns import BOARDS, POSTS, THREADS
from imageboard.boards.repository.posts import insert_post
from imageboard.boards.repository.threads import COUNTED_THREAD, count_reply, count_reply_statement, count_reply_values
from imageboard.core.db import WriteSession

# The post's columns the caller gives; the statement adds its thread and its number.
REPLY_COLUMNS = (
    "board_id", "is_op", "created_at", "name", "tripcode", "capcode", "subject", "comment", "comment_html", "sage",
    "poster_id", "country_code", "country_name", "ip", "password_digest", "held",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class CountedReply:
    number: int
    post_id: int
    thread: Mapping[str, Any]  # the thread's COUNTED_THREAD columns after counting


async def add_counted_reply(
    session: WriteSession,
    post: Mapping[str, Any],
    *,
    thread_no: int,
    now: datetime,
    bump: bool,
    bump_limit: int,
    files: int,
) -> CountedReply | None:
    """The reply ``post`` (its ``REPLY_COLUMNS``) on thread ``thread_no`` of its board: the
    board's next number claimed, the thread counted with ``files`` files and bumped when
    ``bump`` and below ``bump_limit``, the row inserted. None when the thread cannot take
    the reply (missing, held, archived or locked): nothing is inserted then, but the number
    may be claimed — the caller refuses the post, and the transaction rolls back."""
    board_id = post["board_id"]
    if session.get_bind().dialect.name == "postgresql":
        values = count_reply_values(board_id, thread_no, now=now, bump=bump, bump_limit=bump_limit, files=files)
        values.update({"claim_board": board_id, **{f"post_{key}": post[key] for key in REPLY_COLUMNS}})
        row = (await session.execute(_IN_ONE_STATEMENT[bump], values)).one_or_none()
        if row is None:
            return None
        number, post_id, *counted = row
        return CountedReply(number, post_id, dict(zip(COUNTED_THREAD, counted, strict=True)))
    number = await claim_post_number(session, board_id, now)
    thread = await count_reply(session, board_id, thread_no, now=now, bump=bump, bump_limit=bump_limit, files=files)
    if thread is None:
        return None
    post_id = await insert_post(session, {**post, "thread_id": thread.id, "no": number})
    return CountedReply(number, post_id, dict(thread._mapping))


def _in_one_statement(*, bump: bool) -> Select[Any]:
    """WITH claim (the board's UPDATE), counted (the thread's UPDATE ... FROM claim), post
    (INSERT ... SELECT FROM counted): the thread's UPDATE reads the claim, so the board's row
    is locked before the thread's, in the order every other write locks them."""
    claim = CLAIM_POST_NUMBER.returning(BOARDS.c.id).cte("claim")
    counted = (
        count_reply_statement(bump=bump)
        .where(THREADS.c.board_id == claim.c.id)
        .returning(*(THREADS.c[name] for name in COUNTED_THREAD), claim.c.last_post_no)
        .cte("counted")
    )
    given = [bindparam(f"post_{key}", type_=POSTS.c[key].type) for key in REPLY_COLUMNS]
    row = insert(POSTS).from_select(
        ["thread_id", "no", *REPLY_COLUMNS], select(counted.c.id, counted.c.last_post_no, *given)
    )
    post = row.returning(POSTS.c.id).cte("post")
    columns = (counted.c.last_post_no, post.c.id, *(counted.c[name] for name in COUNTED_THREAD))
    return select(*columns).select_from(counted.join(post, true()))


_IN_ONE_STATEMENT = {True: _in_one_statement(bump=True), False: _in_one_statement(bump=False)}
