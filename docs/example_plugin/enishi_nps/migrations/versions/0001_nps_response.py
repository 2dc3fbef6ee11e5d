"""nps_response table

Revision ID: nps_0001
Revises:
Create Date: 2024-06-10
"""

import sqlalchemy as sa
from alembic import op

import enishi.plugin

revision = "nps_0001"
down_revision = None
branch_labels = ("nps",)
depends_on = "0001"  # the core revision that creates core_contact


def upgrade() -> None:
    op.create_table(
        "nps_response",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("answered_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["core_contact.id"], name=op.f("fk_nps_response_contact_id_core_contact"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nps_response")),
    )
    op.create_index(op.f("ix_nps_response_contact_id"), "nps_response", ["contact_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_nps_response_contact_id"), table_name="nps_response")
    op.drop_table("nps_response")
