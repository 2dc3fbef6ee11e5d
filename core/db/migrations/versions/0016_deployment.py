"""the configuration every process must share; scheduled jobs' leases

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 11:50:00

`enishi db upgrade` records a digest of the plugins, key fingerprints and settings; servers and
workers with another configuration refuse to start (core/deployment.py). A job's run is leased
to its worker, which renews it while the job runs (core/worker.py).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import enishi.db

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "core_deployment",
        sa.Column("slot", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("fingerprint", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.Column("recorded_at", enishi.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("slot = 1", name=op.f("ck_core_deployment_one_deployment")),
        sa.PrimaryKeyConstraint("slot", name=op.f("pk_core_deployment")),
    )
    with op.batch_alter_table("core_job_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_until", enishi.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("core_job_run", schema=None) as batch_op:
        batch_op.drop_column("lease_until")
    op.drop_table("core_deployment")
