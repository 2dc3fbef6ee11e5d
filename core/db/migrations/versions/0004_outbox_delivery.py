"""outbox delivery lease; index on merged_into_id

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 06:05:00
"""

import sqlalchemy as sa
from alembic import op

import enishi.db

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("core_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_until", enishi.db.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("core_contact", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_core_contact_merged_into_id"), ["merged_into_id"], unique=False)
    with op.batch_alter_table("core_account", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_core_account_merged_into_id"), ["merged_into_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("core_account", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_core_account_merged_into_id"))
    with op.batch_alter_table("core_contact", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_core_contact_merged_into_id"))
    with op.batch_alter_table("core_outbox", schema=None) as batch_op:
        batch_op.drop_column("lease_until")
