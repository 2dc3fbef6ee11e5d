"""token scopes and expiry

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-06 02:40:00

Both nullable: existing tokens keep every permission of their user's roles and never expire.
"""

import sqlalchemy as sa
from alembic import op

import enishi.db

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("core_api_token", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scopes", enishi.db.JSONType, nullable=True))
        batch_op.add_column(sa.Column("expires_at", enishi.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("core_api_token", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
        batch_op.drop_column("scopes")
