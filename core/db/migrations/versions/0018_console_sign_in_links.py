"""console: one-time sign-in links, sign-in throttling, the Japanese era calendar as a choice

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 15:00:00
"""

import sqlalchemy as sa
from alembic import op

import enishi.db

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("core_console_account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("japanese_era", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("core_console_account", schema=None) as batch_op:
        batch_op.alter_column("japanese_era", server_default=None)
    op.create_table(
        "core_console_sign_in_link",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", enishi.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", enishi.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", enishi.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["core_user.id"], name=op.f("fk_core_console_sign_in_link_user_id_core_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_console_sign_in_link")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_core_console_sign_in_link_token_hash")),
    )
    with op.batch_alter_table("core_console_sign_in_link", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_core_console_sign_in_link_user_id"), ["user_id"], unique=False)
    op.create_table(
        "core_sign_in_throttle",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", enishi.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_hash", name=op.f("pk_core_sign_in_throttle")),
    )


def downgrade() -> None:
    op.drop_table("core_sign_in_throttle")
    with op.batch_alter_table("core_console_sign_in_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_core_console_sign_in_link_user_id"))
    op.drop_table("core_console_sign_in_link")
    with op.batch_alter_table("core_console_account", schema=None) as batch_op:
        batch_op.drop_column("japanese_era")
