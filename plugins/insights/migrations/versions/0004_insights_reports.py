"""insights: scheduled reports and the periods reported

Revision ID: insights_0004
Revises: insights_0003
Create Date: 2026-12-06 15:00:00
"""

import sqlalchemy as sa
from alembic import op

import enishi.plugin

revision = "insights_0004"
down_revision = "insights_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "insights_report",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("frequency", sa.String(length=10), nullable=False),
        sa.Column("customer", sa.String(length=10), nullable=False),
        sa.Column("recipient_user_id", sa.Uuid(), nullable=True),
        sa.Column("recipient_role", sa.String(length=30), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(recipient_user_id IS NULL) <> (recipient_role IS NULL)", name=op.f("ck_insights_report_one_recipient")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["core_user.id"], name=op.f("fk_insights_report_created_by_core_user"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["recipient_user_id"],
            ["core_user.id"],
            name=op.f("fk_insights_report_recipient_user_id_core_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insights_report")),
        sa.UniqueConstraint("name", name=op.f("uq_insights_report_name")),
    )
    op.create_table(
        "insights_report_run",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("report_id", sa.Uuid(), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("created_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["insights_report.id"],
            name=op.f("fk_insights_report_run_report_id_insights_report"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insights_report_run")),
        sa.UniqueConstraint("report_id", "first_day", name=op.f("uq_insights_report_run_report_id_first_day")),
    )


def downgrade() -> None:
    op.drop_table("insights_report_run")
    op.drop_table("insights_report")
