"""csv imports

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 04:07:04.854513
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import enishi.db

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "core_import",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("filename", sa.String(length=300), nullable=True),
        sa.Column("encoding", sa.String(length=20), nullable=False),
        sa.Column("source", sa.LargeBinary(), nullable=True),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("processed_rows", sa.Integer(), nullable=False),
        sa.Column("created_count", sa.Integer(), nullable=False),
        sa.Column("duplicate_count", sa.Integer(), nullable=False),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("errors", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", enishi.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", enishi.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lease_until", enishi.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('queued', 'running', 'completed', 'failed')", name=op.f("ck_core_import_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_import")),
    )
    with op.batch_alter_table("core_import", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_core_import_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("core_import", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_core_import_status"))

    op.drop_table("core_import")
