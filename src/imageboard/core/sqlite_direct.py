"""The hottest table statements, run straight on SQLite's connection inside a write transaction.

Every reply runs the same handful of table statements under SQLite's write lock (its board,
its number, its thread, its row, its search document, its outbox rows). Through SQLAlchemy
each costs 30-40 µs of Python — compiled-cache look-up, execution context, events, result
metadata, and on this async engine a greenlet per call and two switches per driver call —
against about 3 µs for SQLite to run it. A statement marked with :func:`direct` is compiled
once per set of parameter names and, inside a write session that holds SQLite's write lock,
handed to ``sqlite3`` as it is: its parameters through the same type processors SQLAlchemy
would use, its rows through the same result processors, so what is written and read is
exactly what SQLAlchemy would write and read (``tests/integration/test_sqlite_direct.py``).

Only statements the module defines once are marked: compiling is costly, and only a statement
that comes back every time repays it. PostgreSQL runs them through SQLAlchemy as before.

``core.sqlite_writer.SqliteDirect`` runs them, and SQLite's units of work.
"""

from __future__ import annotations

import operator
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, MultipleResultsFound, NoResultFound
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

from imageboard.core.sqlite_inline import is_busy

S = TypeVar("S", bound=ClauseElement)

# Statements marked by ``direct``, by id (they live as long as the module that defines them).
_MARKED: dict[int, DirectStatement] = {}
_MISSING = object()


def direct(statement: S) -> S:
    """Mark a statement built once at import time to run straight on SQLite's connection in
    write sessions (see the module's docstring); returns it unchanged."""
    _MARKED[id(statement)] = DirectStatement(statement)
    return statement


def marked(statement: object) -> DirectStatement | None:
    found = _MARKED.get(id(statement))
    return found if found is not None and found.statement is statement else None


