"""``UTCDateTime`` reads SQLite's text as aware UTC datetimes, by its one-parse path and the
general one alike."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select, text
from sqlalchemy.dialects import sqlite

from imageboard.core.types import UTCDateTime

metadata = MetaData()
stamps = Table("stamps", metadata, Column("id", Integer, primary_key=True), Column("at", UTCDateTime()))


def test_sqlite_round_trips_aware_utc_datetimes() -> None:
    rng = random.Random(7)
    moments = [datetime(2026, 12, 6, tzinfo=UTC) + timedelta(seconds=rng.uniform(-3e8, 3e8)) for _ in range(200)]
    moments += [
        datetime(2026, 12, 6, 10, 44, 24, tzinfo=UTC),  # no microseconds
        datetime(2026, 12, 6, 12, 44, 24, 5, tzinfo=timezone(timedelta(hours=2))),  # stored as UTC
    ]
    engine = create_engine("sqlite://")
    with engine.begin() as connection:
        metadata.create_all(connection)
        connection.execute(insert(stamps), [{"id": n, "at": at} for n, at in enumerate(moments)])
        connection.execute(insert(stamps), [{"id": -1, "at": None}])
        # Text that SQLAlchemy did not write: an offset of its own, and SQLite's CURRENT_TIMESTAMP.
        connection.execute(text("INSERT INTO stamps VALUES (-2, '2026-12-06T10:44:24.5+02:00')"))
        connection.execute(text("INSERT INTO stamps VALUES (-3, CURRENT_TIMESTAMP)"))
        read = dict(connection.execute(select(stamps.c.id, stamps.c.at)).all())
    assert [read[n] for n in range(len(moments))] == moments
    assert all(read[n].tzinfo is UTC for n in range(len(moments)))
    assert read[-1] is None
    assert read[-2] == datetime(2026, 12, 6, 8, 44, 24, 500000, tzinfo=UTC)
    assert read[-3].tzinfo is UTC and abs(read[-3] - datetime.now(UTC)) < timedelta(minutes=5)


@pytest.mark.parametrize(
    "stored", ["2026-12-06 10:44:24.123456", "2026-12-06 10:44:24", "1999-01-01 00:00:00.000001", None]
)
def test_the_one_parse_path_reads_as_the_general_one(stored: str | None) -> None:
    dialect = sqlite.dialect()
    column = UTCDateTime().dialect_impl(dialect)  # as SQLAlchemy adapts it to SQLite
    fast = column.result_processor(dialect, None)
    general = super(UTCDateTime, column).result_processor(dialect, None)
    assert fast is not None and general is not None and fast is not general
    assert fast(stored) == general(stored)
    assert stored is None or fast(stored).tzinfo is UTC
