"""Tables of the search context.

The index has a different shape on each database, so it is created by hand in the migration
(``2026_11_28_0900_create_search.py``) and kept out of ``Base.metadata`` (autogenerate would
otherwise try to create an FTS5 table on PostgreSQL, or drop it on SQLite):

SQLite
    ``search_fts``: an FTS5 table (tokenizer ``unicode61 remove_diacritics 2``) holding each
    post's subject and comment, its rowid the post's id. ``snippet()``/``highlight()`` read
    the text from here.
PostgreSQL
    ``search_documents(post_id, board_id, document)``: the ``tsvector`` of subject and
    comment (the ``simple`` configuration: lower-cased words, no stemming, no stop words — a
    site in every language), made by the SQL function ``search_document(subject, comment)``,
    with a GIN index, and an index on ``(board_id, post_id)`` for a board's newest
    documents. ``ts_headline`` reads the text from ``posts``.

On both, the database itself keeps the index in step with ``posts`` where a change must be
atomic, on every path that deletes, edits or moves posts: a deleted post's row goes with it
(a foreign key with ON DELETE CASCADE on PostgreSQL, a trigger on SQLite), an edited post's
text is indexed again and a moved post's ``board_id`` follows it (triggers). New posts are
indexed by the search service (in the posting transaction, or by the worker).

``posts``, ``threads`` and ``boards`` below are a read-only projection of the boards
context's tables — only the columns a search joins on and shows — since search results are
always joined to the live posts (a held or deleted post can never be shown).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Integer, MetaData, String, Table, Text
from sqlalchemy.dialects.postgresql import TSVECTOR

from imageboard.core.types import UTCDateTime

SEARCH_TABLES = frozenset(
    {
        "search_documents",
        # FTS5 keeps its index in shadow tables named after the virtual table.
        "search_fts",
        "search_fts_data",
        "search_fts_idx",
        "search_fts_content",
        "search_fts_docsize",
        "search_fts_config",
    }
)


def autogenerate_includes(name: str | None, kind: str, _parents: object) -> bool:
    """Alembic's ``include_name`` hook: autogenerate leaves the search index alone (it differs
    by database and is made by hand in its migration)."""
    return not (kind == "table" and name in SEARCH_TABLES)


SQLITE_TRIGGERS = ("search_fts_post_deleted", "search_fts_post_edited")
POSTGRES_TRIGGERS = ("search_documents_post_changed",)

metadata = MetaData()

search_fts = Table(
    "search_fts",
    metadata,
    Column("rowid", Integer, primary_key=True),  # the post's id
    Column("subject", Text),
    Column("comment", Text),
)

search_documents = Table(
    "search_documents",
    metadata,
    Column("post_id", BigInteger, primary_key=True),
    Column("board_id", BigInteger),
    Column("document", TSVECTOR),
)

# --- the boards context's tables, as far as search reads them ------------------------------

posts = Table(
    "posts",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("board_id", BigInteger),
    Column("thread_id", BigInteger),
    Column("no", BigInteger),
    Column("is_op", Boolean),
    Column("created_at", UTCDateTime),
    Column("subject", String),
    Column("comment", Text),
    Column("held", Boolean),
)

threads = Table(
    "threads",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("no", BigInteger),
    Column("held", Boolean),
    Column("archived", Boolean),
)

boards = Table(
    "boards",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("uri", String),
)
