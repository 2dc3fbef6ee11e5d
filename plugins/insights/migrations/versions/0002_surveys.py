"""insights: NPS, CSAT and CES surveys and their answers

Revision ID: insights_0002
Revises: insights_0001
Create Date: 2026-12-06 11:40:00
"""

import sqlalchemy as sa
from alembic import op

import enishi.plugin

revision = "insights_0002"
down_revision = "insights_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "insights_survey",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("question_ja", sa.Text(), nullable=False),
        sa.Column("question_en", sa.Text(), nullable=False),
        sa.Column("created_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('nps', 'csat', 'ces')", name=op.f("ck_insights_survey_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insights_survey")),
        sa.UniqueConstraint("name", name=op.f("uq_insights_survey_name")),
    )
    op.create_table(
        "insights_survey_answer",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("survey_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("source", sa.String(length=60), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("sent_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", enishi.plugin.UTCDateTime(timezone=True), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("answered_at", enishi.plugin.UTCDateTime(timezone=True), nullable=True),
        sa.Column("activity_id", sa.Uuid(), nullable=True),
        sa.CheckConstraint("kind IN ('nps', 'csat', 'ces')", name=op.f("ck_insights_survey_answer_kind")),
        sa.CheckConstraint("status IN ('sent', 'answered')", name=op.f("ck_insights_survey_answer_status")),
        sa.ForeignKeyConstraint(
            ["activity_id"],
            ["core_activity.id"],
            name=op.f("fk_insights_survey_answer_activity_id_core_activity"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["core_contact.id"],
            name=op.f("fk_insights_survey_answer_contact_id_core_contact"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["insights_survey.id"],
            name=op.f("fk_insights_survey_answer_survey_id_insights_survey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insights_survey_answer")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_insights_survey_answer_token_hash")),
    )
    with op.batch_alter_table("insights_survey_answer", schema=None) as batch_op:
        batch_op.create_index("ix_insights_survey_answer_kind_answered", ["kind", "answered_at"], unique=False)
        batch_op.create_index("ix_insights_survey_answer_contact_sent", ["contact_id", "sent_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_insights_survey_answer_survey_id"), ["survey_id"], unique=False)


def downgrade() -> None:
    op.drop_table("insights_survey_answer")
    op.drop_table("insights_survey")
