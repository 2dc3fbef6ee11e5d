"""automation tables: webhook subscriptions and their keys, deliveries, the attempt log

Revision ID: automation_0001
Revises:
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import enishi.plugin

revision = "automation_0001"
down_revision = None
branch_labels = ("automation",)
depends_on = "0001"

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_INSTANT = enishi.plugin.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "automation_webhook",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("event_types", _JSON, nullable=False),
        sa.Column("filter", _JSON, nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(length=30), nullable=True),
        sa.Column("failing_since", _INSTANT, nullable=True),
        sa.Column("sealed_secret", sa.LargeBinary(), nullable=False),
        sa.Column("sealed_previous_secret", sa.LargeBinary(), nullable=True),
        sa.Column("previous_secret_expires_at", _INSTANT, nullable=True),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", _INSTANT, nullable=False),
        sa.Column("updated_at", _INSTANT, nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["core_user.id"], name=op.f("fk_automation_webhook_created_by_id_core_user"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_webhook")),
    )
    op.create_table(
        "automation_webhook_key",
        sa.Column("webhook_id", sa.Uuid(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("kek_id", sa.String(length=16), nullable=True),
        sa.Column("created_at", _INSTANT, nullable=False),
        sa.Column("destroyed_at", _INSTANT, nullable=True),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["automation_webhook.id"],
            name=op.f("fk_automation_webhook_key_webhook_id_automation_webhook"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("webhook_id", name=op.f("pk_automation_webhook_key")),
    )
    op.create_table(
        "automation_delivery",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("webhook_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("occurred_at", _INSTANT, nullable=False),
        sa.Column("payload", _JSON, nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _INSTANT, nullable=True),
        sa.Column("lease_until", _INSTANT, nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("created_at", _INSTANT, nullable=False),
        sa.Column("delivered_at", _INSTANT, nullable=True),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["automation_webhook.id"],
            name=op.f("fk_automation_delivery_webhook_id_automation_webhook"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_delivery")),
        sa.UniqueConstraint("webhook_id", "event_id", name=op.f("uq_automation_delivery_webhook_id_event_id")),
    )
    op.create_index("ix_automation_delivery_due", "automation_delivery", ["status", "next_attempt_at"], unique=False)
    op.create_index(
        "ix_automation_delivery_webhook_created", "automation_delivery", ["webhook_id", "created_at", "id"], unique=False
    )
    op.create_table(
        "automation_attempt",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("delivery_id", sa.Uuid(), nullable=False),
        sa.Column("attempted_at", _INSTANT, nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=30), nullable=True),
        sa.Column("response_snippet", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["automation_delivery.id"],
            name=op.f("fk_automation_attempt_delivery_id_automation_delivery"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_attempt")),
    )
    op.create_index("ix_automation_attempt_delivery", "automation_attempt", ["delivery_id", "attempted_at"], unique=False)


def downgrade() -> None:
    op.drop_table("automation_attempt")
    op.drop_table("automation_delivery")
    op.drop_table("automation_webhook_key")
    op.drop_table("automation_webhook")
