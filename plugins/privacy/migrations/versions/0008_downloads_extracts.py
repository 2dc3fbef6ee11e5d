"""single-use download links for reports and extracts; pseudonymised and anonymised extracts with
their mapping keys and the provisions of anonymised ones

Revision ID: privacy_0008_extracts
Revises: privacy_0007_retention
Create Date: 2026-12-06 09:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import enishi.plugin

revision = "privacy_0008_extracts"
down_revision = "privacy_0007_retention"
branch_labels = None
depends_on = None


def _instant(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, enishi.plugin.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "privacy_download",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("format", sa.String(length=10), nullable=False),
        sa.Column("permission", sa.String(length=60), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        _instant("created_at"),
        _instant("expires_at"),
        _instant("used_at", True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_download")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_privacy_download_token_hash")),
    )
    op.create_table(
        "privacy_extract",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("columns", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.Column("k", sa.Integer(), nullable=True),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("suppressed", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=300), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        _instant("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_extract")),
    )
    op.create_table(
        "privacy_extract_key",
        sa.Column("extract_id", sa.Uuid(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("kek_id", sa.String(length=16), nullable=True),
        _instant("created_at"),
        _instant("destroyed_at", True),
        sa.ForeignKeyConstraint(
            ["extract_id"],
            ["privacy_extract.id"],
            name=op.f("fk_privacy_extract_key_extract_id_privacy_extract"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("extract_id", name=op.f("pk_privacy_extract_key")),
    )
    op.create_table(
        "privacy_extract_provision",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("extract_id", sa.Uuid(), nullable=False),
        sa.Column("recipient", sa.String(length=300), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        _instant("provided_at"),
        sa.ForeignKeyConstraint(
            ["extract_id"],
            ["privacy_extract.id"],
            name=op.f("fk_privacy_extract_provision_extract_id_privacy_extract"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_extract_provision")),
    )
    with op.batch_alter_table("privacy_extract_provision", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_privacy_extract_provision_extract_id"), ["extract_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("privacy_extract_provision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_privacy_extract_provision_extract_id"))
    op.drop_table("privacy_extract_provision")
    op.drop_table("privacy_extract_key")
    op.drop_table("privacy_extract")
    op.drop_table("privacy_download")
