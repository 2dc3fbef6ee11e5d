"""when each report of an incident was reminded of (one reminder per report)

Revision ID: privacy_0009_incident_reminders
Revises: privacy_0008_extracts
Create Date: 2026-12-06 12:00:00
"""

import sqlalchemy as sa
from alembic import op

import enishi.plugin

revision = "privacy_0009_incident_reminders"
down_revision = "privacy_0008_extracts"
branch_labels = None
depends_on = None

REPORTS = ("gdpr_authority", "appi_preliminary", "appi_final")


def upgrade() -> None:
    with op.batch_alter_table("privacy_incident", schema=None) as batch_op:
        for report in REPORTS:
            batch_op.add_column(sa.Column(f"{report}_reminded_at", enishi.plugin.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("privacy_incident", schema=None) as batch_op:
        for report in REPORTS:
            batch_op.drop_column(f"{report}_reminded_at")
