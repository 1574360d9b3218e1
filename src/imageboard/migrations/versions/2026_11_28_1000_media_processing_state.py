"""Attachments get a processing state: a video is checked on the request path and posted at
once; a worker makes its thumbnail and its metadata-free copy afterwards.

``status`` is ``ready`` (every existing row), ``processing`` or ``failed``;
``claimed_until`` is the lease of the worker processing the file (none: anyone may take it)
and ``process_attempts`` counts the tries, so a file that keeps breaking workers is given up.
Plain ADD COLUMNs with server defaults: no table rebuild on SQLite.

Revision ID: 0009_media_processing
Revises: 0008_search
Create Date: 2026-11-28 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from imageboard.core.types import UTCDateTime

revision: str = "0009_media_processing"
down_revision: str | None = "0008_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("attachments", sa.Column("status", sa.String(10), nullable=False, server_default="ready"))
    op.add_column("attachments", sa.Column("claimed_until", UTCDateTime(), nullable=True))
    op.add_column("attachments", sa.Column("process_attempts", sa.Integer(), nullable=False, server_default="0"))
    # The workers' only lookup of files to process; partial, so it holds only those few rows.
    op.create_index(
        "ix_attachments_processing",
        "attachments",
        ["id"],
        postgresql_where=sa.text("status = 'processing'"),
        sqlite_where=sa.text("status = 'processing'"),
    )


def downgrade() -> None:
    op.drop_index("ix_attachments_processing", table_name="attachments")
    with op.batch_alter_table("attachments") as batch:
        batch.drop_column("process_attempts")
        batch.drop_column("claimed_until")
        batch.drop_column("status")
