"""Moderation: reports, bans, appeals, warnings, word filters, file bans, the mod log, site
settings; board settings for rules, the approval queue, the mod log and IP retention; posts and
threads held for approval and the public ban mark on posts.

Revision ID: 0005_moderation
Revises: 0003_events
Create Date: 2026-11-28 07:00:00

Chained after the head it was written against (0004_accounts → 0002_media → 0003_events) so
the tree keeps a single head.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from imageboard.core.types import UTCDateTime

revision: str = "0005_moderation"
down_revision: str | None = "0003_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("boards", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rules", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("announcement", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("hold_threads", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("hold_links_files", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("hold_new_posters", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("modlog_show_names", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("ip_retention_days", sa.Integer(), nullable=False, server_default="30"))
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("held", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("held", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("ban_message", sa.String(length=200), nullable=True))
        batch_op.create_index("ix_posts_ip", ["ip"], unique=False)
        batch_op.create_index("ix_posts_held", ["held"], unique=False)
        batch_op.create_index(
            "ix_posts_ip_kept",
            ["created_at"],
            unique=False,
            sqlite_where=sa.text("ip IS NOT NULL"),
            postgresql_where=sa.text("ip IS NOT NULL"),
        )

    op.create_table(
        "bans",
        sa.Column("id", BigId, nullable=False),
        sa.Column("board_uri", sa.String(length=32), nullable=True),
        sa.Column("network", sa.String(length=64), nullable=True),
        sa.Column("ip_start", sa.String(length=32), nullable=True),
        sa.Column("ip_end", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("post_board", sa.String(length=32), nullable=True),
        sa.Column("post_no", sa.BigInteger(), nullable=True),
        sa.Column("public_mark", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_by", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bans")),
    )
    with op.batch_alter_table("bans", schema=None) as batch_op:
        batch_op.create_index("ix_bans_range", ["ip_start", "ip_end"], unique=False)

    op.create_table(
        "appeals",
        sa.Column("id", BigId, nullable=False),
        sa.Column("ban_id", BigId, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("decided_by", sa.String(length=32), nullable=True),
        sa.Column("response", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["ban_id"], ["bans.id"], name=op.f("fk_appeals_ban_id_bans"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appeals")),
    )
    with op.batch_alter_table("appeals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_appeals_ban_id"), ["ban_id"], unique=False)
        batch_op.create_index("ix_appeals_status", ["status", "created_at"], unique=False)

    op.create_table(
        "warnings",
        sa.Column("id", BigId, nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("board_uri", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("post_board", sa.String(length=32), nullable=True),
        sa.Column("post_no", sa.BigInteger(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("seen_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_warnings")),
    )
    with op.batch_alter_table("warnings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_warnings_ip"), ["ip"], unique=False)

    op.create_table(
        "reports",
        sa.Column("id", BigId, nullable=False),
        sa.Column("post_id", BigId, nullable=False),
        sa.Column("board_uri", sa.String(length=32), nullable=False),
        sa.Column("post_no", sa.BigInteger(), nullable=False),
        sa.Column("is_global", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("reporter_ip", sa.String(length=45), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("handled_at", UTCDateTime(), nullable=True),
        sa.Column("handled_by", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], name=op.f("fk_reports_post_id_posts"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
        sa.UniqueConstraint("post_id", "reporter_ip", name=op.f("uq_reports_post_id")),
    )
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.create_index("ix_reports_queue", ["status", "board_uri", "created_at"], unique=False)

    op.create_table(
        "mod_log",
        sa.Column("id", BigId, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=32), nullable=False),
        sa.Column("board_uri", sa.String(length=32), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mod_log")),
    )
    with op.batch_alter_table("mod_log", schema=None) as batch_op:
        batch_op.create_index("ix_mod_log_board_time", ["board_uri", "created_at"], unique=False)

    op.create_table(
        "word_filters",
        sa.Column("id", BigId, nullable=False),
        sa.Column("board_uri", sa.String(length=32), nullable=True),
        sa.Column("pattern", sa.String(length=500), nullable=False),
        sa.Column("is_regex", sa.Boolean(), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("replacement", sa.String(length=500), nullable=False),
        sa.Column("ban_hours", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_word_filters")),
    )
    with op.batch_alter_table("word_filters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_word_filters_board_uri"), ["board_uri"], unique=False)

    op.create_table(
        "file_bans",
        sa.Column("id", BigId, nullable=False),
        sa.Column("board_uri", sa.String(length=32), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("phash", sa.String(length=16), nullable=True),
        sa.Column("distance", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_file_bans")),
    )
    with op.batch_alter_table("file_bans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_file_bans_sha256"), ["sha256"], unique=False)

    op.create_table(
        "site_settings",
        sa.Column("key", sa.String(length=50), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_site_settings")),
    )


def downgrade() -> None:
    op.drop_table("site_settings")
    with op.batch_alter_table("file_bans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_file_bans_sha256"))
    op.drop_table("file_bans")
    with op.batch_alter_table("word_filters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_word_filters_board_uri"))
    op.drop_table("word_filters")
    with op.batch_alter_table("mod_log", schema=None) as batch_op:
        batch_op.drop_index("ix_mod_log_board_time")
    op.drop_table("mod_log")
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index("ix_reports_queue")
    op.drop_table("reports")
    with op.batch_alter_table("warnings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_warnings_ip"))
    op.drop_table("warnings")
    with op.batch_alter_table("appeals", schema=None) as batch_op:
        batch_op.drop_index("ix_appeals_status")
        batch_op.drop_index(batch_op.f("ix_appeals_ban_id"))
    op.drop_table("appeals")
    with op.batch_alter_table("bans", schema=None) as batch_op:
        batch_op.drop_index("ix_bans_range")
    op.drop_table("bans")

    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_index("ix_posts_ip_kept")
        batch_op.drop_index("ix_posts_held")
        batch_op.drop_index("ix_posts_ip")
        batch_op.drop_column("ban_message")
        batch_op.drop_column("held")
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.drop_column("held")
    with op.batch_alter_table("boards", schema=None) as batch_op:
        batch_op.drop_column("ip_retention_days")
        batch_op.drop_column("modlog_show_names")
        batch_op.drop_column("hold_new_posters")
        batch_op.drop_column("hold_links_files")
        batch_op.drop_column("hold_threads")
        batch_op.drop_column("announcement")
        batch_op.drop_column("rules")
