"""test clocks: the server-wide simulated "now" outside production mode (docs/test-clocks.md)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 02:45:00
"""

import sqlalchemy as sa
from alembic import op

import enishi.db

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "core_test_clock",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("frozen_time", enishi.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", enishi.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("slot = 1", name=op.f("ck_core_test_clock_one_clock")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_test_clock")),
        sa.UniqueConstraint("slot", name=op.f("uq_core_test_clock_slot")),
    )


def downgrade() -> None:
    op.drop_table("core_test_clock")
