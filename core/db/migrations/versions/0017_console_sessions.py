"""console sign-in: users' password hashes and console language, server-side console sessions

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 11:50:00
"""

import sqlalchemy as sa
from alembic import op

import enishi.db

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "core_console_account",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("ui_locale", sa.String(length=10), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["core_user.id"], name=op.f("fk_core_console_account_user_id_core_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_core_console_account")),
    )
    op.create_table(
        "core_console_session",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("session_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("roles", enishi.db.JSONType, nullable=False),
        sa.Column("created_at", enishi.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", enishi.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["core_user.id"], name=op.f("fk_core_console_session_user_id_core_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_console_session")),
        sa.UniqueConstraint("session_hash", name=op.f("uq_core_console_session_session_hash")),
    )
    with op.batch_alter_table("core_console_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_core_console_session_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("core_console_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_core_console_session_user_id"))
    op.drop_table("core_console_session")
    op.drop_table("core_console_account")
