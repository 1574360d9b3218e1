"""Full-text search of posts: an FTS5 table on SQLite, a tsvector table with a GIN index on
PostgreSQL (see ``imageboard.search.models``); existing posts are indexed here.

The database keeps the index in step where it must be atomic: a deleted post leaves it (ON
DELETE CASCADE on PostgreSQL, a trigger on SQLite), an edited post is re-indexed and a moved
one follows to its board (a trigger on both). On SQLite, a later migration that rebuilds ``posts`` in batch mode (copy
and rename) drops these triggers with the old table and must create them again;
``tests/integration/search/test_migration.py`` fails at head when they are missing.

Revision ID: 0008_search
Revises: 0007_overboard_index
Create Date: 2026-11-28 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008_search"
down_revision: str | None = "0007_overboard_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_UPGRADE = (
    "CREATE VIRTUAL TABLE search_fts USING fts5(subject, comment, tokenize = 'unicode61 remove_diacritics 2')",
    "INSERT INTO search_fts (rowid, subject, comment) SELECT id, subject, comment FROM posts",
    """
    CREATE TRIGGER search_fts_post_deleted AFTER DELETE ON posts
    BEGIN
        DELETE FROM search_fts WHERE rowid = old.id;
    END
    """,
    # Only posts already indexed are updated: with worker indexing a post may not be yet.
    """
    CREATE TRIGGER search_fts_post_edited AFTER UPDATE OF subject, comment ON posts
    BEGIN
        UPDATE search_fts SET subject = new.subject, comment = new.comment WHERE rowid = new.id;
    END
    """,
)
SQLITE_DOWNGRADE = (
    "DROP TRIGGER IF EXISTS search_fts_post_edited",
    "DROP TRIGGER IF EXISTS search_fts_post_deleted",
    "DROP TABLE IF EXISTS search_fts",
)

POSTGRES_UPGRADE = (
    # The text as the search sees it. PostgreSQL's parser takes "<world>" for an HTML tag and
    # drops it, from documents and headlines alike; posts are plain text, so '<' and '>'
    # become \x01 and \x02 (separators to the parser, turned back by the search service).
    """
    CREATE FUNCTION search_text(value text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT translate(coalesce(value, ''), '<>', chr(1) || chr(2)) $$
    """,
    # The one definition of a post's document, used by the service, the trigger and the
    # backfill. 'simple': lower-cased words, no stemming or stop words, for every language.
    """
    CREATE FUNCTION search_document(subject text, comment text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
        SELECT to_tsvector('simple'::regconfig, search_text(subject))
            || to_tsvector('simple'::regconfig, search_text(comment))
    $$
    """,
    # board_id: a board's newest documents are read along (board_id, post_id).
    """
    CREATE TABLE search_documents (
        post_id BIGINT NOT NULL,
        board_id BIGINT NOT NULL,
        document tsvector NOT NULL,
        CONSTRAINT pk_search_documents PRIMARY KEY (post_id),
        CONSTRAINT fk_search_documents_post_id_posts FOREIGN KEY (post_id)
            REFERENCES posts (id) ON DELETE CASCADE
    )
    """,
    """
    INSERT INTO search_documents (post_id, board_id, document)
    SELECT id, board_id, search_document(subject, comment) FROM posts
    """,
    # fastupdate off: a new post goes straight into the index instead of a pending list that
    # every search would scan (and the planner cost) until the next vacuum. Posting pays a
    # little more; reads, which are far more frequent, stay predictable.
    "CREATE INDEX ix_search_documents_document ON search_documents USING gin (document) WITH (fastupdate = off)",
    "CREATE INDEX ix_search_documents_board_post ON search_documents (board_id, post_id)",
    # An edited post is indexed again; a moved one follows to its new board.
    """
    CREATE FUNCTION search_documents_post_changed() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        UPDATE search_documents
        SET board_id = NEW.board_id, document = search_document(NEW.subject, NEW.comment)
        WHERE post_id = NEW.id;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER search_documents_post_changed AFTER UPDATE OF board_id, subject, comment ON posts
    FOR EACH ROW
    WHEN (
        OLD.board_id IS DISTINCT FROM NEW.board_id
        OR OLD.subject IS DISTINCT FROM NEW.subject
        OR OLD.comment IS DISTINCT FROM NEW.comment
    )
    EXECUTE FUNCTION search_documents_post_changed()
    """,
)
POSTGRES_DOWNGRADE = (
    "DROP TRIGGER IF EXISTS search_documents_post_changed ON posts",
    "DROP FUNCTION IF EXISTS search_documents_post_changed()",
    "DROP TABLE IF EXISTS search_documents",
    "DROP FUNCTION IF EXISTS search_document(text, text)",
    "DROP FUNCTION IF EXISTS search_text(text)",
)


def _run(statements: Sequence[str]) -> None:
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _run(SQLITE_UPGRADE)
    else:
        _run(POSTGRES_UPGRADE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _run(SQLITE_DOWNGRADE)
    else:
        _run(POSTGRES_DOWNGRADE)
