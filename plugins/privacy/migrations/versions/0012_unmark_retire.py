"""the history of fields marked sensitive and unmarked (with the reason), and recipients retired

Revision ID: privacy_0012_unmark_retire
Revises: privacy_0011_extract_provisions
Create Date: 2026-12-06 12:30:00
"""

import sqlalchemy as sa
from alembic import op

import enishi.plugin

revision = "privacy_0012_unmark_retire"
down_revision = "privacy_0011_extract_provisions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "privacy_sensitive_field_change",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("entity", sa.String(length=30), nullable=False),
        sa.Column("field", sa.String(length=120), nullable=False),
        sa.Column("change", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("holders", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_privacy_sensitive_field_change")),
    )
    with op.batch_alter_table("privacy_recipient", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retired_at", enishi.plugin.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("privacy_recipient", schema=None) as batch_op:
        batch_op.drop_column("retired_at")
    op.drop_table("privacy_sensitive_field_change")
