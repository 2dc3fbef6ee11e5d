"""throttles: core_sign_in_throttle becomes core_throttle, each count with the end of its window
(throttles have windows of their own now, and the daily job deletes the counts whose window ended)

The counts are not carried over: at most 15 minutes of sign-in attempts are forgotten.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 18:30:00
"""

import sqlalchemy as sa
from alembic import op

import enishi.db

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("core_sign_in_throttle")
    op.create_table(
        "core_throttle",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("window_ends_at", enishi.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_hash", name=op.f("pk_core_throttle")),
    )
    with op.batch_alter_table("core_throttle", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_core_throttle_window_ends_at"), ["window_ends_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("core_throttle", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_core_throttle_window_ends_at"))
    op.drop_table("core_throttle")
    op.create_table(
        "core_sign_in_throttle",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", enishi.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_hash", name=op.f("pk_core_sign_in_throttle")),
    )
