"""custom field definitions: typed custom fields of contacts and accounts

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 12:00:00
"""

import sqlalchemy as sa
from alembic import op

import enishi.db

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "core_custom_field_definition",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("entity", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=60), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("label_ja", sa.String(length=100), nullable=False),
        sa.Column("label_en", sa.String(length=100), nullable=True),
        sa.Column("options", enishi.db.JSONType, nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", enishi.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", enishi.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("entity IN ('contact', 'account')", name=op.f("ck_core_custom_field_definition_entity")),
        sa.CheckConstraint(
            "type IN ('text', 'number', 'integer', 'date', 'boolean', 'choice')",
            name=op.f("ck_core_custom_field_definition_type"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_custom_field_definition")),
        sa.UniqueConstraint("entity", "key", name=op.f("uq_core_custom_field_definition_entity_key")),
    )


def downgrade() -> None:
    op.drop_table("core_custom_field_definition")
