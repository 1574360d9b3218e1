"""Watching the SQL a block of code sends: for tests that pin how many statements, or which,
a path runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import event

from imageboard.core.db import Database


@contextmanager
def write_statements(database: Database, keep: Callable[[str], bool] = lambda _s: True) -> Iterator[list[str]]:
    """The statements sent on the write engine inside the block (those ``keep`` accepts)."""
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if keep(statement):
            seen.append(statement)

    engine = database.write_engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
