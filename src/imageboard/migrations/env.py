"""Alembic environment: async engine, one tree for SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

# Every context's tables, so autogenerate sees the whole schema.
import imageboard.accounts.models
import imageboard.boards.models
import imageboard.events.models
import imageboard.media.models
import imageboard.moderation.models  # noqa: F401
from imageboard.core.db import Base
from imageboard.core.types import UTCDateTime
from imageboard.search.models import autogenerate_includes

config = context.config
target_metadata = Base.metadata


def _render_item(kind: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Autogenerate writes our column types by their short name, with their import."""
    if kind == "type" and isinstance(obj, UTCDateTime):
        autogen_context.imports.add("from imageboard.core.types import UTCDateTime")
        return "UTCDateTime()"
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_item=_render_item,
        include_name=autogenerate_includes,  # not the search index: made by hand per database
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copy
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _online(url: str) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


def _run_blocking(work: Coroutine[Any, Any, None]) -> None:
    """Migrations are called from plain code (the CLI) and from code already inside an event
    loop (tests, start-up hooks); in the second case they get a loop of their own in a thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(work)
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, work).result()


def main() -> None:
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL given to the migrations")
    if "connection" in config.attributes:
        _run(config.attributes["connection"])
    else:
        _run_blocking(_online(url))


main()
