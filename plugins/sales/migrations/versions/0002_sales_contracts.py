"""sales contracts: terms and their alerts (one per term and kind)

Revision ID: sales_0002
Revises: sales_0001
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

import enishi.plugin

revision = "sales_0002"
down_revision = "sales_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sales_contract",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("deal_id", sa.Uuid(), nullable=True),
        sa.Column("previous_id", sa.Uuid(), nullable=True),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("term", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("billing_cycle", sa.String(length=12), nullable=False),
        sa.Column("auto_renew", sa.Boolean(), nullable=False),
        sa.Column("notice_days", sa.Integer(), nullable=False),
        sa.Column("notice_deadline", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("end_date >= start_date", name=op.f("ck_sales_contract_ends_after_start")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["core_account.id"], name=op.f("fk_sales_contract_account_id_core_account"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["deal_id"], ["sales_deal.id"], name=op.f("fk_sales_contract_deal_id_sales_deal"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["core_user.id"], name=op.f("fk_sales_contract_owner_id_core_user"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["previous_id"], ["sales_contract.id"], name=op.f("fk_sales_contract_previous_id_sales_contract")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sales_contract")),
        sa.UniqueConstraint("previous_id", name=op.f("uq_sales_contract_previous_id")),
    )
    with op.batch_alter_table("sales_contract", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sales_contract_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sales_contract_deal_id"), ["deal_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sales_contract_end_date"), ["end_date"], unique=False)
        batch_op.create_index(batch_op.f("ix_sales_contract_notice_deadline"), ["notice_deadline"], unique=False)

    op.create_table(
        "sales_contract_alert",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("contract_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=True),
        sa.Column("raised_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["sales_contract.id"],
            name=op.f("fk_sales_contract_alert_contract_id_sales_contract"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["core_task.id"], name=op.f("fk_sales_contract_alert_task_id_core_task"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sales_contract_alert")),
        sa.UniqueConstraint("contract_id", "kind", name=op.f("uq_sales_contract_alert_contract_id_kind")),
    )


def downgrade() -> None:
    op.drop_table("sales_contract_alert")
    op.drop_table("sales_contract")
