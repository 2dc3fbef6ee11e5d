"""privacy tables

Revision ID: privacy_0001
Revises:
Create Date: 2026-11-22 23:55:42.826421
"""

import sqlalchemy as sa
from alembic import op

import enishi.plugin

revision = "privacy_0001"
down_revision = None
branch_labels = ("privacy",)
depends_on = "0001"


def upgrade() -> None:
    op.create_table(
        "privacy_consent",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=60), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("notice_id", sa.String(length=100), nullable=True),
        sa.Column("notice_version", sa.String(length=40), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("method", sa.String(length=40), nullable=True),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("captured_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.Column("evidence", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["core_contact.id"], name=op.f("fk_privacy_consent_contact_id_core_contact"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_privacy_consent")),
    )
    with op.batch_alter_table("privacy_consent", schema=None) as batch_op:
        batch_op.create_index("ix_privacy_consent_subject_purpose", ["contact_id", "purpose", "seq"], unique=False)

    op.create_table(
        "privacy_subject_key",
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.Column("destroyed_at", enishi.plugin.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["core_contact.id"], name=op.f("fk_privacy_subject_key_contact_id_core_contact"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("contact_id", name=op.f("pk_privacy_subject_key")),
    )


def downgrade() -> None:
    op.drop_table("privacy_subject_key")
    with op.batch_alter_table("privacy_consent", schema=None) as batch_op:
        batch_op.drop_index("ix_privacy_consent_subject_purpose")

    op.drop_table("privacy_consent")
