"""the access log searched by staff member across people: an index on (user_id, seq)

Revision ID: privacy_0013_access_log_by_user
Revises: privacy_0012_unmark_retire
Create Date: 2026-12-06 15:10:00
"""

from alembic import op

revision = "privacy_0013_access_log_by_user"
down_revision = "privacy_0012_unmark_retire"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Not in batch mode: on SQLite that could copy the table, and lose the triggers keeping it append-only.
    op.create_index("ix_privacy_access_log_user_seq", "privacy_access_log", ["user_id", "seq"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_privacy_access_log_user_seq", table_name="privacy_access_log")
