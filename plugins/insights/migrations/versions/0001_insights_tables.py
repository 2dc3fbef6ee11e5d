"""insights: RFM per contact and per account

Revision ID: insights_0001
Revises:
Create Date: 2026-12-06 09:10:00
"""

import sqlalchemy as sa
from alembic import op

import enishi.plugin

revision = "insights_0001"
down_revision = None
branch_labels = ("insights",)
depends_on = "0014"


def upgrade() -> None:
    op.create_table(
        "insights_rfm",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=True),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.Column("last_purchase_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.Column("frequency", sa.Integer(), nullable=False),
        sa.Column("monetary", sa.BigInteger(), nullable=False),
        sa.Column("recency_score", sa.Integer(), nullable=False),
        sa.Column("frequency_score", sa.Integer(), nullable=False),
        sa.Column("monetary_score", sa.Integer(), nullable=False),
        sa.Column("segment", sa.String(length=60), nullable=False),
        sa.Column("computed_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("(contact_id IS NULL) <> (account_id IS NULL)", name=op.f("ck_insights_rfm_one_customer")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["core_account.id"], name=op.f("fk_insights_rfm_account_id_core_account"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["core_contact.id"], name=op.f("fk_insights_rfm_contact_id_core_contact"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insights_rfm")),
        sa.UniqueConstraint("account_id", name=op.f("uq_insights_rfm_account_id")),
        sa.UniqueConstraint("contact_id", name=op.f("uq_insights_rfm_contact_id")),
    )
    with op.batch_alter_table("insights_rfm", schema=None) as batch_op:
        batch_op.create_index("ix_insights_rfm_segment", ["segment"], unique=False)


def downgrade() -> None:
    op.drop_table("insights_rfm")
