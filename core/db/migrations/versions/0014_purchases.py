"""purchases: the one record of an order that loyalty, insights and shop integrations share

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 08:50:00
"""

import sqlalchemy as sa
from alembic import op

import enishi.db

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "core_purchase",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=True),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("order_ref", sa.String(length=200), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("items", enishi.db.JSONType, nullable=False),
        sa.Column("purchased_at", enishi.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", enishi.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("refunded_at", enishi.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_core_purchase_amount")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["core_account.id"], name=op.f("fk_core_purchase_account_id_core_account"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["core_contact.id"], name=op.f("fk_core_purchase_contact_id_core_contact"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_purchase")),
        sa.UniqueConstraint("channel", "order_ref", name=op.f("uq_core_purchase_channel_order_ref")),
    )
    with op.batch_alter_table("core_purchase", schema=None) as batch_op:
        batch_op.create_index("ix_core_purchase_account_purchased", ["account_id", "purchased_at"], unique=False)
        batch_op.create_index("ix_core_purchase_contact_purchased", ["contact_id", "purchased_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_core_purchase_purchased_at"), ["purchased_at"], unique=False)


def downgrade() -> None:
    op.drop_table("core_purchase")
