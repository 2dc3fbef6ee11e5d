"""automation webhooks: deliveries ordered per subject, personal data granted to a subscription

Revision ID: automation_0003
Revises: automation_0002
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "automation_0003"
down_revision = "automation_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("automation_webhook", schema=None) as batch_op:
        batch_op.add_column(sa.Column("personal_data_purpose", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("personal_data_recipient", sa.String(length=200), nullable=True))
    with op.batch_alter_table("automation_delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subject", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("position", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("contact_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("sealed_personal", sa.LargeBinary(), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_automation_delivery_webhook_id_subject_position"), ["webhook_id", "subject", "position"]
        )
        batch_op.create_index(batch_op.f("ix_automation_delivery_contact_id"), ["contact_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("automation_delivery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_automation_delivery_contact_id"))
        batch_op.drop_constraint(batch_op.f("uq_automation_delivery_webhook_id_subject_position"), type_="unique")
        batch_op.drop_column("sealed_personal")
        batch_op.drop_column("contact_id")
        batch_op.drop_column("position")
        batch_op.drop_column("subject")
    with op.batch_alter_table("automation_webhook", schema=None) as batch_op:
        batch_op.drop_column("personal_data_recipient")
        batch_op.drop_column("personal_data_purpose")
