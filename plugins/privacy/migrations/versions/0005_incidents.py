"""breach incidents: the register, the people affected, the timeline

Revision ID: privacy_0005
Revises: privacy_0004
Create Date: 2026-12-06 06:10:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import enishi.plugin

revision = "privacy_0005"
down_revision = "privacy_0004"
branch_labels = None
depends_on = None


def _instant(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, enishi.plugin.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "privacy_incident",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("cause", sa.String(length=30), nullable=False),
        sa.Column("malicious", sa.Boolean(), nullable=False),
        _instant("discovered_at"),
        _instant("aware_at"),
        sa.Column(
            "data_categories", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("sensitive_data", sa.Boolean(), nullable=False),
        sa.Column("financial_harm_risk", sa.Boolean(), nullable=False),
        sa.Column("affected_count", sa.Integer(), nullable=False),
        sa.Column("encrypted", sa.Boolean(), nullable=False),
        sa.Column("keys_safe", sa.Boolean(), nullable=False),
        sa.Column("appi_report_required", sa.Boolean(), nullable=False),
        _instant("gdpr_authority_due_at"),
        _instant("appi_preliminary_due_at"),
        _instant("appi_final_due_at"),
        _instant("gdpr_authority_filed_at", True),
        _instant("appi_preliminary_filed_at", True),
        _instant("appi_final_filed_at", True),
        _instant("subjects_notified_at", True),
        sa.Column("notice_subject", sa.String(length=200), nullable=True),
        sa.Column("notice_body", sa.String(length=10000), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        _instant("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_incident")),
    )
    op.create_table(
        "privacy_incident_subject",
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        _instant("notified_at", True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["privacy_incident.id"],
            name=op.f("fk_privacy_incident_subject_incident_id_privacy_incident"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("incident_id", "contact_id", name=op.f("pk_privacy_incident_subject")),
    )
    with op.batch_alter_table("privacy_incident_subject", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_privacy_incident_subject_contact_id"), ["contact_id"], unique=False)
    op.create_table(
        "privacy_incident_event",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("detail", sa.String(length=60), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        _instant("at"),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["privacy_incident.id"],
            name=op.f("fk_privacy_incident_event_incident_id_privacy_incident"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_privacy_incident_event")),
    )
    with op.batch_alter_table("privacy_incident_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_privacy_incident_event_incident_id"), ["incident_id"], unique=False)


def downgrade() -> None:
    op.drop_table("privacy_incident_event")
    op.drop_table("privacy_incident_subject")
    op.drop_table("privacy_incident")
