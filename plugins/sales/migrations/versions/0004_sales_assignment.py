"""sales assignment by account team: a pipeline's owning team role, the account department of a deal and of a contract

Revision ID: sales_0004
Revises: sales_0003
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "sales_0004"
down_revision = "sales_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sales_pipeline", schema=None) as batch_op:
        batch_op.add_column(sa.Column("team_role", sa.String(length=30), server_default="account_executive", nullable=False))
    with op.batch_alter_table("sales_deal", schema=None) as batch_op:
        batch_op.add_column(sa.Column("department", sa.String(length=200), nullable=True))
    with op.batch_alter_table("sales_contract", schema=None) as batch_op:
        batch_op.add_column(sa.Column("department", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sales_contract", schema=None) as batch_op:
        batch_op.drop_column("department")
    with op.batch_alter_table("sales_deal", schema=None) as batch_op:
        batch_op.drop_column("department")
    with op.batch_alter_table("sales_pipeline", schema=None) as batch_op:
        batch_op.drop_column("team_role")
