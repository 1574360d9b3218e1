"""``posts.view_version``: a counter of the changes to what a post shows, kept by triggers.

A rendered post (``imageboard.web.fragments``) is keyed by the post's id and this counter, so
a thread page can tell which of its posts it has already rendered from a narrow query of
(id, view_version), without reading their content. That is only safe if every change to what
the post shows moves the counter, on every path, present and future — so the database moves
it, not the code that makes the change:

- any UPDATE of the post's row (an edit, a ban mark, approval, a move);
- a quote of the post added or removed (its backlinks), including removals by cascade;
- a change of the posts quoting it that changes how they appear among its backlinks (held,
  moved, renumbered);
- its files added, changed (spoilered, deleted, processed) or removed, and a change to a
  stored blob its files show.

On SQLite, a later migration that rebuilds ``posts``, ``post_quotes``, ``attachments`` or
``media_blobs`` in batch mode (copy and rename) drops these triggers with the old table and
must create them again; ``tests/integration/test_view_versions.py`` fails at head when one
is missing.

Revision ID: 0013_post_view_versions
Revises: 0012_thread_images_count
Create Date: 2026-12-06 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_post_view_versions"
down_revision: str | None = "0012_thread_images_count"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The posts that quote-target rows point at, and the posts that show a blob.
_BUMP = "UPDATE posts SET view_version = view_version + 1 WHERE "
_QUOTED_BY = "(board_id, no) IN (SELECT target_board_id, target_no FROM post_quotes WHERE source_post_id = {row}.id)"
_SHOWING_BLOB = "id IN (SELECT post_id FROM attachments WHERE blob_sha256 = {row}.sha256)"
_QUOTING_FIELDS_CHANGED = " OR ".join(
    f"OLD.{column} IS DISTINCT FROM NEW.{column}" for column in ("held", "board_id", "no", "thread_id")
)

SQLITE_TRIGGERS = {
    # SQLite's triggers cannot assign NEW: the row is updated once more, and the WHEN clause
    # keeps that second update (and the triggers' own bumps) from counting again.
    "posts_view_changed": """
        AFTER UPDATE ON posts WHEN NEW.view_version = OLD.view_version
        BEGIN UPDATE posts SET view_version = OLD.view_version + 1 WHERE id = NEW.id; END
    """,
    "posts_quoting_changed": f"""
        AFTER UPDATE OF held, board_id, no, thread_id ON posts
        WHEN {_QUOTING_FIELDS_CHANGED.replace("IS DISTINCT FROM", "IS NOT")}
        BEGIN {_BUMP}{_QUOTED_BY.format(row="NEW")}; END
    """,
    "post_quotes_added": f"""
        AFTER INSERT ON post_quotes
        BEGIN {_BUMP}board_id = NEW.target_board_id AND no = NEW.target_no; END
    """,
    "post_quotes_removed": f"""
        AFTER DELETE ON post_quotes
        BEGIN {_BUMP}board_id = OLD.target_board_id AND no = OLD.target_no; END
    """,
    "attachments_added": f"AFTER INSERT ON attachments BEGIN {_BUMP}id = NEW.post_id; END",
    "attachments_changed": f"AFTER UPDATE ON attachments BEGIN {_BUMP}id IN (OLD.post_id, NEW.post_id); END",
    "attachments_removed": f"AFTER DELETE ON attachments BEGIN {_BUMP}id = OLD.post_id; END",
    "media_blobs_changed": f"AFTER UPDATE ON media_blobs BEGIN {_BUMP}{_SHOWING_BLOB.format(row='NEW')}; END",
}

POSTGRES_FUNCTIONS = {
    "posts_view_changed": "NEW.view_version := OLD.view_version + 1; RETURN NEW;",
    "posts_quoting_changed": f"{_BUMP}{_QUOTED_BY.format(row='NEW')}; RETURN NULL;",
    "post_quotes_changed": f"""
        IF TG_OP = 'DELETE' THEN
            {_BUMP}board_id = OLD.target_board_id AND no = OLD.target_no;
        ELSE
            {_BUMP}board_id = NEW.target_board_id AND no = NEW.target_no;
        END IF;
        RETURN NULL;
    """,
    "attachments_changed": f"""
        IF TG_OP IN ('UPDATE', 'DELETE') THEN {_BUMP}id = OLD.post_id; END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') THEN {_BUMP}id = NEW.post_id; END IF;
        RETURN NULL;
    """,
    "media_blobs_changed": f"{_BUMP}{_SHOWING_BLOB.format(row='NEW')}; RETURN NULL;",
}
POSTGRES_TRIGGERS = {
    # BEFORE: the counter is set in the row being written, no second update. The bumps of the
    # other triggers set it themselves, and the WHEN clause leaves them alone.
    "posts_view_changed": (
        "BEFORE UPDATE ON posts FOR EACH ROW WHEN (OLD.view_version = NEW.view_version)"
    ),
    "posts_quoting_changed": (
        f"AFTER UPDATE OF held, board_id, no, thread_id ON posts FOR EACH ROW WHEN ({_QUOTING_FIELDS_CHANGED})"
    ),
    "post_quotes_changed": "AFTER INSERT OR DELETE ON post_quotes FOR EACH ROW",
    "attachments_changed": "AFTER INSERT OR UPDATE OR DELETE ON attachments FOR EACH ROW",
    "media_blobs_changed": "AFTER UPDATE ON media_blobs FOR EACH ROW",
}
TRIGGER_TABLES = {
    "posts_view_changed": "posts",
    "posts_quoting_changed": "posts",
    "post_quotes_changed": "post_quotes",
    "attachments_changed": "attachments",
    "media_blobs_changed": "media_blobs",
}


def upgrade() -> None:
    op.add_column("posts", sa.Column("view_version", sa.Integer(), nullable=False, server_default="0"))
    if op.get_bind().dialect.name == "sqlite":
        for name, body in SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")
        return
    for name, body in POSTGRES_FUNCTIONS.items():
        op.execute(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} END $$")
        op.execute(f"CREATE TRIGGER {name} {POSTGRES_TRIGGERS[name]} EXECUTE FUNCTION {name}()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    else:
        for name in POSTGRES_FUNCTIONS:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {TRIGGER_TABLES[name]}")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    # Not in batch mode: rebuilding posts would drop the search context's triggers on it.
    # SQLite drops a column in place since 3.35.
    op.drop_column("posts", "view_version")
