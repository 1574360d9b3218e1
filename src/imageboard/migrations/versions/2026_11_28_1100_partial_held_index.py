"""ix_posts_held becomes a partial index over the held posts only.

On the whole ``held`` column SQLite's planner took it for ``held IS 0`` filters (thread and
catalog queries) and walked every visible post of the site; the only query that wants it is
the approval queue (held posts, oldest first), which a partial index on ``created_at`` serves
while staying as small as the queue.

Revision ID: 0011_partial_held_index
Revises: 0010_board_images
Create Date: 2026-11-28 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_partial_held_index"
down_revision: str | None = "0010_board_images"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_index("ix_posts_held")
        # The predicates are the ones SQLAlchemy renders for a bare ``Post.held`` condition on
        # each database, so the queue's query matches them exactly (a planner only uses a
        # partial index when the query implies its WHERE).
        batch_op.create_index(
            "ix_posts_held", ["created_at"], unique=False,
            sqlite_where=sa.text("held = 1"), postgresql_where=sa.text("held"),
        )


def downgrade() -> None:
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_index("ix_posts_held")
        batch_op.create_index("ix_posts_held", ["held"], unique=False)
