"""Boards, threads, posts and quotes.

Revision ID: 0001_core
Revises:
Create Date: 2026-11-28 02:55:46.715610
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from imageboard.core.types import UTCDateTime

revision: str = "0001_core"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "boards",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("uri", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("work_safe", sa.Boolean(), nullable=False),
        sa.Column("threads_per_page", sa.Integer(), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("bump_limit", sa.Integer(), nullable=False),
        sa.Column("image_limit", sa.Integer(), nullable=False),
        sa.Column("max_comment_length", sa.Integer(), nullable=False),
        sa.Column("forced_anonymous", sa.Boolean(), nullable=False),
        sa.Column("default_name", sa.String(length=50), nullable=False),
        sa.Column("poster_ids", sa.Boolean(), nullable=False),
        sa.Column("text_only", sa.Boolean(), nullable=False),
        sa.Column("require_subject", sa.Boolean(), nullable=False),
        sa.Column("require_file", sa.Boolean(), nullable=False),
        sa.Column("country_flags", sa.Boolean(), nullable=False),
        sa.Column("cyclic_limit", sa.Integer(), nullable=False),
        sa.Column("archive_enabled", sa.Boolean(), nullable=False),
        sa.Column("archive_days", sa.Integer(), nullable=False),
        sa.Column("last_post_no", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_boards")),
        sa.UniqueConstraint("uri", name=op.f("uq_boards_uri")),
    )
    op.create_table(
        "threads",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("board_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("no", sa.BigInteger(), nullable=False),
        sa.Column("subject", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("bumped_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("reply_count", sa.Integer(), nullable=False),
        sa.Column("file_count", sa.Integer(), nullable=False),
        sa.Column("sticky", sa.Boolean(), nullable=False),
        sa.Column("locked", sa.Boolean(), nullable=False),
        sa.Column("cyclic", sa.Boolean(), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("archived_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["board_id"], ["boards.id"], name=op.f("fk_threads_board_id_boards"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_threads")),
        sa.UniqueConstraint("board_id", "no", name=op.f("uq_threads_board_id")),
    )
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.create_index("ix_threads_archived_at", ["archived", "archived_at"], unique=False)
        batch_op.create_index(
            "ix_threads_board_live_bump", ["board_id", "archived", "sticky", "bumped_at"], unique=False
        )
    op.create_table(
        "posts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("board_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("thread_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("no", sa.BigInteger(), nullable=False),
        sa.Column("is_op", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("tripcode", sa.String(length=40), nullable=True),
        sa.Column("capcode", sa.String(length=20), nullable=True),
        sa.Column("subject", sa.String(length=100), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("comment_html", sa.Text(), nullable=False),
        sa.Column("sage", sa.Boolean(), nullable=False),
        sa.Column("poster_id", sa.String(length=16), nullable=True),
        sa.Column("country_code", sa.String(length=2), nullable=True),
        sa.Column("country_name", sa.String(length=64), nullable=True),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("password_digest", sa.String(length=64), nullable=True),
        sa.Column("edited_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["board_id"], ["boards.id"], name=op.f("fk_posts_board_id_boards"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["thread_id"], ["threads.id"], name=op.f("fk_posts_thread_id_threads"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_posts")),
        sa.UniqueConstraint("board_id", "no", name=op.f("uq_posts_board_id")),
    )
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.create_index("ix_posts_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_posts_thread_no", ["thread_id", "no"], unique=False)
    op.create_table(
        "post_quotes",
        sa.Column("source_post_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("target_board_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("target_no", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_post_id"], ["posts.id"], name=op.f("fk_post_quotes_source_post_id_posts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["target_board_id"], ["boards.id"], name=op.f("fk_post_quotes_target_board_id_boards"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("source_post_id", "target_board_id", "target_no", name=op.f("pk_post_quotes")),
    )
    with op.batch_alter_table("post_quotes", schema=None) as batch_op:
        batch_op.create_index("ix_post_quotes_target", ["target_board_id", "target_no"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("post_quotes", schema=None) as batch_op:
        batch_op.drop_index("ix_post_quotes_target")

    op.drop_table("post_quotes")
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_index("ix_posts_thread_no")
        batch_op.drop_index("ix_posts_created_at")

    op.drop_table("posts")
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.drop_index("ix_threads_board_live_bump")
        batch_op.drop_index("ix_threads_archived_at")

    op.drop_table("threads")
    op.drop_table("boards")
