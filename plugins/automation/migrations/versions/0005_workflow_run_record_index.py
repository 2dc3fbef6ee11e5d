"""automation: the runs about a record found by index (a data subject's erasure detaches them)

Revision ID: automation_0005
Revises: automation_0004
Create Date: 2026-12-07
"""

from alembic import op

revision = "automation_0005"
down_revision = "automation_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_automation_workflow_run_record", "automation_workflow_run", ["record_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_automation_workflow_run_record", table_name="automation_workflow_run")
