"""automation tables: workflows, their versions, runs and step attempts, effect keys, event origins, record tags

Revision ID: automation_0002
Revises: automation_0001
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import enishi.plugin

revision = "automation_0002"
down_revision = "automation_0001"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_INSTANT = enishi.plugin.UTCDateTime(timezone=True)


def _user(table: str, column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], ["core_user.id"], name=op.f(f"fk_{table}_{column}_core_user"), ondelete="SET NULL")


def _parent(table: str, column: str, parent: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{parent}.id"], name=op.f(f"fk_{table}_{column}_{parent}"), ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "automation_workflow",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", _INSTANT, nullable=False),
        sa.Column("updated_at", _INSTANT, nullable=False),
        _user("automation_workflow", "created_by_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_workflow")),
    )
    op.create_table(
        "automation_workflow_version",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workflow_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("definition", _JSON, nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", _INSTANT, nullable=False),
        _parent("automation_workflow_version", "workflow_id", "automation_workflow"),
        _user("automation_workflow_version", "created_by_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_workflow_version")),
        sa.UniqueConstraint("workflow_id", "version", name=op.f("uq_automation_workflow_version_workflow_id_version")),
    )
    op.create_index(
        op.f("ix_automation_workflow_version_event_type"), "automation_workflow_version", ["event_type"], unique=False
    )
    op.create_table(
        "automation_workflow_run",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workflow_id", sa.Uuid(), nullable=False),
        sa.Column("version_id", sa.Uuid(), nullable=False),
        sa.Column("occurrence", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("entity", sa.String(length=100), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=True),
        sa.Column("payload", _JSON, nullable=False),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("step_id", sa.String(length=40), nullable=True),
        sa.Column("due_at", _INSTANT, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("taken", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.Column("created_at", _INSTANT, nullable=False),
        sa.Column("finished_at", _INSTANT, nullable=True),
        _parent("automation_workflow_run", "workflow_id", "automation_workflow"),
        _parent("automation_workflow_run", "version_id", "automation_workflow_version"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_workflow_run")),
        sa.UniqueConstraint("version_id", "occurrence", name=op.f("uq_automation_workflow_run_version_id_occurrence")),
    )
    op.create_index("ix_automation_workflow_run_due", "automation_workflow_run", ["status", "due_at"], unique=False)
    op.create_index(
        "ix_automation_workflow_run_workflow_created",
        "automation_workflow_run",
        ["workflow_id", "created_at", "id"],
        unique=False,
    )
    op.create_table(
        "automation_workflow_step",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=60), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("input", _JSON, nullable=False),
        sa.Column("output", _JSON, nullable=False),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.Column("started_at", _INSTANT, nullable=False),
        sa.Column("finished_at", _INSTANT, nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        _parent("automation_workflow_step", "run_id", "automation_workflow_run"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_workflow_step")),
        sa.UniqueConstraint("run_id", "seq", name=op.f("uq_automation_workflow_step_run_id_seq")),
    )
    op.create_index(op.f("ix_automation_workflow_step_run_id"), "automation_workflow_step", ["run_id"], unique=False)
    op.create_table(
        "automation_workflow_effect",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("step_id", sa.String(length=40), nullable=False),
        sa.Column("applied_at", _INSTANT, nullable=False),
        _parent("automation_workflow_effect", "run_id", "automation_workflow_run"),
        sa.PrimaryKeyConstraint("run_id", "step_id", name=op.f("pk_automation_workflow_effect")),
    )
    op.create_table(
        "automation_workflow_event_origin",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("depth", sa.Integer(), nullable=False),
        _parent("automation_workflow_event_origin", "run_id", "automation_workflow_run"),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_automation_workflow_event_origin")),
    )
    op.create_index(
        op.f("ix_automation_workflow_event_origin_run_id"), "automation_workflow_event_origin", ["run_id"], unique=False
    )
    op.create_table(
        "automation_record_tag",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("entity", sa.String(length=100), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("tag", sa.String(length=40), nullable=False),
        sa.Column("created_at", _INSTANT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_record_tag")),
        sa.UniqueConstraint("entity", "record_id", "tag", name=op.f("uq_automation_record_tag_entity_record_id_tag")),
    )


def downgrade() -> None:
    op.drop_table("automation_record_tag")
    op.drop_table("automation_workflow_event_origin")
    op.drop_table("automation_workflow_effect")
    op.drop_table("automation_workflow_step")
    op.drop_table("automation_workflow_run")
    op.drop_table("automation_workflow_version")
    op.drop_table("automation_workflow")
