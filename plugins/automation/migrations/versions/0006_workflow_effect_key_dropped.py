"""automation: no separate idempotency key per step (the run's locked position is the key)

A step's effect, its log entry and the run's next position commit in one transaction under the
run's row lock, so a second worker finds the run moved on; the log's unique (run, seq) refuses a
second record of one attempt. The key table repeated that guarantee at two round trips a step.

Revision ID: automation_0006
Revises: automation_0005
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

import enishi.plugin

revision = "automation_0006"
down_revision = "automation_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("automation_workflow_effect")


def downgrade() -> None:
    op.create_table(
        "automation_workflow_effect",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("step_id", sa.String(length=40), nullable=False),
        sa.Column("applied_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["automation_workflow_run.id"],
            name=op.f("fk_automation_workflow_effect_run_id_automation_workflow_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "step_id", name=op.f("pk_automation_workflow_effect")),
    )
