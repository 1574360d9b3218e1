"""Board banners and a custom spoiler image; the perceptual hash of every stored file.

``boards.banners`` lists the board's banners as stored names (``{sha256}{ext}``, one per
line) and ``boards.custom_spoiler`` names its spoiler image (empty: the site's); the images
themselves live in media storage under ``assets/{board}/``. ``media_blobs.phash`` is the
64-bit dHash (hex) taken at upload, so staff can ban "this file" and its look-alikes; older
blobs have none. Plain ADD COLUMNs with server defaults: no table rebuild on SQLite.

Revision ID: 0010_board_images
Revises: 0009_media_processing
Create Date: 2026-11-28 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_board_images"
down_revision: str | None = "0009_media_processing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("boards", sa.Column("banners", sa.Text(), nullable=False, server_default=""))
    op.add_column("boards", sa.Column("custom_spoiler", sa.String(80), nullable=False, server_default=""))
    op.add_column("media_blobs", sa.Column("phash", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("media_blobs") as batch:
        batch.drop_column("phash")
    with op.batch_alter_table("boards") as batch:
        batch.drop_column("custom_spoiler")
        batch.drop_column("banners")
