"""contacts' postal code and address (sealed); what an import did with each row; its file, sealed in pieces

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 05:30:00

New sealed columns start empty: nothing to seal for existing contacts. Existing imports get empty
options and zero update/merge counts.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import enishi.db

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("core_contact", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sealed_postal_code", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("sealed_address", sa.LargeBinary(), nullable=True))

    with op.batch_alter_table("core_import", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "options",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=False,
                server_default="{}",
            )
        )
        batch_op.add_column(sa.Column("updated_count", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("merged_count", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("core_import", schema=None) as batch_op:
        batch_op.alter_column("options", server_default=None)
        batch_op.alter_column("updated_count", server_default=None)
        batch_op.alter_column("merged_count", server_default=None)

    op.create_table(
        "core_import_key",
        sa.Column("import_id", sa.Uuid(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("kek_id", sa.String(length=16), nullable=True),
        sa.Column("created_at", enishi.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("destroyed_at", enishi.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["import_id"], ["core_import.id"], name=op.f("fk_core_import_key_import_id_core_import"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("import_id", name=op.f("pk_core_import_key")),
    )
    op.create_table(
        "core_import_row",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("import_id", sa.Uuid(), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=True),
        sa.Column("merged_into_row", sa.Integer(), nullable=True),
        sa.Column("problems", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.Column("note_key", sa.String(length=64), nullable=True),
        sa.Column("sealed_cells", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["core_contact.id"], name=op.f("fk_core_import_row_contact_id_core_contact"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["import_id"], ["core_import.id"], name=op.f("fk_core_import_row_import_id_core_import"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_import_row")),
        sa.UniqueConstraint("import_id", "row_number", name=op.f("uq_core_import_row_import_id_row_number")),
    )
    with op.batch_alter_table("core_import_row", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_core_import_row_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_core_import_row_import_id"), ["import_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_core_import_row_note_key"), ["note_key"], unique=False)

    op.create_table(
        "core_import_chunk",
        sa.Column("import_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("sealed_data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"], ["core_import.id"], name=op.f("fk_core_import_chunk_import_id_core_import"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("import_id", "seq", name=op.f("pk_core_import_chunk")),
    )


def downgrade() -> None:
    op.drop_table("core_import_chunk")
    op.drop_table("core_import_row")
    op.drop_table("core_import_key")
    with op.batch_alter_table("core_import", schema=None) as batch_op:
        batch_op.drop_column("merged_count")
        batch_op.drop_column("updated_count")
        batch_op.drop_column("options")
    with op.batch_alter_table("core_contact", schema=None) as batch_op:
        batch_op.drop_column("sealed_address")
        batch_op.drop_column("sealed_postal_code")
