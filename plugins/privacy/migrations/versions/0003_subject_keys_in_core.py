"""subject keys belong to the core now (core migration 0005 copied them)

Revision ID: privacy_0003
Revises: privacy_0002
Create Date: 2026-11-23 10:00:00
"""

from alembic import op

revision = "privacy_0003"
down_revision = "privacy_0002"
branch_labels = None
depends_on = "0005"


def upgrade() -> None:
    op.drop_table("privacy_subject_key")


def downgrade() -> None:
    raise NotImplementedError("core migration 0005 is one way")
