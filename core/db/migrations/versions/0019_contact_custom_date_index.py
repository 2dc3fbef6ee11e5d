"""core: the month-day blind index of contacts' date custom fields (yearly date triggers)

Existing contacts get their rows from `enishi db reindex-dates`, which opens each contact's sealed
custom fields once (a migration runs without the key ring).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 18:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "core_contact_custom_date_index",
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("field", sa.String(length=60), nullable=False),
        sa.Column("md_index", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["core_contact.id"],
            name=op.f("fk_core_contact_custom_date_index_contact_id_core_contact"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("contact_id", "field", name=op.f("pk_core_contact_custom_date_index")),
    )
    with op.batch_alter_table("core_contact_custom_date_index", schema=None) as batch_op:
        batch_op.create_index("ix_core_contact_custom_date_index_field_md", ["field", "md_index"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("core_contact_custom_date_index", schema=None) as batch_op:
        batch_op.drop_index("ix_core_contact_custom_date_index_field_md")
    op.drop_table("core_contact_custom_date_index")
