"""insights: customer health (churn risk, band history) and saved segments with members and history

Revision ID: insights_0003
Revises: insights_0002
Create Date: 2026-12-06 12:00:00
"""

import sqlalchemy as sa
from alembic import op

import enishi.plugin

revision = "insights_0003"
down_revision = "insights_0002"
branch_labels = None
depends_on = None


def _one_customer(table: str):
    return (
        sa.Column("contact_id", sa.Uuid(), nullable=True),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.CheckConstraint("(contact_id IS NULL) <> (account_id IS NULL)", name=op.f(f"ck_{table}_one_customer")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["core_account.id"], name=op.f(f"fk_{table}_account_id_core_account"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["core_contact.id"], name=op.f(f"fk_{table}_contact_id_core_contact"), ondelete="CASCADE"
        ),
    )


def upgrade() -> None:
    op.create_table(
        "insights_health",
        sa.Column("id", sa.Uuid(), nullable=False),
        *_one_customer("insights_health"),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("band", sa.String(length=10), nullable=False),
        sa.Column("reasons", enishi.plugin.JSONType, nullable=False),
        sa.Column("computed_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("score BETWEEN 0 AND 100", name=op.f("ck_insights_health_score_range")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insights_health")),
        sa.UniqueConstraint("account_id", name=op.f("uq_insights_health_account_id")),
        sa.UniqueConstraint("contact_id", name=op.f("uq_insights_health_contact_id")),
    )
    with op.batch_alter_table("insights_health", schema=None) as batch_op:
        batch_op.create_index("ix_insights_health_score", ["score", "id"], unique=False)
    op.create_table(
        "insights_health_count",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("customer", sa.String(length=10), nullable=False),
        sa.Column("band", sa.String(length=10), nullable=False),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insights_health_count")),
        sa.UniqueConstraint("day", "customer", "band", name=op.f("uq_insights_health_count_day_customer_band")),
    )
    op.create_table(
        "insights_segment",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("customer", sa.String(length=10), nullable=False),
        sa.Column("definition", enishi.plugin.JSONType, nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.Column("evaluated_at", enishi.plugin.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"], ["core_user.id"], name=op.f("fk_insights_segment_created_by_core_user"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insights_segment")),
        sa.UniqueConstraint("name", name=op.f("uq_insights_segment_name")),
    )
    op.create_table(
        "insights_segment_member",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("segment_id", sa.Uuid(), nullable=False),
        *_one_customer("insights_segment_member"),
        sa.Column("since", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["segment_id"],
            ["insights_segment.id"],
            name=op.f("fk_insights_segment_member_segment_id_insights_segment"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insights_segment_member")),
        sa.UniqueConstraint("segment_id", "account_id", name=op.f("uq_insights_segment_member_segment_id_account_id")),
        sa.UniqueConstraint("segment_id", "contact_id", name=op.f("uq_insights_segment_member_segment_id_contact_id")),
    )
    with op.batch_alter_table("insights_segment_member", schema=None) as batch_op:
        batch_op.create_index("ix_insights_segment_member_account", ["account_id"], unique=False)
        batch_op.create_index("ix_insights_segment_member_contact", ["contact_id"], unique=False)
    op.create_table(
        "insights_segment_count",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("segment_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["segment_id"],
            ["insights_segment.id"],
            name=op.f("fk_insights_segment_count_segment_id_insights_segment"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insights_segment_count")),
        sa.UniqueConstraint("segment_id", "day", name=op.f("uq_insights_segment_count_segment_id_day")),
    )


def downgrade() -> None:
    op.drop_table("insights_segment_count")
    op.drop_table("insights_segment_member")
    op.drop_table("insights_segment")
    op.drop_table("insights_health_count")
    op.drop_table("insights_health")
