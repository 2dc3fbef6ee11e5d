"""scheduled job runs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 22:42:03.751940
"""

import sqlalchemy as sa
from alembic import op

import enishi.db

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "core_job_run",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("started_at", enishi.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", enishi.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_core_job_run")),
    )


def downgrade() -> None:
    op.drop_table("core_job_run")
