"""sales quotas per owner and period

Revision ID: sales_0003
Revises: sales_0002
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

import enishi.plugin

revision = "sales_0003"
down_revision = "sales_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sales_quota",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("updated_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["core_user.id"], name=op.f("fk_sales_quota_owner_id_core_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sales_quota")),
        sa.UniqueConstraint(
            "owner_id", "period", "period_start", "currency", name=op.f("uq_sales_quota_owner_id_period_period_start_currency")
        ),
    )
    with op.batch_alter_table("sales_quota", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sales_quota_owner_id"), ["owner_id"], unique=False)


def downgrade() -> None:
    op.drop_table("sales_quota")
