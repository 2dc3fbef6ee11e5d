"""records of personal data received from third parties (法第30条)

Revision ID: privacy_0010_receipts
Revises: privacy_0009_incident_reminders
Create Date: 2026-12-06 12:10:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import enishi.plugin

revision = "privacy_0010_receipts"
down_revision = "privacy_0009_incident_reminders"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "privacy_receipt",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=200), nullable=False),
        sa.Column("provider_address", sa.String(length=500), nullable=False),
        sa.Column("provider_representative", sa.String(length=200), nullable=True),
        sa.Column("acquisition", sa.String(length=1000), nullable=False),
        sa.Column("data_items", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.Column("basis", sa.String(length=30), nullable=False),
        sa.Column("exempt", sa.Boolean(), nullable=False),
        sa.Column("record_method", sa.String(length=20), nullable=False),
        sa.Column("received_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_on", sa.Date(), nullable=False),
        sa.Column("keep_until", sa.Date(), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["core_contact.id"], name=op.f("fk_privacy_receipt_contact_id_core_contact"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_privacy_receipt")),
    )
    with op.batch_alter_table("privacy_receipt", schema=None) as batch_op:
        batch_op.create_index("ix_privacy_receipt_contact", ["contact_id", "seq"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("privacy_receipt", schema=None) as batch_op:
        batch_op.drop_index("ix_privacy_receipt_contact")
    op.drop_table("privacy_receipt")
