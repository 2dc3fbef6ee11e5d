"""automation: frequency caps, and the sends they count (the send_email step)

Revision ID: automation_0004
Revises: automation_0003
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

import enishi.plugin

revision = "automation_0004"
down_revision = "automation_0003"
branch_labels = None
depends_on = None

_INSTANT = enishi.plugin.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "automation_frequency_cap",
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("purpose", sa.String(length=60), nullable=False),
        sa.Column("max_sends", sa.Integer(), nullable=False),
        sa.Column("period_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", _INSTANT, nullable=False),
        sa.PrimaryKeyConstraint("channel", "purpose", name=op.f("pk_automation_frequency_cap")),
    )
    op.create_table(
        "automation_contact_send",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("purpose", sa.String(length=60), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("step_id", sa.String(length=40), nullable=False),
        sa.Column("sent_at", _INSTANT, nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["core_contact.id"],
            name=op.f("fk_automation_contact_send_contact_id_core_contact"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_contact_send")),
    )
    window = ["contact_id", "channel", "purpose", "sent_at"]
    op.create_index("ix_automation_contact_send_window", "automation_contact_send", window, unique=False)


def downgrade() -> None:
    op.drop_index("ix_automation_contact_send_window", table_name="automation_contact_send")
    op.drop_table("automation_contact_send")
    op.drop_table("automation_frequency_cap")
