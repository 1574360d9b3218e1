"""A board page's previews: each thread's last replies, oldest first, whatever order the
database hands the rows of its UNION back in (SQL promises none)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from imageboard.boards.repository.posts import last_reply_views


class _Rows:
    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows

    def all(self) -> list[tuple[Any, ...]]:
        return self.rows


class _Session:
    """Answers the tails statement with rows in the order given."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows
        self.parameters: list[dict[str, Any]] = []

    async def execute(self, _statement: Any, parameters: dict[str, Any]) -> _Rows:
        self.parameters.append(parameters)
        return _Rows(self.rows)


def _row(thread_id: int, no: int) -> tuple[Any, ...]:
    moment = datetime(2026, 12, 6, tzinfo=UTC)
    # thread_id, post id, then the view's columns: no, is_op, created_at, name, tripcode,
    # capcode, subject, comment, comment_html, poster_id, country code and name, sage, edited_at
    return (thread_id, no * 10, no, False, moment, "Anonymous", None, None, "", f"#{no}", f"#{no}", None, None,
            None, False, None)  # fmt: skip


async def test_each_threads_replies_come_oldest_first_in_any_row_order() -> None:
    threads = {7: SimpleNamespace(board="b", no=100), 9: SimpleNamespace(board="b", no=200)}
    rows = [_row(7, n) for n in (101, 102, 103)] + [_row(9, n) for n in (204, 205)]
    for seed in range(6):
        shuffled = rows[:]
        random.Random(seed).shuffle(shuffled)
        session = _Session(shuffled)
        tails = await last_reply_views(session, threads, 3)  # type: ignore[arg-type]
        assert [view.no for _id, view in tails[7]] == [101, 102, 103], shuffled
        assert [view.no for _id, view in tails[9]] == [204, 205], shuffled
        assert [post_id for post_id, _view in tails[7]] == [1010, 1020, 1030]
        assert {view.thread_no for _id, view in tails[9]} == {200}
        assert session.parameters == [{"thread_0": 7, "thread_1": 9}]
