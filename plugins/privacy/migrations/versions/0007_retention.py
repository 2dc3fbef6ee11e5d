"""retention: rules per entity, sweep runs with their counts per rule, the records each changed

Revision ID: privacy_0007_retention
Revises: privacy_0006
Create Date: 2026-12-06 08:40:00
"""

import sqlalchemy as sa
from alembic import op

import enishi.plugin

revision = "privacy_0007_retention"
down_revision = "privacy_0006"
branch_labels = None
depends_on = None


def _instant(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, enishi.plugin.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "privacy_retention_rule",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("entity", sa.String(length=60), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("period_months", sa.Integer(), nullable=False),
        sa.Column("basis", sa.String(length=300), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        _instant("created_at"),
        _instant("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_retention_rule")),
        sa.UniqueConstraint("entity", name=op.f("uq_privacy_retention_rule_entity")),
    )
    op.create_table(
        "privacy_retention_run",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        _instant("started_at"),
        _instant("finished_at", True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_retention_run")),
    )
    with op.batch_alter_table("privacy_retention_run", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_privacy_retention_run_started_at"), ["started_at"], unique=False)
    op.create_table(
        "privacy_retention_count",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("rule_id", sa.Uuid(), nullable=False),
        sa.Column("entity", sa.String(length=60), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("period_months", sa.Integer(), nullable=False),
        _instant("cutoff"),
        sa.Column("applied", sa.Integer(), nullable=False),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.Column("open_request", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["privacy_retention_run.id"],
            name=op.f("fk_privacy_retention_count_run_id_privacy_retention_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "rule_id", name=op.f("pk_privacy_retention_count")),
    )
    op.create_table(
        "privacy_retention_item",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("rule_id", sa.Uuid(), nullable=False),
        sa.Column("entity", sa.String(length=60), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=True),
        _instant("at"),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["privacy_retention_run.id"],
            name=op.f("fk_privacy_retention_item_run_id_privacy_retention_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_retention_item")),
        sa.UniqueConstraint("entity", "record_id", "action", name=op.f("uq_privacy_retention_item_entity_record_id_action")),
    )
    with op.batch_alter_table("privacy_retention_item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_privacy_retention_item_run_id"), ["run_id"], unique=False)


def downgrade() -> None:
    op.drop_table("privacy_retention_item")
    op.drop_table("privacy_retention_count")
    with op.batch_alter_table("privacy_retention_run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_privacy_retention_run_started_at"))
    op.drop_table("privacy_retention_run")
    op.drop_table("privacy_retention_rule")
