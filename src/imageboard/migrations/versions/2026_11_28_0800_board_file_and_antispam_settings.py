"""Boards choose their file kinds, sizes and counts, and may override anti-spam limits.

Revision ID: 0006_board_settings
Revises: 0005_moderation
Create Date: 2026-11-28 04:06:40.867701
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_board_settings"
down_revision: str | None = "0005_moderation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("boards", schema=None) as batch_op:
        batch_op.add_column(sa.Column("max_files", sa.Integer(), nullable=False, server_default="4"))
        batch_op.add_column(sa.Column("max_file_mb", sa.Integer(), nullable=False, server_default="8"))
        batch_op.add_column(
            sa.Column(
                "allowed_media", sa.String(length=200), nullable=False, server_default="jpg,png,gif,webp,avif,webm,mp4"
            )
        )
        batch_op.add_column(sa.Column("unique_files", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("threads_per_window", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("thread_window", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("replies_per_window", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("reply_window", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("files_per_hour", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("duplicate_window", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("max_links", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("warmup_seconds", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("captcha_mode", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("network_list_action", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("automated_checks", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("boards", schema=None) as batch_op:
        batch_op.drop_column("automated_checks")
        batch_op.drop_column("network_list_action")
        batch_op.drop_column("captcha_mode")
        batch_op.drop_column("warmup_seconds")
        batch_op.drop_column("max_links")
        batch_op.drop_column("duplicate_window")
        batch_op.drop_column("files_per_hour")
        batch_op.drop_column("reply_window")
        batch_op.drop_column("replies_per_window")
        batch_op.drop_column("thread_window")
        batch_op.drop_column("threads_per_window")
        batch_op.drop_column("unique_files")
        batch_op.drop_column("allowed_media")
        batch_op.drop_column("max_file_mb")
        batch_op.drop_column("max_files")
