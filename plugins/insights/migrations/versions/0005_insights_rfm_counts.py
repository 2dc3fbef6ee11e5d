"""insights: the RFM segment distribution per day, for charts

Revision ID: insights_0005
Revises: insights_0004
Create Date: 2026-12-06 16:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "insights_0005"
down_revision = "insights_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "insights_rfm_count",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("customer", sa.String(length=10), nullable=False),
        sa.Column("segment", sa.String(length=60), nullable=False),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insights_rfm_count")),
        sa.UniqueConstraint("day", "customer", "segment", name=op.f("uq_insights_rfm_count_day_customer_segment")),
    )


def downgrade() -> None:
    op.drop_table("insights_rfm_count")
