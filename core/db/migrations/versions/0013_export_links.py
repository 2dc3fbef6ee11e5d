"""single-use export download links

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 05:40:00

The file of an export is generated when its link is used; the row keeps the link's hash and the
request, sealed under a key derived from the link.
"""

import sqlalchemy as sa
from alembic import op

import enishi.db

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "core_export_link",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("format", sa.String(length=10), nullable=False),
        sa.Column("encoding", sa.String(length=20), nullable=False),
        sa.Column("sealed_request", sa.LargeBinary(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", enishi.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", enishi.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", enishi.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('contacts', 'accounts', 'activities')", name=op.f("ck_core_export_link_kind")),
        sa.CheckConstraint("format IN ('csv', 'xlsx')", name=op.f("ck_core_export_link_format")),
        sa.ForeignKeyConstraint(
            ["created_by"], ["core_user.id"], name=op.f("fk_core_export_link_created_by_core_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_export_link")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_core_export_link_token_hash")),
    )
    with op.batch_alter_table("core_export_link", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_core_export_link_created_by"), ["created_by"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("core_export_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_core_export_link_created_by"))
    op.drop_table("core_export_link")
