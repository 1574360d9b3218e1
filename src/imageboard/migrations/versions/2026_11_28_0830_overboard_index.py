"""Indexes for the overboard (live threads in bump order) and for opening posts.

Revision ID: 0007_overboard_index
Revises: 0006_board_settings
Create Date: 2026-11-28 08:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_overboard_index"
down_revision: str | None = "0006_board_settings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.create_index("ix_threads_live_bump", ["archived", "bumped_at"], unique=False)
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_posts_opening", ["thread_id"], unique=False,
            postgresql_where=sa.text("is_op"), sqlite_where=sa.text("is_op"),
        )


def downgrade() -> None:
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_index("ix_posts_opening")
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.drop_index("ix_threads_live_bump")
