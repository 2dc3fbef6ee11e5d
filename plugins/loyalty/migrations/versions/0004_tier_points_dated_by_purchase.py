"""tier points dated by the purchase, not by when it was recorded

Revision ID: loyalty_0004
Revises: loyalty_0003
Create Date: 2026-12-06 12:00:00

`loyalty_entry.tier_dated_at` is when an entry's tier points count in the rolling 365-day window.
Existing entries keep the date they were recorded (`created_at`), which is what their tiers were
judged on; new purchase points are dated by the purchase.
"""

import sqlalchemy as sa
from alembic import op

import enishi.plugin

revision = "loyalty_0004"
down_revision = "loyalty_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("loyalty_entry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tier_dated_at", enishi.plugin.UTCDateTime(timezone=True), nullable=True))
    op.execute("UPDATE loyalty_entry SET tier_dated_at = created_at")
    with op.batch_alter_table("loyalty_entry", schema=None) as batch_op:
        batch_op.alter_column("tier_dated_at", nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("loyalty_entry", schema=None) as batch_op:
        batch_op.drop_column("tier_dated_at")
