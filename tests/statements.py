"""Watching the SQL a block of code sends: for tests that pin how many statements, or which,
a path runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import event

from imageboard.core.db import Database


@contextmanager
def write_statements(
    database: Database, keep: Callable[[str], bool] = lambda _s: True, *, reads: bool = False
) -> Iterator[list[str]]:
    """The statements sent on the write engine inside the block (those ``keep`` accepts);
    with ``reads``, those sent on the read engines too."""
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if keep(statement):
            seen.append(statement)

    engines = [database.write_engine]
    for engine in (database.read_engine, database.primary_read_engine) if reads else ():
        if engine not in engines:
            engines.append(engine)
    for engine in engines:
        event.listen(engine.sync_engine, "before_cursor_execute", record)
    # Statements run straight on SQLite (``core.sqlite_direct``) pass no engine: their observer.
    direct = database.sqlite_direct
    observe = direct.observe if direct is not None else None
    if direct is not None:

        def record_direct(label: str, statement: str, seconds: float) -> None:
            if label == "write" or reads:
                record(None, None, statement)
            if observe is not None:
                observe(label, statement, seconds)

        direct.observe = record_direct
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine.sync_engine, "before_cursor_execute", record)
        if direct is not None:
            direct.observe = observe
