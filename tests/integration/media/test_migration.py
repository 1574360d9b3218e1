"""The media migration on fresh SQLite and PostgreSQL databases: upgrade, downgrade, upgrade
again, and the migrated tables match the models."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

import imageboard.media.models  # noqa: F401  (registers the tables on the metadata)
from imageboard.core.db import Base
from imageboard.core.migrate import alembic_config, downgrade, upgrade

MEDIA_TABLES = {"media_blobs", "attachments"}


async def _inspect(url: str) -> tuple[set[str], dict[str, set[str]], list[Any]]:
    """Tables, the media tables' indexes, and the autogenerate diff of the media tables."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:

            def run(sync: Any) -> tuple[set[str], dict[str, set[str]], list[Any]]:
                inspector = inspect(sync)
                tables = set(inspector.get_table_names())
                indexes = {t: {i["name"] for i in inspector.get_indexes(t)} for t in MEDIA_TABLES & tables}
                context = MigrationContext.configure(sync, opts={"compare_type": True})
                diff = [d for d in compare_metadata(context, Base.metadata) if _table_of(d) in MEDIA_TABLES]
                return tables, indexes, diff

            return await connection.run_sync(run)
    finally:
        await engine.dispose()


def _table_of(diff: Any) -> str | None:
    if isinstance(diff, list):  # modify_* entries come wrapped in a list
        diff = diff[0]
    kind = diff[0]
    if kind in ("add_table", "remove_table"):
        return str(diff[1].name)
    if kind in ("add_index", "remove_index", "add_constraint", "remove_constraint"):
        return str(diff[1].table.name)
    if kind in ("add_fk", "remove_fk"):
        return str(diff[1].parent.name)
    if kind in ("add_column", "remove_column"):
        return str(diff[2])
    if kind.startswith("modify_"):
        return str(diff[2])
    return None


def test_one_head() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    heads = script.get_heads()
    assert len(heads) == 1, f"the migration tree has several heads: {heads}"
    assert script.get_revision("0002_media") is not None


async def test_upgrade_downgrade_upgrade(fresh_url: str) -> None:
    previous = ScriptDirectory.from_config(alembic_config(fresh_url)).get_revision("0002_media").down_revision
    assert isinstance(previous, str)

    upgrade(fresh_url)
    tables, indexes, diff = await _inspect(fresh_url)
    assert tables >= MEDIA_TABLES | {"posts", "boards"}
    assert indexes["attachments"] >= {
        "ix_attachments_post_position",
        "ix_attachments_board_blob",
        "ix_attachments_blob",
    }
    assert diff == []  # the migration creates exactly what the models describe

    downgrade(fresh_url, previous)
    tables, _, _ = await _inspect(fresh_url)
    assert not tables & MEDIA_TABLES
    assert {"posts", "boards"} <= tables

    upgrade(fresh_url)
    tables, _, diff = await _inspect(fresh_url)
    assert tables >= MEDIA_TABLES
    assert diff == []