class DirectRow(tuple[Any, ...]):
    """A row as SQLAlchemy's ``Row`` is used here: a tuple, its columns as attributes, and
    ``_mapping``. Each statement's form makes a subclass naming its columns."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()

    @property
    def _mapping(self) -> dict[str, Any]:
        return dict(zip(self._fields, self, strict=True))

    def _asdict(self) -> dict[str, Any]:
        return self._mapping


def _row_class(keys: tuple[str, ...]) -> type[DirectRow]:
    attributes: dict[str, Any] = {"__slots__": (), "_fields": keys}
    for index, key in enumerate(keys):
        attributes[key] = property(operator.itemgetter(index))
    return type("DirectRow", (DirectRow,), attributes)


class Form:
    """The statement compiled for one set of parameter names."""

    __slots__ = ("binds", "processed", "reads", "row", "sql")

    def __init__(self, compiled: SQLCompiler, dialect: Dialect) -> None:
        self.sql: str = compiled.string
        self.reads = not (compiled.isinsert or compiled.isupdate or compiled.isdelete)
        defaults: dict[str, Any] = {name: bind.value for name, bind in compiled.binds.items() if not bind.required}
        for column in [*compiled.insert_prefetch, *compiled.update_prefetch]:
            default = column.default if column in compiled.insert_prefetch else column.onupdate
            if default is None or not getattr(default, "is_scalar", False):
                raise _Unsupported(f"column {column.key} has a default computed at execution")
            defaults[column.key] = default.arg  # type: ignore[attr-defined]
        processors: dict[str, Any] = dict(compiled._bind_processors)
        if any(not callable(process) for process in processors.values()):
            raise _Unsupported("a parameter of a tuple type")
        self.binds: tuple[tuple[str, Callable[[Any], Any] | None, Any], ...] = tuple(
            (name, processors.get(name), defaults.get(name, _MISSING)) for name in compiled.positiontup or ()
        )
        columns = compiled._result_columns
        self.row: type[DirectRow] | None = _row_class(tuple(c.keyname for c in columns)) if columns else None
        converters = [c.type._cached_result_processor(dialect, None) for c in columns]
        # (index, processor) of the columns whose values SQLAlchemy would convert (times, flags).
        self.processed: tuple[tuple[int, Callable[[Any], Any]], ...] = tuple(
            (index, convert) for index, convert in enumerate(converters) if convert is not None
        )

    def values(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        values = []
        for name, process, default in self.binds:
            value = params.get(name, default)
            if value is _MISSING:
                raise _Unsupported(f"no value for the parameter {name}")
            values.append(value if process is None or value is None else process(value))
        return tuple(values)

    def rows(self, raw: list[tuple[Any, ...]]) -> list[DirectRow]:
        row, processed = self.row, self.processed
        assert row is not None
        if not processed:
            return [row(r) for r in raw]
        rows = []
        for r in raw:
            values = list(r)
            for index, process in processed:
                if values[index] is not None:  # NULL stays None, as the processors leave it
                    values[index] = process(values[index])
            rows.append(row(values))
        return rows


class _Unsupported(Exception):
    """The statement cannot run directly: it goes through SQLAlchemy instead."""


class DirectStatement:
    __slots__ = ("_forms", "statement")

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._forms: dict[tuple[str, ...], Form | None] = {}

    def form(self, keys: tuple[str, ...], dialect: Dialect) -> Form | None:
        try:
            return self._forms[keys]
        except KeyError:
            pass
        try:
            compiled = cast(SQLCompiler, self.statement.compile(dialect=dialect, column_keys=list(keys)))
            if compiled.literal_execute_params or compiled.post_compile_params:
                raise _Unsupported("the statement expands its parameters at execution")
            form: Form | None = Form(compiled, dialect)
        except _Unsupported:
            form = None
        if len(self._forms) < 16:  # a handful of parameter sets per statement
            self._forms[keys] = form
        return form


class DirectResult:
    """The parts of SQLAlchemy's ``Result`` (and ``ScalarResult``) the repositories use."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: Sequence[Any], rowcount: int = -1) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)

    def all(self) -> list[Any]:
        return list(self._rows)

    fetchall = all

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def one_or_none(self) -> Any:
        if len(self._rows) > 1:
            raise MultipleResultsFound("Multiple rows were found when one or none was required")
        return self._rows[0] if self._rows else None

    def one(self) -> Any:
        if not self._rows:
            raise NoResultFound("No row was found when one was required")
        return self.one_or_none()

    def scalars(self) -> DirectResult:
        return DirectResult([row[0] for row in self._rows], self.rowcount)

    def mappings(self) -> DirectResult:
        return DirectResult([row._mapping for row in self._rows], self.rowcount)

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalar_one_or_none(self) -> Any:
        row = self.one_or_none()
        return None if row is None else row[0]


def run(
    connection: sqlite3.Connection,
    form: Form,
    params: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    fall_back_if_busy: bool,
) -> DirectResult | None:
    """The statement's result, or None when it needs SQLAlchemy after all: for these
    parameters, or (``fall_back_if_busy``) to wait for a lock SQLite refused it — a read
    outside the write transaction, which SQLite refuses only in rare moments (a checkpoint)."""
    many = params if isinstance(params, Sequence) else (params,)
    try:
        values = [form.values(one) for one in many]
    except _Unsupported:
        return None
    rows: list[DirectRow] = []
    count = 0
    for one in values:
        try:
            cursor = connection.execute(form.sql, one)
            if form.row is not None:
                rows.extend(form.rows(cursor.fetchall()))
        except sqlite3.OperationalError as error:
            if fall_back_if_busy and is_busy(error):
                return None
            raise DBAPIError.instance(form.sql, one, error, sqlite3.Error) from error
        except sqlite3.Error as error:
            raise DBAPIError.instance(form.sql, one, error, sqlite3.Error) from error
        count += cursor.rowcount
    return DirectResult(rows, count)
