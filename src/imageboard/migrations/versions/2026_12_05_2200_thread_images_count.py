"""A thread's ``file_count`` counts the live files of its visible replies only.

It used to count the opening post's files too, the files of held replies, and files staff
had deleted; index pages, the catalog and thread documents then disagreed on ``images``.
The count is rebuilt from the attachments: files not deleted, on replies not held. The
downgrade rebuilds the old meaning (every file not deleted, opening post included).

Revision ID: 0012_thread_images_count
Revises: 0011_partial_held_index
Create Date: 2026-12-05 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_thread_images_count"
down_revision: str | None = "0011_partial_held_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RECOUNT = """
UPDATE threads SET file_count = (
    SELECT count(*) FROM attachments JOIN posts ON posts.id = attachments.post_id
    WHERE posts.thread_id = threads.id AND attachments.deleted = :no {replies}
)
"""


def upgrade() -> None:
    recount = sa.text(_RECOUNT.format(replies="AND posts.is_op = :no AND posts.held = :no"))
    op.get_bind().execute(recount.bindparams(sa.bindparam("no", False, type_=sa.Boolean())))


def downgrade() -> None:
    recount = sa.text(_RECOUNT.format(replies=""))
    op.get_bind().execute(recount.bindparams(sa.bindparam("no", False, type_=sa.Boolean())))
