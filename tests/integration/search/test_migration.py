"""The search migration on fresh SQLite and PostgreSQL databases: existing posts are indexed,
the database-side upkeep (triggers, cascade) is in place at head, downgrade and upgrade again
work, and autogenerate leaves the hand-made index alone."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

import imageboard.accounts.models
import imageboard.boards.models
import imageboard.events.models
import imageboard.media.models
import imageboard.moderation.models  # noqa: F401  (the whole schema, as env.py sees it)
from imageboard.core.db import Base, Database
from imageboard.core.migrate import alembic_config, downgrade, upgrade
from imageboard.search import SearchService
from imageboard.search.models import POSTGRES_TRIGGERS, SEARCH_TABLES, SQLITE_TRIGGERS, autogenerate_includes

REVISION = "0008_search"


def _previous() -> str:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    previous = script.get_revision(REVISION).down_revision
    assert isinstance(previous, str)
    return previous


async def _sql(url: str, *statements: str) -> list[Any]:
    engine = create_async_engine(url)
    results: list[Any] = []
    try:
        async with engine.begin() as connection:
            for statement in statements:
                result = await connection.execute(text(statement))
                results.append(result.all() if result.returns_rows else None)
    finally:
        await engine.dispose()
    return results


async def _old_posts(url: str) -> None:
    """Posts written before search existed."""
    await _sql(
        url,
        "INSERT INTO boards (uri, title, description, work_safe, threads_per_page, pages, bump_limit, image_limit, "
        "max_comment_length, forced_anonymous, default_name, poster_ids, text_only, require_subject, require_file, "
        "country_flags, cyclic_limit, archive_enabled, archive_days, last_post_no, created_at, updated_at) "
        "VALUES ('b', 'Random', '', false, 15, 10, 300, 150, 2000, false, 'Anonymous', false, false, false, false, "
        "false, 250, true, 7, 2, '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
        "INSERT INTO threads (board_id, no, subject, created_at, bumped_at, updated_at, reply_count, file_count, "
        "sticky, locked, cyclic, archived) VALUES (1, 1, 'Old thread', '2026-01-01 00:00:00', "
        "'2026-01-01 00:00:00', '2026-01-01 00:00:00', 1, 0, false, false, false, false)",
        "INSERT INTO posts (board_id, thread_id, no, is_op, created_at, name, subject, comment, comment_html, sage) "
        "VALUES (1, 1, 1, true, '2026-01-01 00:00:00', 'Anonymous', 'Old thread', 'an ancient armadillo', '', false), "
        "(1, 1, 2, false, '2026-01-01 00:00:00', 'Anonymous', '', 'armadillo <b>reply</b>', '', false)",
    )


async def _schema(url: str) -> tuple[set[str], set[str], list[Any]]:
    """Tables, triggers, and autogenerate's diff of the whole schema as env.py runs it."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:

            def run(sync: Any) -> tuple[set[str], set[str], list[Any]]:
                tables = set(inspect(sync).get_table_names())
                if sync.dialect.name == "sqlite":
                    query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
                else:
                    query = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
                triggers = {row[0] for row in sync.exec_driver_sql(query)}
                context = MigrationContext.configure(
                    sync, opts={"compare_type": True, "include_name": autogenerate_includes}
                )
                return tables, triggers, compare_metadata(context, Base.metadata)

            return await connection.run_sync(run)
    finally:
        await engine.dispose()


def _mentions_search(diff: Any) -> bool:
    return any(name in repr(diff) for name in SEARCH_TABLES)


async def test_upgrade_indexes_existing_posts_and_downgrade_removes_everything(fresh_url: str) -> None:
    sqlite = fresh_url.startswith("sqlite")
    upgrade(fresh_url, _previous())
    await _old_posts(fresh_url)
    upgrade(fresh_url, REVISION)

    tables, triggers, diff = await _schema(fresh_url)
    assert ({"search_fts"} if sqlite else {"search_documents"}) <= tables
    assert set(SQLITE_TRIGGERS if sqlite else POSTGRES_TRIGGERS) <= triggers
    assert not [d for d in diff if _mentions_search(d)], diff

    db = Database(fresh_url)
    try:
        search = SearchService(db)
        hits = (await search.search("armadillo")).hits
        assert [(h.board, h.no) for h in hits] == [("b", 2), ("b", 1)]
        assert hits[0].snippet_html == "<mark>armadillo</mark> &lt;b&gt;reply&lt;/b&gt;"
        assert await search.indexed_count() == 2
    finally:
        await db.dispose()

    downgrade(fresh_url, _previous())
    tables, triggers, _diff = await _schema(fresh_url)
    assert not tables & SEARCH_TABLES
    assert not triggers & {*SQLITE_TRIGGERS, *POSTGRES_TRIGGERS}
    if not sqlite:
        functions = await _sql(fresh_url, "SELECT proname FROM pg_proc WHERE proname LIKE 'search_%'")
        assert functions[0] == []

    upgrade(fresh_url, "head")
    tables, triggers, _diff = await _schema(fresh_url)
    assert set(SQLITE_TRIGGERS if sqlite else POSTGRES_TRIGGERS) <= triggers


async def test_the_index_upkeep_is_in_place_at_head(database: Database) -> None:
    """A later migration that rebuilds ``posts`` on SQLite (batch mode: copy and rename) drops
    the triggers with the old table; it must create them again, or deleted posts would keep
    their index rows there (results would still hide them: they are joined to live posts)."""
    async with database.reader() as session:
        if database.is_sqlite:
            rows = await session.execute(text("SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger'"))
            assert {(name, "posts") for name in SQLITE_TRIGGERS} <= {(str(a), str(b)) for a, b in rows.all()}
        else:
            rows = await session.execute(
                text("SELECT tgname FROM pg_trigger WHERE tgrelid = 'posts'::regclass AND NOT tgisinternal")
            )
            assert set(POSTGRES_TRIGGERS) <= set(rows.scalars().all())
            cascade = await session.execute(
                text(
                    "SELECT confdeltype::text FROM pg_constraint WHERE conrelid = 'search_documents'::regclass "
                    "AND confrelid = 'posts'::regclass AND contype = 'f'"
                )
            )
            assert cascade.scalar_one() == "c"
            index = await session.execute(
                text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_search_documents_document'")
            )
            assert "USING gin (document)" in index.scalar_one()
